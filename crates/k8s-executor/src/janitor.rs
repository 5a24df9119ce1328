//! The janitor (§8.2): at start and every `janitor_interval`, the objects labelled as this instance's are
//! listed in every allowed namespace. Objects a live execution follows are skipped; kept objects past their
//! `retain-until` are deleted; untracked objects older than `orphan_grace` — left by a restart or a crash —
//! are adopted (followed to the end, their result reported through the SDK's callback spool, cleaned up) or
//! deleted and reported, per `orphan_policy`. An adopted execution is reachable by `/kill` of its job id (the
//! `<prefix>job-id` label): the object is deleted and the execution reported killed.
//!
//! Objects without all three instance labels, or of another instance, are never listed, hence never touched.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use xjob_executor::{JobResult, ResultReporter, ResumedExecution};
use xjob_protocol::{JobId, LogId};

use crate::api::bounded;
use crate::config::OrphanPolicy;
use crate::lifecycle::{self, LiveGuard, OnCancel, Outcome, Shared, Target};
use crate::manifest::{self, Workload};
use crate::normalise::{self, ExecutionOptions};
use crate::outcome;

/// Label Kubernetes puts on the pods of a Job; such pods are looked after through their Job.
const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// Runs sweeps until `stop` trips; resumed executions run on `tasks`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    reporter: ResultReporter,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    let interval = shared.settings.config.janitor_interval;
    loop {
        sweep(&shared, &reporter, &tasks).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// One pass over every allowed namespace.
pub(crate) async fn sweep(shared: &Arc<Shared>, reporter: &ResultReporter, tasks: &TaskTracker) {
    let selector = normalise::instance_selector(&shared.settings);
    let limit = shared.settings.config.api_timeout;
    for namespace in &shared.settings.allowed_namespaces {
        let params = ListParams::default().labels(&selector);
        let jobs = match bounded(limit, lifecycle::jobs(shared, namespace).list(&params)).await {
            Ok(list) => list.items,
            Err(error) => {
                tracing::warn!(namespace, %error, "janitor cannot list jobs");
                continue;
            }
        };
        let pods = match bounded(limit, lifecycle::pods(shared, namespace).list(&params)).await {
            Ok(list) => list.items,
            Err(error) => {
                tracing::warn!(namespace, %error, "janitor cannot list pods");
                continue;
            }
        };
        for job in jobs {
            let workload = Workload::Job(Box::new(job));
            consider(shared, reporter, tasks, workload).await;
        }
        for pod in pods.into_iter().filter(|pod| !owned_by_job(pod)) {
            consider(shared, reporter, tasks, Workload::Pod(Box::new(pod))).await;
        }
    }
}

fn owned_by_job(pod: &Pod) -> bool {
    let labelled = pod
        .metadata
        .labels
        .as_ref()
        .is_some_and(|labels| labels.contains_key(JOB_NAME_LABEL) || labels.contains_key("job-name"));
    let owned = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| owner.kind == "Job");
    labelled || owned
}

async fn consider(shared: &Arc<Shared>, reporter: &ResultReporter, tasks: &TaskTracker, workload: Workload) {
    let config = &shared.settings.config;
    let metadata = workload.metadata().clone();
    if metadata.deletion_timestamp.is_some() {
        return;
    }
    let Some(log_id) = label(&metadata, &shared.keys.log_id) else {
        return;
    };
    let target = Target {
        kind: workload.kind(),
        namespace: metadata.namespace.clone().unwrap_or_default(),
        name: metadata.name.clone().unwrap_or_default(),
        log_id,
    };
    let now = Timestamp::now();
    if let Some(until) = annotation(&metadata, &shared.keys.retain_until) {
        let expired = until.parse::<Timestamp>().map_or(true, |until| until <= now);
        if expired && let Some(guard) = LiveGuard::claim(shared, &target) {
            let log = reporter.execution_log(LogId(log_id), log_date_time(shared, &metadata));
            lifecycle::delete(shared, &target, Duration::ZERO, &log).await;
            drop(guard);
        }
        return;
    }
    let age = metadata
        .creation_timestamp
        .as_ref()
        .and_then(|created| Duration::try_from(now.duration_since(created.0)).ok())
        .unwrap_or_default();
    if age < config.orphan_grace {
        return;
    }
    let Some(guard) = LiveGuard::claim(shared, &target) else {
        return;
    };
    let log_date_time = log_date_time(shared, &metadata);
    let log = reporter.execution_log(LogId(log_id), log_date_time);
    match config.orphan_policy {
        OrphanPolicy::Delete => {
            log.line(&format!(
                "executor restarted; {} removed by janitor",
                target.describe()
            ));
            lifecycle::delete(shared, &target, config.kill_grace_period, &log).await;
            let verdict = outcome::removed_by_janitor(target.kind, &metadata);
            reporter.report(LogId(log_id), log_date_time, JobResult::fail(verdict.message));
            drop(guard);
        }
        OrphanPolicy::Adopt => {
            // `/kill` of its job reaches the adopted execution like one a job thread runs (tracked before
            // the log says it is resumed).
            let resumed = label(&metadata, &shared.keys.job_id)
                .and_then(|job_id| i32::try_from(job_id).ok())
                .map(|job_id| reporter.track_resumed(JobId(job_id)));
            log.line(&format!("executor restarted; resuming {}", target.describe()));
            tracing::info!(namespace = %target.namespace, name = %target.name, log_id, "janitor adopts orphan");
            let options = resumed_options(shared, &workload);
            let shared = Arc::clone(shared);
            let reporter = reporter.clone();
            tasks.spawn(async move {
                let _guard = guard;
                let killed = resumed
                    .as_ref()
                    .map_or_else(CancellationToken::new, |resumed| resumed.killed().clone());
                // Stops supervision at shutdown (the object is left for the next start) or on a kill.
                let stop = shared.stop.child_token();
                let on_cancel = || {
                    if killed.is_cancelled() {
                        OnCancel::Delete
                    } else {
                        OnCancel::Detach
                    }
                };
                let supervision = lifecycle::supervise(&shared, &target, &options, &log, &stop, on_cancel);
                tokio::pin!(supervision);
                let outcome = tokio::select! {
                    outcome = &mut supervision => outcome,
                    () = killed.cancelled() => {
                        stop.cancel();
                        supervision.await
                    }
                };
                let result = match outcome {
                    Outcome::Verdict(verdict) => JobResult {
                        code: verdict.code,
                        msg: Some(verdict.message),
                    },
                    Outcome::Cancelled if killed.is_cancelled() => {
                        JobResult::fail(ResumedExecution::killed_message())
                    }
                    Outcome::Cancelled => return,
                };
                reporter.report(LogId(log_id), log_date_time, result);
            });
        }
    }
}

/// The executor options of a resumed object, read from its annotations like at trigger time.
fn resumed_options(shared: &Shared, workload: &Workload) -> ExecutionOptions {
    let config = &shared.settings.config;
    let options = manifest::options(workload, &config.label_prefix).unwrap_or_default();
    ExecutionOptions {
        cleanup: options.cleanup.unwrap_or(config.cleanup),
        startup_timeout: options.startup_timeout.unwrap_or(config.startup_timeout),
        kill_grace_period: options.kill_grace_period.unwrap_or(config.kill_grace_period),
        log_containers: options.log_containers,
        log_timestamps: options.log_timestamps,
    }
}

fn label(metadata: &ObjectMeta, key: &str) -> Option<i64> {
    metadata.labels.as_ref()?.get(key)?.parse().ok()
}

fn annotation<'a>(metadata: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The trigger time from the object's annotation; without it the log file lands under the epoch date.
fn log_date_time(shared: &Shared, metadata: &ObjectMeta) -> i64 {
    annotation(metadata, &shared.keys.log_date_time)
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}
