//! Mounted mode: the executor's routes merged into a host axum application under a base path, served by the
//! host's own server.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use xjob_executor::ExecutorError;
use xjob_protocol::Generation;
use xjob_test_support::wait_until;

use crate::harness::{self, Observed, WAIT, accept, callback, trigger};

#[tokio::test]
async fn mounted_in_a_host_application_under_a_base_path() {
    let admin = harness::admin(Generation::G3).await;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host_addr = listener.local_addr().unwrap();
    let address = format!("http://{host_addr}/jobs/");
    let mut config = harness::config(&admin, dir.path());
    config.base_path = "/jobs".to_owned();
    config.address = Some(address.clone());
    let bind = config.bind;
    let (executor, routes) = harness::builder(config, &Arc::new(Observed::default()))
        .start_mounted()
        .await
        .unwrap();
    assert_eq!(executor.address(), address);
    assert_eq!(executor.local_addr(), bind);

    let host = Router::new()
        .route("/health", get(|| async { "host ok" }))
        .merge(routes);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, host)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    // The executor registers the configured address and serves every endpoint through the host.
    assert!(
        wait_until(WAIT, || async {
            admin
                .registrations()
                .iter()
                .any(|registration| registration.registry_value.as_deref() == Some(address.as_str()))
        })
        .await,
        "registered as {address}"
    );
    assert_eq!(admin.beat(&address).await.code(), 200);
    assert_eq!(admin.idle_beat(&address, 1).await.code(), 200);
    accept(&admin, &address, &trigger(1, 1, "echo", "mounted")).await;
    assert_eq!(
        callback(&admin, 1).await.handle_msg.as_deref(),
        Some("mounted 0/1")
    );

    // The host keeps its own routes and its own answer for unknown paths.
    let client = reqwest::Client::new();
    let health = client
        .get(format!("http://{host_addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "host ok");
    let unknown = client
        .post(format!("http://{host_addr}/jobs/unknown"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let outside = client
        .post(format!("http://{host_addr}/run"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        outside.status(),
        404,
        "executor endpoints live only under the base path"
    );

    executor.shutdown().await;
    assert_eq!(admin.removals().len(), 1, "deregistered at shutdown");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn mounting_requires_an_address() {
    let admin = harness::admin(Generation::G3).await;
    let dir = tempfile::tempdir().unwrap();
    let config = harness::config(&admin, dir.path());
    let refused = harness::builder(config, &Arc::new(Observed::default()))
        .start_mounted()
        .await;
    assert!(
        matches!(refused, Err(ExecutorError::InvalidConfig(ref text)) if text.contains("address")),
        "{:?}",
        refused.as_ref().err()
    );
}
