//! `httpJobHandler` through a running executor, against a local HTTP server.

use axum::Router;
use axum::routing::post;
use serde_json::json;

use xjob_test_support::next_log_id;

use crate::harness::Running;

async fn start_server() -> std::net::SocketAddr {
    let app = Router::new().route("/hook", post(|body: String| async move { format!("got {body}") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn allowed_host_is_called() {
    let server = start_server().await;
    let running = Running::start_with(|args| args.http_allow_hosts = vec!["127.0.0.1".to_owned()]).await;
    let log_id = next_log_id();
    let param = json!({"url": format!("http://{server}/hook"), "data": "ping"}).to_string();
    running
        .run(
            70,
            log_id,
            json!({"executorHandler": "httpJobHandler", "executorParams": param}),
        )
        .await;
    let result = running.result(log_id).await;
    assert_eq!(result.handle_code, 200, "{:?}", result.handle_msg);
    let log = running.log(log_id);
    assert!(log.contains("StatusCode: 200"), "{log}");
    assert!(log.contains("Response: <br>got ping"), "{log}");
    running.executor.shutdown().await;
}

#[tokio::test]
async fn other_hosts_are_refused() {
    let server = start_server().await;
    let running = Running::start_with(|args| args.http_allow_hosts = vec!["example.com".to_owned()]).await;
    let log_id = next_log_id();
    let url = format!("http://{server}/hook");
    let param = json!({"url": url}).to_string();
    running
        .run(
            71,
            log_id,
            json!({"executorHandler": "httpJobHandler", "executorParams": param}),
        )
        .await;
    let result = running.result(log_id).await;
    let expected = format!("url[{url}] not allowed.");
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (500, Some(expected.as_str()))
    );
    running.executor.shutdown().await;
}
