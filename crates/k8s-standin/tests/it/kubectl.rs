//! The oracle: real `kubectl` against the stand-in (`create -f`, `get -o json`, `get -w`, `wait`, `logs -f`,
//! `delete --wait`). Skipped with a visible line when `kubectl` is not installed.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use xjob_k8s_standin::{Options, StandIn};

/// Runs kubectl with the stand-in's kubeconfig; returns stdout, failing the test on a non-zero exit.
async fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str]) -> String {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        base(kubeconfig, cache).args(args).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
    .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("kubectl prints UTF-8")
}

fn base(kubeconfig: &Path, cache: &Path) -> Command {
    let mut command = Command::new("kubectl");
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--request-timeout=30s")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn kubectl_installed() -> bool {
    match Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
    {
        Ok(status) => status.success(),
        Err(_) => false,
    }
}

#[tokio::test]
async fn kubectl_oracle() {
    if !kubectl_installed().await {
        // Written to the stderr handle rather than through `eprintln!`, which the test harness captures, so the
        // skip is visible in every test run.
        let _ = writeln!(
            std::io::stderr(),
            "skipping kubectl oracle test: kubectl not on PATH"
        );
        return;
    }
    let standin = StandIn::start(Options::tls()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let cache = dir.path().join("cache");
    standin.write_kubeconfig(&kubeconfig).unwrap();
    let run = |args: &'static [&'static str]| kubectl(&kubeconfig, &cache, args);

    let manifest = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "oracle", "labels": {"app": "oracle"}},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 2, "containers": [{
            "name": "main", "image": "busybox",
            "command": ["sh", "-c", "echo start; sleep 1; for i in 1 2 3; do echo line $i; done"],
        }]},
    });
    let file = dir.path().join("pod.json");
    std::fs::write(&file, manifest.to_string()).unwrap();

    // Watch from before the creation so the whole life is seen.
    let mut watch = base(&kubeconfig, &cache)
        .args(["get", "pods", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w starts");
    let mut watch_lines = BufReader::new(watch.stdout.take().unwrap()).lines();

    let created = kubectl(
        &kubeconfig,
        &cache,
        &["create", "--validate=false", "-f", file.to_str().unwrap()],
    )
    .await;
    assert_eq!(created.trim(), "pod/oracle created");
    let first = tokio::time::timeout(Duration::from_secs(30), watch_lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.as_deref(), Some("pod/oracle"));

    let fetched: Value = serde_json::from_str(&run(&["get", "pod", "oracle", "-o", "json"]).await).unwrap();
    assert_eq!(fetched["metadata"]["name"], "oracle");
    assert_eq!(fetched["metadata"]["labels"]["app"], "oracle");

    let ready = run(&["wait", "--for=condition=Ready", "pod/oracle", "--timeout=30s"]).await;
    assert_eq!(ready.trim(), "pod/oracle condition met");
    let logs = run(&["logs", "-f", "oracle"]).await;
    assert_eq!(logs, "start\nline 1\nline 2\nline 3\n");
    let phase = run(&[
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        "pod/oracle",
        "--timeout=30s",
    ])
    .await;
    assert_eq!(phase.trim(), "pod/oracle condition met");
    let listed = run(&[
        "get",
        "pods",
        "-l",
        "app=oracle",
        "-o",
        "jsonpath={.items[*].status.phase}",
    ])
    .await;
    assert_eq!(listed, "Succeeded");

    let deleted = run(&["delete", "pod", "oracle", "--wait", "--timeout=30s"]).await;
    assert_eq!(deleted.trim(), "pod \"oracle\" deleted");
    let missing = base(&kubeconfig, &cache)
        .args(["get", "pod", "oracle"])
        .output()
        .await
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("pods \"oracle\" not found"));

    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "oracle-job"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo job done"]}]}}},
    });
    let job_file = dir.path().join("job.json");
    std::fs::write(&job_file, job.to_string()).unwrap();
    kubectl(
        &kubeconfig,
        &cache,
        &["create", "--validate=false", "-f", job_file.to_str().unwrap()],
    )
    .await;
    let complete = run(&[
        "wait",
        "--for=condition=complete",
        "job/oracle-job",
        "--timeout=30s",
    ])
    .await;
    assert_eq!(complete.trim(), "job.batch/oracle-job condition met");
    assert_eq!(run(&["logs", "job/oracle-job"]).await, "job done\n");
    let removed = run(&[
        "delete",
        "job",
        "oracle-job",
        "--cascade=background",
        "--wait",
        "--timeout=30s",
    ])
    .await;
    assert_eq!(removed.trim(), "job.batch \"oracle-job\" deleted");

    watch.kill().await.unwrap();
    standin.shutdown().await;
}
