//! The Job controller through `kube::Api<Job>`: completions, indexed jobs with a failing index, backoff limit,
//! deadline, TTL, and deletion propagation to pods.

use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use serde_json::{Value, json};

use crate::support::{Setup, api_error, phase, typed, wait_until};

fn job(name: &str, script: &str, spec: Value) -> Job {
    let mut manifest = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"labels": {"suite": "jobs"}},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "work", "image": "busybox", "command": ["sh", "-c", script]}],
                },
            },
        },
    });
    for (key, value) in spec.as_object().unwrap() {
        manifest["spec"][key] = value.clone();
    }
    typed(manifest)
}

fn condition(job: &Job, kind: &str) -> Option<(String, String)> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

#[tokio::test]
async fn completions_and_parallelism() {
    let setup = Setup::start().await;
    let created = setup
        .jobs()
        .create(
            &PostParams::default(),
            &job("pair", "echo done", json!({"completions": 3, "parallelism": 2})),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.backoff_limit, Some(6));
    assert_eq!(spec.completion_mode.as_deref(), Some("NonIndexed"));
    let selector = spec.selector.as_ref().unwrap().match_labels.as_ref().unwrap();
    assert_eq!(selector["batch.kubernetes.io/controller-uid"], uid);

    // The runtime's condition wait runs a field-selected watcher on the Job.
    let completed = kube::runtime::wait::await_condition(
        setup.jobs(),
        "pair",
        kube::runtime::wait::conditions::is_job_completed(),
    );
    let watched = tokio::time::timeout(std::time::Duration::from_secs(30), completed)
        .await
        .expect("completion seen through a watch")
        .unwrap()
        .expect("the job exists");
    assert!(condition(&watched, "Complete").is_some());
    let done = setup
        .wait_job("pair", "complete", |j| condition(j, "Complete").is_some())
        .await;
    let status = done.status.as_ref().unwrap();
    assert_eq!(status.succeeded, Some(3));
    assert_eq!(status.active, Some(0));
    assert!(status.start_time.is_some() && status.completion_time.is_some());
    assert!(condition(&done, "SuccessCriteriaMet").is_some());

    let pods = setup
        .pods()
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name=pair"))
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 3);
    for pod in &pods.items {
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["controller-uid"], uid);
        assert_eq!(labels["job-name"], "pair");
        assert_eq!(labels["suite"], "jobs");
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("Job", uid.as_str(), Some(true))
        );
        assert!(pod.metadata.name.as_ref().unwrap().starts_with("pair-"));
    }
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn indexed_job_reports_the_failing_index() {
    let setup = Setup::start().await;
    let script = "echo index $JOB_COMPLETION_INDEX; [ \"$JOB_COMPLETION_INDEX\" != 2 ]";
    let spec =
        json!({"completionMode": "Indexed", "completions": 4, "parallelism": 2, "backoffLimitPerIndex": 0});
    setup
        .jobs()
        .create(&PostParams::default(), &job("indexed", script, spec))
        .await
        .unwrap();
    let failed = setup
        .wait_job("indexed", "failed", |j| condition(j, "Failed").is_some())
        .await;
    assert_eq!(
        condition(&failed, "Failed").unwrap(),
        ("FailedIndexes".to_owned(), "Job has failed indexes".to_owned())
    );
    assert!(condition(&failed, "FailureTarget").is_some());
    let status = failed.status.as_ref().unwrap();
    assert_eq!(status.failed_indexes.as_deref(), Some("2"));
    assert_eq!(status.completed_indexes.as_deref(), Some("0-1,3"));
    assert_eq!((status.succeeded, status.failed), (Some(3), Some(1)));

    let pods = setup
        .pods()
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name=indexed"))
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 4, "no retry of the failed index");
    for pod in &pods.items {
        let index =
            pod.metadata.annotations.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"].clone();
        assert_eq!(
            pod.metadata.labels.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"],
            index
        );
        let name = pod.metadata.name.clone().unwrap();
        assert!(name.starts_with(&format!("indexed-{index}-")), "{name}");
        let logs = setup.pods().logs(&name, &LogParams::default()).await.unwrap();
        assert_eq!(logs, format!("index {index}\n"));
        let expected_phase = if index == "2" { "Failed" } else { "Succeeded" };
        assert_eq!(phase(pod), expected_phase);
    }
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn backoff_limit_and_deadline_fail_the_job() {
    let setup = Setup::start().await;
    setup
        .jobs()
        .create(
            &PostParams::default(),
            &job("flaky", "exit 1", json!({"backoffLimit": 1})),
        )
        .await
        .unwrap();
    setup
        .jobs()
        .create(
            &PostParams::default(),
            &job("slow", "sleep 30", json!({"activeDeadlineSeconds": 1})),
        )
        .await
        .unwrap();
    let flaky = setup
        .wait_job("flaky", "backoff exceeded", |j| condition(j, "Failed").is_some())
        .await;
    assert_eq!(condition(&flaky, "Failed").unwrap().0, "BackoffLimitExceeded");
    assert_eq!(flaky.status.as_ref().unwrap().failed, Some(2));
    let slow = setup
        .wait_job("slow", "deadline exceeded", |j| condition(j, "Failed").is_some())
        .await;
    assert_eq!(
        condition(&slow, "Failed").unwrap(),
        (
            "DeadlineExceeded".to_owned(),
            "Job was active longer than specified deadline".to_owned()
        )
    );
    assert_eq!(slow.status.as_ref().unwrap().active, Some(0));
    assert_eq!(setup.standin.running_processes(), 0);

    let suspended = setup
        .jobs()
        .create(
            &PostParams::default(),
            &job("paused", "true", json!({"suspend": true})),
        )
        .await
        .unwrap();
    setup
        .wait_job("paused", "suspended", |j| condition(j, "Suspended").is_some())
        .await;
    let pods = setup
        .pods()
        .list(&ListParams::default().labels("job-name=paused"))
        .await
        .unwrap();
    assert!(pods.items.is_empty(), "a suspended job creates no pods");
    assert!(suspended.status.is_some());
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn deletion_propagates_by_policy_and_ttl_cleans_up() {
    let setup = Setup::start().await;
    for name in ["background", "foreground", "orphan"] {
        setup
            .jobs()
            .create(&PostParams::default(), &job(name, "sleep 30", json!({})))
            .await
            .unwrap();
    }
    for name in ["background", "foreground", "orphan"] {
        setup
            .wait_job(name, "active", |j| {
                j.status.as_ref().and_then(|s| s.active) == Some(1)
            })
            .await;
    }
    let pods_of = |name: &'static str| {
        let pods = setup.pods();
        async move {
            pods.list(&ListParams::default().labels(&format!("job-name={name}")))
                .await
                .unwrap()
                .items
        }
    };

    let gone = setup
        .jobs()
        .delete("background", &DeleteParams::background())
        .await
        .unwrap();
    assert!(gone.is_right(), "a removed job answers with a Success status");
    assert!(setup.jobs().get_opt("background").await.unwrap().is_none());
    wait_until(
        "background pods gone",
        std::time::Duration::from_secs(20),
        || async { pods_of("background").await.is_empty().then_some(()) },
    )
    .await;

    let pending = setup
        .jobs()
        .delete("foreground", &DeleteParams::foreground())
        .await
        .unwrap();
    let pending = pending.left().expect("the job is held while its pods go");
    assert!(
        pending
            .metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_owned())
    );
    wait_until(
        "foreground job gone",
        std::time::Duration::from_secs(20),
        || async {
            setup
                .jobs()
                .get_opt("foreground")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    assert!(pods_of("foreground").await.is_empty(), "dependents went first");

    setup
        .jobs()
        .delete("orphan", &DeleteParams::default())
        .await
        .unwrap();
    let orphans = pods_of("orphan").await;
    assert_eq!(orphans.len(), 1, "the default for batch/v1 keeps the pods");
    assert!(
        orphans[0]
            .metadata
            .owner_references
            .as_ref()
            .is_none_or(Vec::is_empty)
    );

    setup
        .jobs()
        .create(
            &PostParams::default(),
            &job("short-lived", "true", json!({"ttlSecondsAfterFinished": 0})),
        )
        .await
        .unwrap();
    wait_until(
        "job removed after its TTL",
        std::time::Duration::from_secs(20),
        || async {
            setup
                .jobs()
                .get_opt("short-lived")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;

    let invalid = api_error(
        setup
            .jobs()
            .create(
                &PostParams::default(),
                &typed(json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "bad"}, "spec": {"template": {"spec": {"containers": [
                    {"name": "c", "image": "busybox", "command": ["true"]}]}}}})),
            )
            .await,
    );
    assert_eq!(invalid.code, 422);
    assert!(
        invalid
            .message
            .contains("spec.template.spec.restartPolicy: Unsupported value"),
        "{}",
        invalid.message
    );
    setup.standin.shutdown().await;
}
