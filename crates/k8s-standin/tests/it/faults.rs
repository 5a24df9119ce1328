//! Request faults: injected failures with `Retry-After`, delays, the unreachable switch, and the request record.

use std::time::{Duration, Instant};

use kube::api::PostParams;
use xjob_k8s_standin::{Failure, RequestMatch, Verb};

use crate::support::{Setup, api_error, pod};

#[tokio::test]
async fn throttled_requests_are_retried_by_the_client() {
    let setup = Setup::start().await;
    setup.standin.fail_next(
        RequestMatch::verb(Verb::Create).on("pods"),
        1,
        Failure::code(429).retry_after(1),
    );
    let started = Instant::now();
    setup
        .pods()
        .create(&PostParams::default(), &pod("patient", "true"))
        .await
        .expect("created after the retry");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the client honoured Retry-After"
    );
    let creates: Vec<u16> = setup
        .standin
        .requests()
        .iter()
        .filter(|r| r.verb == Some(Verb::Create) && r.resource == "pods")
        .map(|r| r.status)
        .collect();
    assert_eq!(creates, vec![429, 201]);
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn injected_failures_match_verb_resource_and_name() {
    let setup = Setup::start().await;
    setup
        .pods()
        .create(&PostParams::default(), &pod("target", "sleep 30"))
        .await
        .unwrap();
    setup.standin.fail_next(
        RequestMatch::verb(Verb::Get).on("pods").named("target"),
        2,
        Failure::code(500).message("etcd is on fire"),
    );
    let first = api_error(setup.pods().get("target").await);
    assert_eq!(
        (first.code, first.reason.as_str(), first.message.as_str()),
        (500, "InternalError", "etcd is on fire")
    );
    assert!(
        setup.pods().list(&Default::default()).await.is_ok(),
        "lists are not matched"
    );
    assert_eq!(api_error(setup.pods().get("target").await).code, 500);
    assert!(setup.pods().get("target").await.is_ok(), "the fault is used up");

    setup
        .standin
        .fail_next(RequestMatch::resource("jobs"), 1, Failure::code(403));
    assert_eq!(
        api_error(setup.jobs().list(&Default::default()).await).reason,
        "Forbidden"
    );
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn delays_and_unreachable_server() {
    let setup = Setup::start().await;
    setup.standin.delay(
        RequestMatch::verb(Verb::List),
        Duration::from_millis(400),
        Some(1),
    );
    let started = Instant::now();
    setup.pods().list(&Default::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    let started = Instant::now();
    setup.pods().list(&Default::default()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "the delay applied once"
    );

    setup.standin.set_unreachable(true);
    let outcome = tokio::time::timeout(Duration::from_secs(10), setup.pods().get_opt("anything")).await;
    match outcome {
        Ok(Err(kube::Error::Api(status))) => panic!("an unreachable server must not answer: {status:?}"),
        Ok(Err(_)) => {}
        Ok(Ok(found)) => panic!("an unreachable server must not answer: {found:?}"),
        Err(_) => panic!("the client should fail fast on a dropped connection"),
    }
    setup.standin.set_unreachable(false);
    assert!(setup.pods().get_opt("anything").await.unwrap().is_none());
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn the_request_record_shows_what_was_asked() {
    let setup = Setup::start().await;
    setup.standin.clear_requests();
    assert!(
        setup.standin.requests().is_empty(),
        "nothing happens without a client call"
    );
    setup.pods().get_opt("absent").await.unwrap();
    let requests = setup.standin.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/api/v1/namespaces/default/pods/absent");
    assert_eq!(request.verb, Some(Verb::Get));
    assert_eq!(
        (request.namespace.as_deref(), request.name.as_deref()),
        (Some("default"), Some("absent"))
    );
    assert_eq!(request.status, 404);
    setup.standin.shutdown().await;
}
