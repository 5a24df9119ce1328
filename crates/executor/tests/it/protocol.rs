//! Every endpoint in every generation, the access checks, and malformed requests.

use std::sync::Arc;

use xjob_executor::{AdminGenerationMode, Executor, ExecutorConfig, ExecutorError};
use xjob_protocol::{ExecutorEndpoint, Generation, LogId, LogRequest, message};
use xjob_test_support::{StandinAdmin, wait_until};

use crate::harness::{self, APP, Observed, Running, TOKEN, WAIT, callback, trigger};

#[tokio::test]
async fn every_endpoint_in_every_generation() {
    for generation in Generation::ALL {
        let Running {
            admin,
            dir: _dir,
            observed: _,
            executor,
            address,
        } = Running::start(generation).await;
        assert_eq!(
            admin.registrations()[0].registry_value.as_deref(),
            Some(address.as_str())
        );
        assert_eq!(admin.registrations()[0].registry_key.as_deref(), Some(APP));

        let beat = admin.beat(&address).await;
        assert_eq!(beat.status, 200);
        assert_eq!(beat.content_type, "text/html;charset=UTF-8");
        let expected_beat = match generation {
            Generation::G1 => r#"{"code":200}"#,
            Generation::G2 | Generation::G3 => r#"{"code":200,"msg":"Success"}"#,
        };
        assert_eq!(beat.body, expected_beat, "{generation}");

        let reply = admin.trigger(&address, &trigger(1, 11, "echo", "p")).await;
        assert_eq!(reply.code(), 200, "{generation}: {}", reply.body);
        let result = callback(&admin, 11).await;
        assert_eq!(result.handle_code, 200);
        assert_eq!(result.handle_msg.as_deref(), Some("p 0/1"));
        let date = result.log_date_time;

        assert!(
            wait_until(WAIT, || async {
                admin.idle_beat(&address, 1).await.code() == 200
            })
            .await,
            "{generation}: idle after the execution"
        );
        assert_eq!(admin.idle_beat(&address, 99).await.body, expected_beat);

        let request = LogRequest {
            log_id: LogId(11),
            log_date_time: date,
            from_line_num: 1,
        };
        let log = admin.log(&address, request).await;
        let payload_key = if generation == Generation::G1 {
            "content"
        } else {
            "data"
        };
        let page = &log.json[payload_key];
        assert_eq!(page["fromLineNum"], 1, "{generation}: {}", log.body);
        let content = page["logContent"].as_str().unwrap();
        assert!(content.contains("xxl-job job execute start"), "{content}");
        assert!(content.contains("] param p\n"), "{content}");
        assert!(content.contains("handleCode=200, handleMsg = p 0/1"), "{content}");
        assert_eq!(page["isEnd"], false);

        let kill = admin.kill(&address, 1).await;
        assert_eq!(kill.body, expected_beat, "{generation}: thread existed");
        let kill_again = admin.kill(&address, 1).await;
        let expected_kill = match generation {
            Generation::G1 => r#"{"code":200,"msg":"job thread already killed."}"#,
            Generation::G2 | Generation::G3 => {
                r#"{"code":200,"msg":"Success","data":"job thread already killed."}"#
            }
        };
        assert_eq!(kill_again.body, expected_kill, "{generation}");

        executor.shutdown().await;
        assert_eq!(admin.removals().len(), 1, "{generation}: deregistered");
        assert_eq!(
            admin.removals()[0].registry_value.as_deref(),
            Some(address.as_str())
        );
    }
}

#[tokio::test]
async fn fixed_generation_accepts_only_its_trigger_path() {
    let admin = harness::admin(Generation::G2).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = harness::config(&admin, dir.path());
    config.admin_generation = AdminGenerationMode::Fixed(Generation::G2);
    let executor = harness::start(config, &Arc::new(Observed::default())).await;
    let base = format!("http://{}", executor.local_addr());
    let reply = admin
        .send_to_url(&format!("{base}/trigger"), b"{}".to_vec())
        .await;
    assert_eq!(
        reply.msg(),
        Some("invalid request, uri-mapping(/trigger) not found.")
    );
    let reply = admin.send_to_url(&format!("{base}/beat?x=1"), Vec::new()).await;
    assert_eq!(
        reply.msg(),
        Some("invalid request, uri-mapping(/beat?x=1) not found.")
    );
    let reply = admin.send_to_url(&format!("{base}/beat/"), Vec::new()).await;
    assert_eq!(
        reply.msg(),
        Some("invalid request, uri-mapping(/beat/) not found.")
    );
    executor.shutdown().await;
}

#[tokio::test]
async fn access_checks() {
    let dir = tempfile::tempdir().unwrap();
    let admin = harness::admin(Generation::G2).await;
    let executor = harness::start(
        harness::config(&admin, dir.path()),
        &Arc::new(Observed::default()),
    )
    .await;
    let address = executor.address().to_owned();

    let wrong_g2 = StandinAdmin::start(Generation::G2, Some("other"), APP).await;
    assert_eq!(
        wrong_g2.beat(&address).await.msg(),
        Some("The access token is wrong.")
    );
    let none_g1 = StandinAdmin::start(Generation::G1, None, APP).await;
    assert_eq!(
        none_g1.beat(&address).await.msg(),
        Some("The access token is wrong.")
    );
    let wrong_app = StandinAdmin::start(Generation::G3, Some(TOKEN), "other-app").await;
    assert_eq!(
        wrong_app.beat(&address).await.msg(),
        Some("invalid request, accessToken or appname invalid.")
    );
    let wrong_token = StandinAdmin::start(Generation::G3, Some("other"), APP).await;
    assert_eq!(
        wrong_token
            .trigger(&address, &trigger(1, 1, "echo", ""))
            .await
            .msg(),
        Some("invalid request, accessToken or appname invalid.")
    );
    // A G3 request (the /trigger path) without any credentials.
    let plain = reqwest::Client::new();
    let reply = plain
        .post(format!("{address}trigger"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.text().await.unwrap(),
        r#"{"code":500,"msg":"invalid request, accessToken or appname is empty."}"#
    );
    let right = harness::admin(Generation::G3).await;
    assert_eq!(right.beat(&address).await.code(), 200);
    executor.shutdown().await;

    let mut insecure = ExecutorConfig::new(APP, vec![admin.base_url()], None);
    insecure.log_path = dir.path().to_owned();
    insecure.bind = "127.0.0.1:0".parse().unwrap();
    let refused = Executor::builder(insecure.clone()).start().await;
    assert!(
        matches!(refused, Err(ExecutorError::MissingToken)),
        "refuses to start without a token"
    );
    insecure.allow_no_token = true;
    let open = Executor::builder(insecure).start().await.unwrap();
    assert_eq!(none_g1.beat(open.address()).await.code(), 200);
    open.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_failure_envelopes() {
    let admin = harness::admin(Generation::G3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = harness::config(&admin, dir.path());
    config.max_body_bytes = 1024;
    let executor = harness::start(config, &Arc::new(Observed::default())).await;
    let address = executor.address().to_owned();

    let bad = admin
        .send(&address, ExecutorEndpoint::Trigger, b"{\"jobId\":".to_vec())
        .await;
    assert_eq!(bad.status, 200);
    assert_eq!(bad.code(), 500);
    assert!(
        bad.msg().unwrap().starts_with("request error:invalid JSON body"),
        "{}",
        bad.body
    );
    let wrong_type = admin
        .send(&address, ExecutorEndpoint::Kill, b"{\"jobId\":\"x\"}".to_vec())
        .await;
    assert!(
        wrong_type.msg().unwrap().starts_with("request error:"),
        "{}",
        wrong_type.body
    );
    let empty = admin.send(&address, ExecutorEndpoint::IdleBeat, Vec::new()).await;
    assert_eq!(empty.msg(), Some("request error:request body is empty"));
    let oversized = admin
        .send(&address, ExecutorEndpoint::Log, vec![b' '; 4096])
        .await;
    assert_eq!(oversized.code(), 500);
    assert_eq!(
        oversized.msg(),
        Some("request error:request body larger than 1024 bytes or unreadable")
    );
    let get = reqwest::get(format!("{address}beat"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        get,
        format!(r#"{{"code":500,"msg":"{}"}}"#, message::METHOD_NOT_SUPPORTED)
    );
    let unknown = admin.send_to_url(&format!("{address}nope"), Vec::new()).await;
    assert_eq!(
        unknown.msg(),
        Some("invalid request, uri-mapping(/nope) not found.")
    );
    // The executor still serves after all of that.
    assert_eq!(admin.beat(&address).await.code(), 200);
    executor.shutdown().await;
}

#[tokio::test]
async fn base_path_prefixes_every_endpoint() {
    let admin = harness::admin(Generation::G3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = harness::config(&admin, dir.path());
    config.base_path = "/exec".to_owned();
    let executor = harness::start(config, &Arc::new(Observed::default())).await;
    assert!(executor.address().ends_with("/exec/"), "{}", executor.address());
    assert_eq!(admin.beat(executor.address()).await.code(), 200);
    let root = format!("http://{}/beat", executor.local_addr());
    assert_eq!(admin.send_to_url(&root, Vec::new()).await.code(), 500);
    executor.shutdown().await;
}
