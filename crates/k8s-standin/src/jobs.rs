//! A minimal batch/v1 Job controller: creates pods from the template (with the controller labels, owner
//! reference and, for `Indexed` jobs, the completion index), counts their outcomes, and writes the Job status
//! and conditions (`SuccessCriteriaMet`/`Complete`, `FailureTarget`/`Failed`) under `completions`,
//! `parallelism`, `backoffLimit`, `backoffLimitPerIndex`, `activeDeadlineSeconds`, `suspend` and
//! `ttlSecondsAfterFinished`. Deciding is a pure function (`plan`); the loop applies plans through `cluster`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::cluster::{Cluster, DeleteOptions, EventSpec, Propagation, uid_of};
use crate::defaults::{COMPLETION_INDEX_KEY, CONTROLLER_UID_LABEL};
use crate::resource::Resource;
use crate::time;

/// Runs the controller until shutdown: reconciles every Job after each pod or Job change and on every tick
/// (deadlines and TTLs are time-driven).
pub(crate) async fn run(cluster: Cluster) {
    let mut changes = cluster.store().subscribe();
    let shutdown = cluster.shutdown_token().clone();
    let tick = cluster.options().controller_tick;
    loop {
        reconcile_all(&cluster);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
            change = changes.recv() => match change {
                Ok(change) if change.resource == Resource::Events || change.resource == Resource::EventsV1 => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}

fn reconcile_all(cluster: &Cluster) {
    let jobs: Vec<Value> = cluster
        .store()
        .list(Resource::Jobs, None)
        .map(|(_, job)| job.clone())
        .collect();
    for job in jobs {
        if job.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let namespace = job
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let uid = uid_of(&job);
        let pods: Vec<Value> = cluster
            .store()
            .list(Resource::Pods, Some(&namespace))
            .filter(|(_, pod)| controlled_by(pod, &uid))
            .map(|(_, pod)| pod.clone())
            .collect();
        apply(cluster, &job, plan(&job, &pods, Utc::now()));
    }
}

fn controlled_by(pod: &Value, uid: &str) -> bool {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners.iter().any(|o| {
                o.get("uid").and_then(Value::as_str) == Some(uid)
                    && o.get("controller").and_then(Value::as_bool) == Some(true)
            })
        })
}

/// What the controller wants done for one Job.
#[derive(Debug, Default, PartialEq)]
struct Plan {
    /// Pods to create: `Some(index)` for Indexed jobs.
    create: Vec<Option<i64>>,
    /// Names of pods to delete.
    delete: Vec<String>,
    /// The Job status to write (`None`: unchanged).
    status: Option<Value>,
    /// `(type, reason, message)` of events to record about the Job.
    events: Vec<(&'static str, &'static str, String)>,
    /// The TTL after finishing has passed.
    delete_job: bool,
}

fn plan(job: &Value, pods: &[Value], now: DateTime<Utc>) -> Plan {
    let spec = job.get("spec").cloned().unwrap_or_else(|| json!({}));
    let mut status = job
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut plan = Plan::default();
    let int = |field: &str| spec.get(field).and_then(Value::as_i64);

    if let Some(finished_at) = finished_at(&status) {
        if let Some(ttl) = int("ttlSecondsAfterFinished")
            && now >= finished_at + chrono::Duration::seconds(ttl)
        {
            plan.delete_job = true;
        }
        return plan;
    }

    let view = PodView::new(pods);
    if spec.get("suspend").and_then(Value::as_bool) == Some(true) {
        plan.delete = view.active.iter().map(|p| p.name.clone()).collect();
        if !condition_true(&status, "Suspended") {
            add_condition(
                &mut status,
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            );
            plan.events
                .push(("Normal", "Suspended", "Job suspended".to_owned()));
        }
        write_counts(&mut status, &view, None);
        plan.status = Some(status);
        return plan;
    }
    if condition_true(&status, "Suspended") {
        add_condition(
            &mut status,
            "Suspended",
            "False",
            "JobResumed",
            "Job resumed",
            now,
        );
        plan.events.push(("Normal", "Resumed", "Job resumed".to_owned()));
    }
    let start = match status
        .get("startTime")
        .and_then(Value::as_str)
        .and_then(time::parse)
    {
        Some(start) => start,
        None => {
            status["startTime"] = json!(time::seconds(now));
            now
        }
    };

    let indexed = spec.get("completionMode").and_then(Value::as_str) == Some("Indexed");
    let completions = int("completions");
    let parallelism = int("parallelism").unwrap_or(1).max(0);
    let backoff_limit = int("backoffLimit").unwrap_or(6);
    let per_index_limit = int("backoffLimitPerIndex").filter(|_| indexed);

    // A recorded target is final: the Job only waits for its pods to stop.
    let mut verdict: Option<Verdict> =
        if let Some((reason, message)) = existing_target(&status, "FailureTarget") {
            Some(Verdict::Fail(reason, message))
        } else if condition_true(&status, "SuccessCriteriaMet") {
            Some(Verdict::Succeed)
        } else {
            None
        };
    if verdict.is_none()
        && let Some(deadline) = int("activeDeadlineSeconds")
        && now >= start + chrono::Duration::seconds(deadline)
    {
        verdict = Some(Verdict::Fail(
            "DeadlineExceeded",
            "Job was active longer than specified deadline".into(),
        ));
    }
    let failed = i64::try_from(view.failed.len()).unwrap_or(i64::MAX);
    let mut failed_indexes = BTreeSet::new();
    let succeeded_count;
    if indexed {
        let count = completions.unwrap_or(0).max(0);
        let succeeded: BTreeSet<i64> = view
            .succeeded
            .iter()
            .filter_map(|p| p.index)
            .filter(|i| (0..count).contains(i))
            .collect();
        if let Some(limit) = per_index_limit {
            let mut failures: BTreeMap<i64, i64> = BTreeMap::new();
            for index in view.failed.iter().filter_map(|p| p.index) {
                *failures.entry(index).or_default() += 1;
            }
            failed_indexes = failures
                .into_iter()
                .filter(|(i, n)| *n > limit && !succeeded.contains(i))
                .map(|(i, _)| i)
                .collect();
        }
        succeeded_count = i64::try_from(succeeded.len()).unwrap_or(i64::MAX);
        let active_indexes: BTreeSet<i64> = view.active.iter().filter_map(|p| p.index).collect();
        if verdict.is_none() {
            let settled = i64::try_from(succeeded.len() + failed_indexes.len()).unwrap_or(i64::MAX);
            if failed > backoff_limit {
                verdict = Some(Verdict::Fail(
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit".into(),
                ));
            } else if settled >= count && !failed_indexes.is_empty() {
                if active_indexes.is_empty() {
                    verdict = Some(Verdict::Fail("FailedIndexes", "Job has failed indexes".into()));
                }
            } else if succeeded_count >= count {
                verdict = Some(Verdict::Succeed);
            }
        }
        if verdict.is_none() {
            let room = usize::try_from(parallelism)
                .unwrap_or(0)
                .saturating_sub(view.active.len());
            plan.create = (0..count)
                .filter(|i| {
                    !succeeded.contains(i) && !failed_indexes.contains(i) && !active_indexes.contains(i)
                })
                .take(room)
                .map(Some)
                .collect();
        }
        status["completedIndexes"] = json!(ranges(&succeeded));
        if per_index_limit.is_some() {
            status["failedIndexes"] = json!(ranges(&failed_indexes));
        }
    } else {
        succeeded_count = i64::try_from(view.succeeded.len()).unwrap_or(i64::MAX);
        if verdict.is_none() {
            let done = match completions {
                Some(count) => succeeded_count >= count,
                // Work-queue mode: done when one pod succeeded and the rest have finished.
                None => succeeded_count > 0 && view.active.is_empty(),
            };
            if failed > backoff_limit {
                verdict = Some(Verdict::Fail(
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit".into(),
                ));
            } else if done {
                verdict = Some(Verdict::Succeed);
            }
        }
        if verdict.is_none() {
            let wanted = match completions {
                Some(count) => parallelism.min(count - succeeded_count),
                None if succeeded_count > 0 => 0,
                None => parallelism,
            };
            let missing = usize::try_from(wanted)
                .unwrap_or(0)
                .saturating_sub(view.active.len());
            plan.create = vec![None; missing];
        }
    }

    let idle = view.active.is_empty() && view.terminating == 0;
    match verdict {
        Some(Verdict::Fail(reason, message)) => {
            if !condition_true(&status, "FailureTarget") {
                add_condition(&mut status, "FailureTarget", "True", reason, &message, now);
            }
            plan.delete = view.active.iter().map(|p| p.name.clone()).collect();
            if idle {
                add_condition(&mut status, "Failed", "True", reason, &message, now);
                let mut text = message.clone();
                if !failed_indexes.is_empty() {
                    text = format!("{text}: {}", ranges(&failed_indexes));
                }
                plan.events.push(("Warning", static_reason(reason), text));
            }
        }
        Some(Verdict::Succeed) => {
            let message = "Reached expected number of succeeded pods";
            if !condition_true(&status, "SuccessCriteriaMet") {
                add_condition(
                    &mut status,
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    message,
                    now,
                );
            }
            plan.delete = view.active.iter().map(|p| p.name.clone()).collect();
            if idle {
                add_condition(
                    &mut status,
                    "Complete",
                    "True",
                    "CompletionsReached",
                    message,
                    now,
                );
                status["completionTime"] = json!(time::seconds(now));
                plan.events
                    .push(("Normal", "Completed", "Job completed".to_owned()));
            }
        }
        None => {}
    }
    write_counts(&mut status, &view, Some(succeeded_count));
    if Some(&status) != job.get("status") {
        plan.status = Some(status);
    }
    plan
}

enum Verdict {
    Succeed,
    Fail(&'static str, String),
}

/// Reason and message of an already recorded `FailureTarget`, so the final `Failed` repeats them.
fn existing_target(status: &Value, kind: &str) -> Option<(&'static str, String)> {
    let condition = conditions(status)
        .into_iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))?;
    let reason = static_reason(
        condition
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    let message = condition
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((reason, message))
}

fn static_reason(reason: &str) -> &'static str {
    match reason {
        "DeadlineExceeded" => "DeadlineExceeded",
        "FailedIndexes" => "FailedIndexes",
        "BackoffLimitExceeded" => "BackoffLimitExceeded",
        _ => "Failed",
    }
}

/// The Job's pods, sorted by what they count as.
struct PodView {
    active: Vec<PodSummary>,
    succeeded: Vec<PodSummary>,
    failed: Vec<PodSummary>,
    terminating: usize,
    ready: usize,
}

struct PodSummary {
    name: String,
    index: Option<i64>,
}

impl PodView {
    fn new(pods: &[Value]) -> Self {
        let mut view = PodView {
            active: vec![],
            succeeded: vec![],
            failed: vec![],
            terminating: 0,
            ready: 0,
        };
        for pod in pods {
            let summary = PodSummary {
                name: pod
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                index: pod
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(COMPLETION_INDEX_KEY))
                    .and_then(Value::as_str)
                    .and_then(|i| i.parse().ok()),
            };
            match pod.pointer("/status/phase").and_then(Value::as_str) {
                Some("Succeeded") => view.succeeded.push(summary),
                Some("Failed") => view.failed.push(summary),
                _ if pod.pointer("/metadata/deletionTimestamp").is_some() => view.terminating += 1,
                _ => {
                    if conditions(&pod["status"])
                        .iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    {
                        view.ready += 1;
                    }
                    view.active.push(summary);
                }
            }
        }
        view
    }
}

fn write_counts(status: &mut Value, view: &PodView, succeeded: Option<i64>) {
    status["active"] = json!(view.active.len());
    status["ready"] = json!(view.ready);
    status["terminating"] = json!(view.terminating);
    status["failed"] = json!(view.failed.len());
    status["succeeded"] = json!(succeeded.unwrap_or(i64::try_from(view.succeeded.len()).unwrap_or(i64::MAX)));
    status["uncountedTerminatedPods"] = json!({});
}

fn conditions(status: &Value) -> Vec<&Value> {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default()
}

fn condition_true(status: &Value, kind: &str) -> bool {
    conditions(status)
        .iter()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

fn add_condition(
    status: &mut Value,
    kind: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: DateTime<Utc>,
) {
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    let condition = json!({
        "type": kind,
        "status": value,
        "lastProbeTime": time::seconds(now),
        "lastTransitionTime": time::seconds(now),
        "reason": reason,
        "message": message,
    });
    let list = status["conditions"]
        .as_array_mut()
        .expect("conditions was just made an array");
    match list.iter().position(|c| c["type"] == kind) {
        Some(index) => list[index] = condition,
        None => list.push(condition),
    }
}

/// When the Job reached `Complete` or `Failed`.
fn finished_at(status: &Value) -> Option<DateTime<Utc>> {
    conditions(status)
        .into_iter()
        .find(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
        .and_then(|c| {
            c.get("lastTransitionTime")
                .and_then(Value::as_str)
                .and_then(time::parse)
                .or(Some(Utc::now()))
        })
}

/// `0,2-4,7`: the API's interval notation for index sets.
fn ranges(indexes: &BTreeSet<i64>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

fn apply(cluster: &Cluster, job: &Value, plan: Plan) {
    let namespace = job
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let name = job
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let uid = uid_of(job);
    if plan.delete_job {
        let options = DeleteOptions {
            propagation: Some(Propagation::Background),
            precondition_uid: Some(uid),
            ..DeleteOptions::default()
        };
        if let Err(error) = cluster.delete(Resource::Jobs, &namespace, &name, &options) {
            tracing::debug!(job = %name, code = error.code, "TTL deletion skipped");
        }
        return;
    }
    let event = |kind: &str, reason: &str, message: String| {
        cluster.record_event(
            job,
            EventSpec {
                kind,
                reason,
                message,
                field_path: None,
                component: "job-controller",
            },
        );
    };
    for index in &plan.create {
        match cluster.create(Resource::Pods, &namespace, pod_from_template(job, *index)) {
            Ok(pod) => {
                let pod_name = pod
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                event("Normal", "SuccessfulCreate", format!("Created pod: {pod_name}"));
            }
            Err(error) => event(
                "Warning",
                "FailedCreate",
                format!("Error creating: {}", error.message),
            ),
        }
    }
    for pod_name in &plan.delete {
        if cluster
            .delete(Resource::Pods, &namespace, pod_name, &DeleteOptions::default())
            .is_ok()
        {
            event("Normal", "SuccessfulDelete", format!("Deleted pod: {pod_name}"));
        }
    }
    if let Some(status) = plan.status {
        let written = cluster.mutate(Resource::Jobs, &namespace, &name, &uid, |job| {
            job["status"] = status
        });
        if written.is_some() {
            for (kind, reason, message) in plan.events {
                event(kind, reason, message);
            }
        }
    }
}

/// A pod for the Job, as the real controller builds it from the template.
fn pod_from_template(job: &Value, index: Option<i64>) -> Value {
    let job_name = job
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let template = job
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut metadata = template
        .get("metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    metadata["generateName"] = match index {
        Some(index) => json!(format!("{job_name}-{index}-")),
        None => json!(format!("{job_name}-")),
    };
    if let Some(map) = metadata.as_object_mut() {
        map.remove("name");
        map.remove("namespace");
    }
    metadata["ownerReferences"] = json!([{
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": job_name,
        "uid": uid_of(job),
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    if !metadata.get("labels").is_some_and(Value::is_object) {
        metadata["labels"] = json!({});
    }
    metadata["labels"][CONTROLLER_UID_LABEL] = json!(uid_of(job));
    if let Some(index) = index {
        metadata["labels"][COMPLETION_INDEX_KEY] = json!(index.to_string());
        if !metadata.get("annotations").is_some_and(Value::is_object) {
            metadata["annotations"] = json!({});
        }
        metadata["annotations"][COMPLETION_INDEX_KEY] = json!(index.to_string());
        spec["hostname"] = json!(format!("{job_name}-{index}"));
        let index_env = json!({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": format!("metadata.annotations['{COMPLETION_INDEX_KEY}']")}}});
        for list in ["initContainers", "containers"] {
            if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for container in containers {
                    if !container.get("env").is_some_and(Value::is_array) {
                        container["env"] = json!([]);
                    }
                    if let Some(env) = container["env"].as_array_mut()
                        && !env.iter().any(|e| e["name"] == "JOB_COMPLETION_INDEX")
                    {
                        env.push(index_env.clone());
                    }
                }
            }
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ranges() {
        let check = |indexes: &[i64], expected: &str| {
            assert_eq!(
                ranges(&indexes.iter().copied().collect()),
                expected,
                "{indexes:?}"
            );
        };
        check(&[], "");
        check(&[3], "3");
        check(&[0, 1, 2], "0-2");
        check(&[0, 2, 3, 4, 7], "0,2-4,7");
    }

    fn job(spec: Value) -> Value {
        json!({"metadata": {"name": "j", "namespace": "ns", "uid": "job-uid"}, "spec": spec, "status": {}})
    }

    fn pod(name: &str, phase: &str, index: Option<i64>) -> Value {
        let mut pod = json!({"metadata": {"name": name}, "status": {"phase": phase}});
        if let Some(index) = index {
            pod["metadata"]["annotations"] = json!({COMPLETION_INDEX_KEY: index.to_string()});
        }
        pod
    }

    fn condition_types(plan: &Plan) -> Vec<String> {
        plan.status
            .as_ref()
            .map(|s| {
                conditions(s)
                    .iter()
                    .map(|c| {
                        format!(
                            "{}={}",
                            c["type"].as_str().unwrap(),
                            c["reason"].as_str().unwrap()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn non_indexed_jobs_create_succeed_and_fail() {
        let now = Utc::now();
        let spec = json!({"completions": 2, "parallelism": 1, "backoffLimit": 1});
        let fresh = plan(&job(spec.clone()), &[], now);
        assert_eq!(fresh.create, vec![None]);
        assert!(fresh.status.as_ref().unwrap().get("startTime").is_some());

        let half = plan(&job(spec.clone()), &[pod("a", "Succeeded", None)], now);
        assert_eq!(half.create, vec![None]);
        assert_eq!(half.status.as_ref().unwrap()["succeeded"], 1);

        let done = plan(
            &job(spec.clone()),
            &[pod("a", "Succeeded", None), pod("b", "Succeeded", None)],
            now,
        );
        assert!(done.create.is_empty());
        assert_eq!(
            condition_types(&done),
            vec![
                "SuccessCriteriaMet=CompletionsReached",
                "Complete=CompletionsReached"
            ]
        );
        assert!(done.status.as_ref().unwrap().get("completionTime").is_some());

        let failing = plan(
            &job(spec),
            &[
                pod("a", "Failed", None),
                pod("b", "Failed", None),
                pod("c", "Running", None),
            ],
            now,
        );
        assert_eq!(failing.delete, vec!["c"]);
        assert_eq!(
            condition_types(&failing),
            vec!["FailureTarget=BackoffLimitExceeded"]
        );
    }

    #[test]
    fn indexed_jobs_track_failed_indexes() {
        let now = Utc::now();
        let spec = json!({"completionMode": "Indexed", "completions": 4, "parallelism": 2, "backoffLimitPerIndex": 0, "backoffLimit": 100});
        let fresh = plan(&job(spec.clone()), &[], now);
        assert_eq!(fresh.create, vec![Some(0), Some(1)]);
        let pods = [
            pod("a", "Succeeded", Some(0)),
            pod("b", "Failed", Some(1)),
            pod("c", "Running", Some(2)),
        ];
        let middle = plan(&job(spec.clone()), &pods, now);
        assert_eq!(middle.create, vec![Some(3)]);
        assert_eq!(middle.status.as_ref().unwrap()["failedIndexes"], "1");
        assert_eq!(middle.status.as_ref().unwrap()["completedIndexes"], "0");
        let pods = [
            pod("a", "Succeeded", Some(0)),
            pod("b", "Failed", Some(1)),
            pod("c", "Succeeded", Some(2)),
            pod("d", "Succeeded", Some(3)),
        ];
        let end = plan(&job(spec), &pods, now);
        assert_eq!(
            condition_types(&end),
            vec!["FailureTarget=FailedIndexes", "Failed=FailedIndexes"]
        );
        assert_eq!(end.events[0].2, "Job has failed indexes: 1");
    }

    #[test]
    fn deadlines_ttl_and_suspend() {
        let now = Utc::now();
        let mut late = job(json!({"completions": 1, "parallelism": 1, "activeDeadlineSeconds": 5}));
        late["status"]["startTime"] = json!(time::seconds(now - chrono::Duration::seconds(10)));
        let failing = plan(&late, &[pod("a", "Running", None)], now);
        assert_eq!(failing.delete, vec!["a"]);
        assert_eq!(condition_types(&failing), vec!["FailureTarget=DeadlineExceeded"]);

        let mut finished = job(json!({"ttlSecondsAfterFinished": 0}));
        add_condition(
            &mut finished["status"],
            "Complete",
            "True",
            "CompletionsReached",
            "",
            now,
        );
        assert!(plan(&finished, &[], now).delete_job);

        let suspended = plan(
            &job(json!({"suspend": true, "completions": 1})),
            &[pod("a", "Running", None)],
            now,
        );
        assert_eq!(suspended.delete, vec!["a"]);
        assert!(suspended.create.is_empty());
        assert_eq!(condition_types(&suspended), vec!["Suspended=JobSuspended"]);
    }

    #[test]
    fn template_pods_carry_controller_metadata() {
        let job = json!({"metadata": {"name": "j", "uid": "u"}, "spec": {"template": {
            "metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let pod = pod_from_template(&job, Some(3));
        assert_eq!(pod["metadata"]["generateName"], "j-3-");
        assert_eq!(pod["metadata"]["labels"]["app"], "x");
        assert_eq!(pod["metadata"]["labels"][COMPLETION_INDEX_KEY], "3");
        assert_eq!(pod["metadata"]["annotations"][COMPLETION_INDEX_KEY], "3");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "u");
        assert_eq!(
            pod["spec"]["containers"][0]["env"][0]["name"],
            "JOB_COMPLETION_INDEX"
        );
        assert_eq!(pod["spec"]["hostname"], "j-3");
    }
}
