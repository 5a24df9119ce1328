//! Prepared objects created on the stand-in and observed until the result mapping gives a verdict.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ListParams, PostParams};
use xjob_k8s_executor::config::{Host, KubernetesConfig, Settings};
use xjob_k8s_executor::manifest::Workload;
use xjob_k8s_executor::normalise::Execution;
use xjob_k8s_executor::outcome::{Observation, Startup, Verdict, observe_job, observe_pod};
use xjob_k8s_executor::prepare;
use xjob_k8s_standin::{Options, Resource, StandIn, UNSCHEDULABLE_LABEL};
use xjob_protocol::{JobId, LogId};

/// Longest wait for any outcome; the slowest case (the deadline backstop) needs about two seconds.
const OUTCOME_TIMEOUT: Duration = Duration::from_secs(20);

fn settings(config: &str) -> Settings {
    let config: KubernetesConfig = toml::from_str(config).unwrap();
    config
        .validate(&Host {
            in_cluster_namespace: None,
            host_name: "it-executor".to_owned(),
        })
        .unwrap()
}

fn execution(log_id: i64, timeout: i32) -> Execution {
    Execution {
        job_id: JobId(5),
        log_id: LogId(log_id),
        log_date_time: 1_700_000_000_000,
        executor_timeout: timeout,
        broadcast_index: 1,
        broadcast_total: 3,
    }
}

async fn wait_until<T, F, Fut>(what: &str, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + OUTCOME_TIMEOUT;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {OUTCOME_TIMEOUT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Prepares `manifest`, creates it on the stand-in and waits until the result mapping stops saying
/// "starting" or "running"; returns the object's name and the final observation.
async fn run(
    standin: &StandIn,
    manifest: &str,
    execution: &Execution,
    settings: &Settings,
) -> (String, Observation) {
    let prepared = prepare(manifest, execution, settings).unwrap();
    let client = standin.client().await.unwrap();
    let namespace = prepared.workload.metadata().namespace.clone().unwrap();
    let name = prepared.workload.metadata().name.clone().unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let jobs: Api<Job> = Api::namespaced(client, &namespace);
    match &prepared.workload {
        Workload::Pod(pod) => drop(pods.create(&PostParams::default(), pod).await.unwrap()),
        Workload::Job(job) => drop(jobs.create(&PostParams::default(), job).await.unwrap()),
    }
    let reasons = settings.config.fail_fast_reasons.clone();
    let startup = Startup {
        timeout: prepared.options.startup_timeout,
        fail_fast_reasons: &reasons,
    };
    let selector = format!("xxl-job/log-id={}", execution.log_id.0);
    let observation = wait_until("an outcome", || async {
        let observation = match prepared.workload {
            Workload::Pod(_) => observe_pod(&pods.get(&name).await.unwrap(), &startup, Timestamp::now()),
            Workload::Job(_) => {
                let job = jobs.get(&name).await.unwrap();
                let job_pods = pods
                    .list(&ListParams::default().labels(&selector))
                    .await
                    .unwrap()
                    .items;
                observe_job(&job, &job_pods, &startup, Timestamp::now())
            }
        };
        match observation {
            Observation::Starting | Observation::Running => None,
            done => Some(done),
        }
    })
    .await;
    (name, observation)
}

fn finished(code: i32, message: &str) -> Observation {
    Observation::Finished(Verdict {
        code,
        message: message.to_owned(),
    })
}

/// The verdict with the (timing-dependent) duration of a success replaced by `<d>`.
fn without_duration(observation: Observation) -> Observation {
    match observation {
        Observation::Finished(Verdict { code: 200, message }) => {
            let stem = message
                .rsplit_once(" in ")
                .map_or(message.as_str(), |(stem, _)| stem);
            finished(200, &format!("{stem} in <d>"))
        }
        other => other,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_of_real_pods_and_jobs() {
    let standin = StandIn::start(Options::default()).await.unwrap();
    let defaults = settings("");

    // A failing container: exit code, reason and the termination message built from the injected variables.
    let failing = r#"
apiVersion: v1
kind: Pod
metadata: {name: probe}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'echo "shard $XXL_JOB_SHARD_INDEX/$XXL_JOB_SHARD_TOTAL log $XXL_JOB_LOG_ID" > "$STANDIN_TERMINATION_MESSAGE_PATH"; exit 3']
"#;
    let (name, observation) = run(&standin, failing, &execution(42, 0), &defaults).await;
    assert_eq!(name, "probe-42");
    assert_eq!(
        observation,
        finished(
            500,
            "pod default/probe-42 failed: container main exit 3 (Error): shard 1/3 log 42"
        )
    );
    let stored = standin.object(Resource::Pods, "default", "probe-42").unwrap();
    assert_eq!(stored["metadata"]["labels"]["xxl-job/log-id"], "42");
    assert_eq!(stored["metadata"]["labels"]["xxl-job/instance"], "it-executor");
    assert_eq!(stored["spec"]["restartPolicy"], "Never");
    assert_eq!(stored["spec"]["automountServiceAccountToken"], false);

    // `$(NAME)` in args is expanded from the injected environment, as the kubelet does.
    let expanding = r#"
apiVersion: v1
kind: Pod
metadata: {generateName: shard-}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'test "$0" = "1 of 3"']
    args: ["$(XXL_JOB_SHARD_INDEX) of $(XXL_JOB_SHARD_TOTAL)"]
"#;
    let (name, observation) = run(&standin, expanding, &execution(43, 0), &defaults).await;
    assert_eq!(name, "shard-43");
    assert_eq!(
        without_duration(observation),
        finished(200, "pod default/shard-43 succeeded in <d>")
    );

    // The deadline backstop ends a pod the executor no longer watches over: reported as XXL's timeout.
    let sleeping = "apiVersion: v1\nkind: Pod\nmetadata: {name: sleeper}\nspec:\n  containers: [{name: main, image: busybox, command: [sleep, '30']}]\n";
    let (_, observation) = run(
        &standin,
        sleeping,
        &execution(44, 1),
        &settings("deadline_margin = 0"),
    )
    .await;
    assert_eq!(observation, finished(502, "job execute timeout "));

    // A Job: success, and a failure after its backoff limit (0 unless the manifest sets one).
    let job = |exit: u8| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: batch}}\nspec:\n  template:\n    spec:\n      containers: [{{name: work, image: busybox, command: [sh, -c, 'exit {exit}']}}]\n"
        )
    };
    let (_, observation) = run(&standin, &job(0), &execution(45, 0), &defaults).await;
    assert_eq!(
        without_duration(observation),
        finished(200, "job default/batch-45 succeeded in <d>")
    );
    let (_, observation) = run(&standin, &job(1), &execution(46, 0), &defaults).await;
    let Observation::Finished(verdict) = observation else {
        panic!("expected a failed Job, got {observation:?}")
    };
    assert_eq!(verdict.code, 500);
    assert!(
        verdict
            .message
            .starts_with("job default/batch-46 failed: BackoffLimitExceeded"),
        "{}",
        verdict.message
    );

    // Startup failures: an unschedulable pod past its startup timeout, and an image that can never be pulled.
    let unschedulable = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: stuck, annotations: {{xxl-job/startup-timeout: '1'}}}}\nspec:\n  nodeSelector: {{{UNSCHEDULABLE_LABEL}: 'true'}}\n  containers: [{{name: main, image: busybox, command: ['true']}}]\n"
    );
    let (_, observation) = run(&standin, &unschedulable, &execution(47, 0), &defaults).await;
    let Observation::Abort(verdict) = observation else {
        panic!("expected an abort, got {observation:?}")
    };
    assert!(
        verdict
            .message
            .starts_with("pod default/stuck-47 did not start within 1s: Unschedulable"),
        "{}",
        verdict.message
    );
    let invalid = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad-image}\nspec:\n  containers: [{name: main, image: fake/invalid, command: ['true']}]\n";
    let (_, observation) = run(&standin, invalid, &execution(48, 0), &defaults).await;
    let Observation::Abort(verdict) = observation else {
        panic!("expected an abort, got {observation:?}")
    };
    assert!(
        verdict
            .message
            .starts_with("pod default/bad-image-48 cannot start: InvalidImageName"),
        "{}",
        verdict.message
    );

    standin.shutdown().await;
}
