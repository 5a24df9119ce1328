//! The real-cluster mode: when `K8S_E2E_KUBECONFIG` (or the older `XJOB_TEST_KUBECONFIG`) names a kubeconfig,
//! a busybox pod runs through the executor on that cluster (success with its output copied, then a failing
//! exit code). Otherwise one line says it is skipped.

use std::time::Duration;

use serde_json::json;
use xjob_executor::Executor;
use xjob_k8s_executor::config::{ApiMode, Host, KubernetesConfig};
use xjob_k8s_executor::{HANDLER_NAME, KubernetesExecutor};
use xjob_protocol::Generation;
use xjob_test_support::{StandinAdmin, next_log_id, wait_until};

use crate::rig::{APP, TOKEN, executor_config, log_file, trigger};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_pods_on_a_real_cluster() {
    let Some(kubeconfig) = ["K8S_E2E_KUBECONFIG", "XJOB_TEST_KUBECONFIG"]
        .into_iter()
        .find_map(|name| std::env::var_os(name).filter(|value| !value.is_empty()))
    else {
        eprintln!("skipping real-cluster test: K8S_E2E_KUBECONFIG not set");
        return;
    };
    let config = KubernetesConfig {
        mode: ApiMode::Kubeconfig,
        kubeconfig: Some(kubeconfig.into()),
        startup_timeout: Duration::from_secs(120),
        ..KubernetesConfig::default()
    };
    let settings = config
        .validate(&Host {
            in_cluster_namespace: None,
            host_name: format!("xjob-it-{}", std::process::id()),
        })
        .unwrap();
    let kubernetes = KubernetesExecutor::connect(settings, false).await.unwrap();
    let admin = StandinAdmin::start(Generation::G3, Some(TOKEN), APP).await;
    let logs = tempfile::tempdir().unwrap();
    let executor = Executor::builder(executor_config(&admin, logs.path()))
        .handler_arc(HANDLER_NAME, kubernetes.handler())
        .start()
        .await
        .unwrap();
    let manifest = |script: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: xjob-it}}\nspec:\n  containers: [{{name: main, image: busybox, command: [sh, -c, {}]}}]\n",
            serde_json::to_string(script).unwrap()
        )
    };
    let ok = trigger(1, next_log_id(), &manifest("echo from-cluster"), json!({}));
    let failing = trigger(2, next_log_id(), &manifest("exit 3"), json!({}));
    for request in [&ok, &failing] {
        assert_eq!(admin.trigger(executor.address(), request).await.code(), 200);
    }
    let done = wait_until(Duration::from_secs(300), || async {
        admin.callback_for(ok.log_id.0).is_some() && admin.callback_for(failing.log_id.0).is_some()
    })
    .await;
    assert!(done, "no results from the cluster");
    assert_eq!(admin.callback_for(ok.log_id.0).unwrap().handle_code, 200);
    let failure = admin.callback_for(failing.log_id.0).unwrap();
    assert_eq!(failure.handle_code, 500);
    assert!(failure.handle_msg.unwrap().contains("exit 3"));
    let log = std::fs::read_to_string(log_file(logs.path(), &ok)).unwrap();
    assert!(log.lines().any(|line| line == "from-cluster"), "{log}");
    executor.shutdown().await;
    kubernetes.shutdown().await;
}
