use super::*;

const CREATED: &str = "2024-01-01T00:00:00Z";

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A pod with two containers (`init`, then `a` and `b`) and the given status YAML.
fn pod(status: &str) -> Pod {
    let text = format!(
        "metadata: {{name: p-1, namespace: jobs, creationTimestamp: '{CREATED}'}}\nspec:\n  initContainers: [{{name: init}}]\n  containers: [{{name: a}}, {{name: b}}]\nstatus:\n{status}"
    );
    serde_yaml_ng::from_str(&text).unwrap()
}

fn job(status: &str) -> Job {
    let text = format!(
        "metadata: {{name: j-1, namespace: jobs, creationTimestamp: '{CREATED}'}}\nspec: {{template: {{spec: {{containers: [{{name: w}}]}}}}}}\nstatus:\n{status}"
    );
    serde_yaml_ng::from_str(&text).unwrap()
}

/// Renders an observation as one comparable line.
fn show(observation: Observation) -> String {
    match observation {
        Observation::Starting => "starting".to_owned(),
        Observation::Running => "running".to_owned(),
        Observation::Abort(verdict) => format!("abort {} {}", verdict.code, verdict.message),
        Observation::Finished(verdict) => format!("finished {} {}", verdict.code, verdict.message),
    }
}

fn check_pod(status: &str, now: &str, expected: &str) {
    let reasons = ["InvalidImageName".to_owned(), "ErrImageNeverPull".to_owned()];
    let startup = Startup {
        timeout: Duration::from_secs(300),
        fail_fast_reasons: &reasons,
    };
    assert_eq!(
        show(observe_pod(&pod(status), &startup, at(now))),
        expected,
        "{status}"
    );
}

fn check_job(status: &str, pods: &[&str], now: &str, expected: &str) {
    let reasons = ["InvalidImageName".to_owned()];
    let startup = Startup {
        timeout: Duration::from_secs(60),
        fail_fast_reasons: &reasons,
    };
    let pods: Vec<Pod> = pods.iter().map(|status| pod(status)).collect();
    assert_eq!(
        show(observe_job(&job(status), &pods, &startup, at(now))),
        expected,
        "{status}"
    );
}

const EARLY: &str = "2024-01-01T00:01:00Z";
const LATE: &str = "2024-01-01T00:10:00Z";

#[test]
fn pod_rows() {
    // Success, with the duration from the pod's start to the last container's end.
    check_pod(
        "  phase: Succeeded\n  startTime: '2024-01-01T00:00:02Z'\n  containerStatuses:\n  - {name: a, image: i, imageID: '', ready: false, restartCount: 0, state: {terminated: {exitCode: 0, finishedAt: '2024-01-01T00:01:07Z'}}}\n  - {name: b, image: i, imageID: '', ready: false, restartCount: 0, state: {terminated: {exitCode: 0, finishedAt: '2024-01-01T00:00:09Z'}}}",
        LATE,
        "finished 200 pod jobs/p-1 succeeded in 1m 5s",
    );
    check_pod(
        "  phase: Succeeded",
        "2024-01-01T00:00:04Z",
        "finished 200 pod jobs/p-1 succeeded in 4s",
    );
    // Non-zero exit: the first failing container in spec order, with its termination message.
    check_pod(
        "  phase: Failed\n  containerStatuses:\n  - {name: b, image: i, imageID: '', ready: false, restartCount: 0, state: {terminated: {exitCode: 1, reason: Error}}}\n  - {name: a, image: i, imageID: '', ready: false, restartCount: 0, state: {terminated: {exitCode: 3, reason: Error, message: \"rows rejected: 12\\n\"}}}",
        LATE,
        "finished 500 pod jobs/p-1 failed: container a exit 3 (Error): rows rejected: 12",
    );
    check_pod(
        "  phase: Failed\n  initContainerStatuses:\n  - {name: init, image: i, imageID: '', ready: false, restartCount: 0, state: {terminated: {exitCode: 2}}}\n  containerStatuses:\n  - {name: a, image: i, imageID: '', ready: false, restartCount: 0, state: {waiting: {reason: PodInitializing}}}",
        LATE,
        "finished 500 pod jobs/p-1 failed: container init exit 2 (Error)",
    );
    check_pod(
        "  phase: Failed\n  containerStatuses:\n  - {name: a, image: i, imageID: '', ready: false, restartCount: 0, state: {terminated: {exitCode: 137, reason: OOMKilled}}}",
        LATE,
        "finished 500 pod jobs/p-1 failed: container a exit 137 (OOMKilled)",
    );
    // Deadline backstop.
    check_pod(
        "  phase: Failed\n  reason: DeadlineExceeded\n  message: Pod was active on the node longer than the specified deadline",
        LATE,
        "finished 502 job execute timeout ",
    );
    // Eviction and other pod-level reasons win over the exit codes they caused.
    check_pod(
        "  phase: Failed\n  reason: Evicted\n  message: 'The node was low on resource: memory.'\n  containerStatuses:\n  - {name: a, image: i, imageID: '', ready: false, restartCount: 0, state: {terminated: {exitCode: 137}}}",
        LATE,
        "finished 500 pod jobs/p-1 failed: Evicted: The node was low on resource: memory.",
    );
    check_pod(
        "  phase: Failed\n  reason: NodeLost",
        LATE,
        "finished 500 pod jobs/p-1 failed: NodeLost",
    );
    check_pod(
        "  phase: Failed\n  conditions: [{type: DisruptionTarget, status: 'True', reason: PreemptionByScheduler, message: 'preempted by a higher priority pod'}]",
        LATE,
        "finished 500 pod jobs/p-1 failed: PreemptionByScheduler: preempted by a higher priority pod",
    );
    check_pod(
        "  phase: Failed\n  message: odd",
        LATE,
        "finished 500 pod jobs/p-1 failed: Failed: odd",
    );
    // Running once any container has started.
    check_pod(
        "  phase: Running\n  containerStatuses:\n  - {name: a, image: i, imageID: '', ready: true, restartCount: 0, state: {running: {startedAt: '2024-01-01T00:00:05Z'}}}",
        LATE,
        "running",
    );
    check_pod(
        "  phase: Pending\n  initContainerStatuses:\n  - {name: init, image: i, imageID: '', ready: false, restartCount: 0, state: {terminated: {exitCode: 0}}}",
        LATE,
        "running",
    );
    // Not started yet: within the startup timeout, then aborted with the cause.
    check_pod("  phase: Pending", EARLY, "starting");
    check_pod(
        "  phase: Pending",
        LATE,
        "abort 500 pod jobs/p-1 did not start within 300s: Pending: no container has started",
    );
    check_pod(
        "  phase: Pending\n  conditions: [{type: PodScheduled, status: 'False', reason: Unschedulable, message: '0/3 nodes are available: 3 node(s) didn''t match Pod''s node affinity/selector.'}]",
        LATE,
        "abort 500 pod jobs/p-1 did not start within 300s: Unschedulable: 0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
    );
    check_pod(
        "  phase: Pending\n  containerStatuses:\n  - {name: a, image: i, imageID: '', ready: false, restartCount: 0, state: {waiting: {reason: ImagePullBackOff, message: 'Back-off pulling image \"fake/pull-error\"'}}}",
        EARLY,
        "starting",
    );
    check_pod(
        "  phase: Pending\n  containerStatuses:\n  - {name: a, image: i, imageID: '', ready: false, restartCount: 0, state: {waiting: {reason: ImagePullBackOff, message: 'Back-off pulling image \"fake/pull-error\"'}}}",
        LATE,
        "abort 500 pod jobs/p-1 did not start within 300s: ImagePullBackOff: Back-off pulling image \"fake/pull-error\"",
    );
    // Waiting reasons that cannot heal fail at once.
    check_pod(
        "  phase: Pending\n  containerStatuses:\n  - {name: a, image: i, imageID: '', ready: false, restartCount: 0, state: {waiting: {reason: InvalidImageName, message: 'Failed to apply default image tag \"fake/INVALID\"'}}}",
        EARLY,
        "abort 500 pod jobs/p-1 cannot start: InvalidImageName: Failed to apply default image tag \"fake/INVALID\"",
    );
    check_pod("  phase: Unknown", EARLY, "starting");
}

#[test]
fn job_rows() {
    check_job(
        "  startTime: '2024-01-01T00:00:01Z'\n  completionTime: '2024-01-01T01:00:04Z'\n  conditions: [{type: Complete, status: 'True'}]",
        &[],
        LATE,
        "finished 200 job jobs/j-1 succeeded in 1h 0m 3s",
    );
    check_job(
        "  conditions: [{type: SuccessCriteriaMet, status: 'True'}]",
        &[],
        "2024-01-01T00:00:30Z",
        "finished 200 job jobs/j-1 succeeded in 30s",
    );
    check_job(
        "  conditions: [{type: Failed, status: 'True', reason: DeadlineExceeded, message: Job was active longer than specified deadline}]",
        &[],
        LATE,
        "finished 502 job execute timeout ",
    );
    check_job(
        "  conditions: [{type: Failed, status: 'True', reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}]",
        &[],
        LATE,
        "finished 500 job jobs/j-1 failed: BackoffLimitExceeded: Job has reached the specified backoff limit",
    );
    check_job(
        "  failedIndexes: '1,3-4'\n  conditions: [{type: Failed, status: 'True', reason: FailedIndexes, message: Job has failed indexes}]",
        &[],
        LATE,
        "finished 500 job jobs/j-1 failed: FailedIndexes: Job has failed indexes; failed indexes 1,3-4",
    );
    check_job(
        "  conditions: [{type: Complete, status: 'False'}]\n  succeeded: 1",
        &[],
        LATE,
        "running",
    );
    check_job(
        "  active: 1",
        &[
            "  phase: Running\n  containerStatuses:\n  - {name: a, image: i, imageID: '', ready: true, restartCount: 0, state: {running: {}}}",
        ],
        LATE,
        "running",
    );
    check_job(
        "  active: 1",
        &["  phase: Pending"],
        "2024-01-01T00:00:30Z",
        "starting",
    );
    check_job(
        "  active: 1",
        &["  phase: Pending"],
        LATE,
        "abort 500 job jobs/j-1 did not start within 60s: Pending: no container has started",
    );
    check_job(
        "  active: 0",
        &[],
        LATE,
        "abort 500 job jobs/j-1 did not start within 60s: NoPod: no pod has been created",
    );
    check_job(
        "  active: 1",
        &["  phase: Pending\n  conditions: [{type: PodScheduled, status: 'False', reason: Unschedulable}]"],
        LATE,
        "abort 500 job jobs/j-1 did not start within 60s: Unschedulable",
    );
    check_job(
        "  active: 2",
        &[
            "  phase: Pending",
            "  phase: Pending\n  containerStatuses:\n  - {name: a, image: i, imageID: '', ready: false, restartCount: 0, state: {waiting: {reason: InvalidImageName}}}",
        ],
        "2024-01-01T00:00:05Z",
        "abort 500 job jobs/j-1 cannot start: InvalidImageName",
    );
}

#[test]
fn fixed_texts_and_durations() {
    let metadata = ObjectMeta {
        name: Some("p-9".to_owned()),
        namespace: Some("jobs".to_owned()),
        ..ObjectMeta::default()
    };
    assert_eq!(
        deleted_outside(Kind::Pod, &metadata),
        Verdict {
            code: 500,
            message: "pod jobs/p-9 was deleted outside the executor".to_owned()
        }
    );
    assert_eq!(
        removed_by_janitor(Kind::Job, &metadata).message,
        "executor restarted; job jobs/p-9 removed by janitor"
    );
    for (seconds, text) in [
        (0, "0s"),
        (59, "59s"),
        (60, "1m 0s"),
        (3599, "59m 59s"),
        (3600, "1h 0m 0s"),
        (90061, "25h 1m 1s"),
    ] {
        assert_eq!(human_duration(Duration::from_secs(seconds)), text);
    }
}
