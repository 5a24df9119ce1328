//! Result mapping (§5.2 and §5.3 of the Kubernetes executor specification): from the observed status of a
//! Pod, or of a Job and its pods, to "keep waiting", "abort and report", or "finished, report this" — with the
//! exact `handleCode`/`handleMsg` the admin receives.
//!
//! These are pure functions of the status objects and `now`, so every row of the result table is tested with
//! fixtures. Watching, deleting and draining logs belong to the lifecycle; the texts of kills, executor
//! timeouts and shutdowns come from [`xjob_protocol::message`].

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use xjob_protocol::{code, message};

use crate::manifest::Kind;

/// The result reported to the admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// `handleCode`: 200 success, 500 failure, 502 timeout.
    pub code: i32,
    /// `handleMsg`.
    pub message: String,
}

/// What the status says the executor should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// No container has started yet, within the startup timeout.
    Starting,
    /// At least one container has started and the workload has not ended.
    Running,
    /// The workload cannot start (startup timeout, or a waiting reason that cannot heal): delete it, then
    /// report the verdict.
    Abort(Verdict),
    /// The workload ended: drain its logs, report the verdict, apply the cleanup policy.
    Finished(Verdict),
}

/// The startup rules of one execution.
#[derive(Clone, Copy, Debug)]
pub struct Startup<'a> {
    /// Longest time from creation until the first container runs (or the pod ends).
    pub timeout: Duration,
    /// Waiting reasons that fail at once.
    pub fail_fast_reasons: &'a [String],
}

/// Observes a bare Pod.
pub fn observe_pod(pod: &Pod, startup: &Startup<'_>, now: Timestamp) -> Observation {
    let target = target(Kind::Pod, &pod.metadata);
    match phase(pod) {
        "Succeeded" => {
            let start = pod
                .status
                .as_ref()
                .and_then(|status| status.start_time.as_ref())
                .or(pod.metadata.creation_timestamp.as_ref());
            let end = statuses(pod).filter_map(finished_at).max();
            Observation::Finished(success(&target, start, end, now))
        }
        "Failed" => Observation::Finished(pod_failure(pod, &target)),
        _ => starting(
            &target,
            pod.metadata.creation_timestamp.as_ref(),
            std::slice::from_ref(pod),
            startup,
            now,
        ),
    }
}

/// Observes a Job from its conditions, and its pods for the startup rules.
pub fn observe_job(job: &Job, pods: &[Pod], startup: &Startup<'_>, now: Timestamp) -> Observation {
    let target = target(Kind::Job, &job.metadata);
    let status = job.status.as_ref();
    let conditions = status
        .and_then(|status| status.conditions.as_ref())
        .into_iter()
        .flatten();
    let is_true = |kind: &str| conditions.clone().find(|c| c.type_ == kind && c.status == "True");
    if is_true("Complete")
        .or_else(|| is_true("SuccessCriteriaMet"))
        .is_some()
    {
        let start = status
            .and_then(|s| s.start_time.as_ref())
            .or(job.metadata.creation_timestamp.as_ref());
        let end = status.and_then(|s| s.completion_time.as_ref()).map(|time| time.0);
        return Observation::Finished(success(&target, start, end, now));
    }
    if let Some(failed) = is_true("Failed") {
        let reason = failed.reason.as_deref().unwrap_or("Failed");
        if reason == "DeadlineExceeded" {
            return Observation::Finished(timeout());
        }
        let mut text = format!(
            "{target} failed: {}",
            reason_message(reason, failed.message.as_deref())
        );
        if let Some(indexes) = status
            .and_then(|s| s.failed_indexes.as_deref())
            .filter(|i| !i.is_empty())
        {
            text += &format!("; failed indexes {indexes}");
        }
        return Observation::Finished(failure(text));
    }
    let finished_pods = status.is_some_and(|s| s.succeeded.unwrap_or(0) > 0 || s.failed.unwrap_or(0) > 0);
    if finished_pods {
        return Observation::Running;
    }
    starting(
        &target,
        job.metadata.creation_timestamp.as_ref(),
        pods,
        startup,
        now,
    )
}

/// The verdict when the object disappeared before an outcome was observed, and the executor did not delete it.
pub fn deleted_outside(kind: Kind, metadata: &ObjectMeta) -> Verdict {
    failure(format!(
        "{} was deleted outside the executor",
        target(kind, metadata)
    ))
}

/// The verdict when the janitor removes an orphan under the `delete` policy.
pub fn removed_by_janitor(kind: Kind, metadata: &ObjectMeta) -> Verdict {
    failure(format!(
        "executor restarted; {} removed by janitor",
        target(kind, metadata)
    ))
}

/// Formats a duration for result messages: `4s`, `2m 5s`, `1h 0m 3s`.
pub fn human_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m {seconds}s"),
        _ => format!("{hours}h {minutes}m {seconds}s"),
    }
}

/// `pod <ns>/<name>` or `job <ns>/<name>`.
fn target(kind: Kind, metadata: &ObjectMeta) -> String {
    format!(
        "{kind} {}/{}",
        metadata.namespace.as_deref().unwrap_or(""),
        metadata.name.as_deref().unwrap_or("")
    )
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
        .unwrap_or("Pending")
}

/// Init container statuses in order, then app container statuses in the order of the spec.
fn statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    let init = status
        .and_then(|s| s.init_container_statuses.as_ref())
        .into_iter()
        .flatten();
    let mut app: Vec<&ContainerStatus> = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .collect();
    let order: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|spec| &spec.containers)
        .map(|c| c.name.as_str())
        .collect();
    app.sort_by_key(|status| {
        order
            .iter()
            .position(|name| *name == status.name)
            .unwrap_or(usize::MAX)
    });
    init.chain(app)
}

fn finished_at(status: &ContainerStatus) -> Option<Timestamp> {
    status
        .state
        .as_ref()?
        .terminated
        .as_ref()?
        .finished_at
        .as_ref()
        .map(|time| time.0)
}

fn has_started(status: &ContainerStatus) -> bool {
    status
        .state
        .as_ref()
        .is_some_and(|state| state.running.is_some() || state.terminated.is_some())
}

fn success(target: &str, start: Option<&Time>, end: Option<Timestamp>, now: Timestamp) -> Verdict {
    let end = end.unwrap_or(now);
    let elapsed = start.map_or(Duration::ZERO, |start| {
        Duration::try_from(end.duration_since(start.0)).unwrap_or_default()
    });
    Verdict {
        code: code::SUCCESS,
        message: format!("{target} succeeded in {}", human_duration(elapsed)),
    }
}

fn failure(message: String) -> Verdict {
    Verdict {
        code: code::FAILURE,
        message,
    }
}

fn timeout() -> Verdict {
    Verdict {
        code: code::TIMEOUT,
        message: message::JOB_EXECUTE_TIMEOUT.to_owned(),
    }
}

fn reason_message(reason: &str, message: Option<&str>) -> String {
    match message.map(str::trim).filter(|message| !message.is_empty()) {
        Some(message) => format!("{reason}: {message}"),
        None => reason.to_owned(),
    }
}

fn pod_failure(pod: &Pod, target: &str) -> Verdict {
    let status = pod.status.as_ref();
    let reason = status.and_then(|s| s.reason.as_deref()).filter(|r| !r.is_empty());
    if reason == Some("DeadlineExceeded") {
        return timeout();
    }
    // Eviction, preemption and node loss kill the containers too; the pod-level reason is the real cause, so
    // it wins over the exit codes it produced.
    if let Some(reason) = reason {
        return failure(format!(
            "{target} failed: {}",
            reason_message(reason, status.and_then(|s| s.message.as_deref()))
        ));
    }
    let disruption = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "DisruptionTarget" && c.status == "True");
    if let Some(condition) = disruption {
        let reason = condition.reason.as_deref().unwrap_or("DisruptionTarget");
        return failure(format!(
            "{target} failed: {}",
            reason_message(reason, condition.message.as_deref())
        ));
    }
    for container in statuses(pod) {
        let Some(terminated) = container
            .state
            .as_ref()
            .and_then(|state| state.terminated.as_ref())
        else {
            continue;
        };
        if terminated.exit_code != 0 {
            let mut text = format!(
                "{target} failed: container {} exit {} ({})",
                container.name,
                terminated.exit_code,
                terminated.reason.as_deref().unwrap_or("Error")
            );
            if let Some(termination) = terminated
                .message
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
            {
                text += &format!(": {termination}");
            }
            return failure(text);
        }
    }
    failure(format!(
        "{target} failed: {}",
        reason_message("Failed", status.and_then(|s| s.message.as_deref()))
    ))
}

/// The rules before the first container runs, over every pod of the object.
fn starting(
    target: &str,
    created: Option<&Time>,
    pods: &[Pod],
    startup: &Startup<'_>,
    now: Timestamp,
) -> Observation {
    for pod in pods {
        for container in statuses(pod) {
            let waiting = container.state.as_ref().and_then(|state| state.waiting.as_ref());
            if let Some(reason) = waiting.and_then(|w| w.reason.as_deref())
                && startup.fail_fast_reasons.iter().any(|fatal| fatal == reason)
            {
                let detail = reason_message(reason, waiting.and_then(|w| w.message.as_deref()));
                return Observation::Abort(failure(format!("{target} cannot start: {detail}")));
            }
        }
    }
    let started = pods
        .iter()
        .any(|pod| matches!(phase(pod), "Succeeded" | "Failed") || statuses(pod).any(has_started));
    if started {
        return Observation::Running;
    }
    let Some(created) = created else {
        return Observation::Starting;
    };
    let waited = Duration::try_from(now.duration_since(created.0)).unwrap_or_default();
    if waited < startup.timeout {
        return Observation::Starting;
    }
    let detail = pods.iter().find_map(waiting_cause).unwrap_or_else(|| {
        if pods.is_empty() {
            "NoPod: no pod has been created".to_owned()
        } else {
            "Pending: no container has started".to_owned()
        }
    });
    Observation::Abort(failure(format!(
        "{target} did not start within {}s: {detail}",
        startup.timeout.as_secs()
    )))
}

/// Why a pod has not started: an unschedulable condition, else the first waiting container with a reason.
fn waiting_cause(pod: &Pod) -> Option<String> {
    let conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten();
    let unscheduled = conditions
        .clone()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    if let Some(condition) = unscheduled {
        return Some(reason_message(
            condition.reason.as_deref().unwrap_or("Unschedulable"),
            condition.message.as_deref(),
        ));
    }
    statuses(pod).find_map(|container| {
        let waiting = container.state.as_ref()?.waiting.as_ref()?;
        Some(reason_message(
            waiting.reason.as_deref()?,
            waiting.message.as_deref(),
        ))
    })
}

#[cfg(test)]
mod tests;
