//! `commandJobHandler` through a running executor.

use serde_json::json;

use xjob_test_support::next_log_id;

use crate::harness::Running;

#[tokio::test]
async fn command_output_and_result() {
    let running = Running::start().await;
    let log_id = next_log_id();
    running
        .run(
            60,
            log_id,
            json!({"executorHandler": "commandJobHandler", "executorParams": "echo hello there"}),
        )
        .await;
    let result = running.result(log_id).await;
    assert_eq!(result.handle_code, 200, "{:?}", result.handle_msg);
    assert!(running.log(log_id).contains("hello there\n"));

    let log_id = next_log_id();
    running
        .run(
            60,
            log_id,
            json!({"executorHandler": "commandJobHandler", "executorParams": ""}),
        )
        .await;
    let result = running.result(log_id).await;
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (500, Some("command empty."))
    );

    let log_id = next_log_id();
    running
        .run(
            60,
            log_id,
            json!({"executorHandler": "commandJobHandler", "executorParams": "false"}),
        )
        .await;
    let result = running.result(log_id).await;
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (500, Some("command exit value(1) is failed"))
    );
    running.executor.shutdown().await;
}
