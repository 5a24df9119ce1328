//! The client against in-process executors on loopback that answer like upstream's executors of each
//! generation, with the golden request and reply files of the protocol crate.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use xjob_protocol::{LogId, code};

use super::*;
use crate::route::{ProbeAttempt, ProbeKind, RouteStrategy, Router};

/// A golden wire file of the protocol crate, without the trailing newline kept for editors.
macro_rules! golden {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../protocol/tests/golden/",
            $path
        ))
        .trim_end_matches('\n')
    };
}

/// How the fake executor answers one path.
#[derive(Clone, Copy)]
enum Reply {
    /// HTTP status and body.
    Send(u16, &'static str),
    /// A temporary redirect (307, which keeps method and body) to the location.
    Redirect(&'static str),
    /// Never answers.
    Hang,
}

/// One request as the fake executor saw it.
#[derive(Clone, Debug)]
struct Seen {
    peer: SocketAddr,
    path: String,
    token: Option<String>,
    app_name: Option<String>,
    content_type: Option<String>,
    accept_charset: Option<String>,
    body: String,
}

#[derive(Clone)]
struct Executor {
    replies: Arc<HashMap<&'static str, Reply>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Executor {
    /// Serves `replies` on `127.0.0.1:0`; unknown paths get upstream's "uri-mapping not found" reply.
    async fn start(replies: &[(&'static str, Reply)]) -> (String, Executor) {
        let executor = Executor {
            replies: Arc::new(replies.iter().copied().collect()),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let app = axum::Router::new().fallback(answer).with_state(executor.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
        (address, executor)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(
    State(executor): State<Executor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).map(|value| value.to_str().unwrap().to_owned());
    executor.seen.lock().unwrap().push(Seen {
        peer,
        path: uri.path().to_owned(),
        token: header(ACCESS_TOKEN_HEADER),
        app_name: header(APP_NAME_HEADER),
        content_type: header("content-type"),
        accept_charset: header("accept-charset"),
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    match executor.replies.get(uri.path()).copied() {
        Some(Reply::Send(status, body)) => {
            (StatusCode::from_u16(status).unwrap(), body.to_owned()).into_response()
        }
        Some(Reply::Redirect(location)) => {
            (StatusCode::TEMPORARY_REDIRECT, [("location", location)]).into_response()
        }
        Some(Reply::Hang) => std::future::pending().await,
        None => {
            let body = format!(
                r#"{{"code":500,"msg":"invalid request, uri-mapping({}) not found."}}"#,
                uri.path()
            );
            (StatusCode::OK, body).into_response()
        }
    }
}

fn client(timeout: Duration) -> ExecutorClient {
    ExecutorClient::new(&ClientOptions {
        timeout,
        ..ClientOptions::default()
    })
    .unwrap()
}

fn target<'a>(address: &'a str, generation: Generation, token: Option<&'a str>) -> ExecutorTarget<'a> {
    ExecutorTarget {
        address,
        generation,
        access_token: token,
        app_name: Some("demo-app"),
    }
}

fn trigger_request() -> TriggerRequest {
    serde_json::from_str(golden!("g3/admin/trigger_request.json")).unwrap()
}

fn log_request(from_line_num: i32) -> LogRequest {
    LogRequest {
        log_id: LogId(88231),
        log_date_time: 1_781_856_000_000,
        from_line_num,
    }
}

#[tokio::test]
async fn g3_executor() {
    let (address, executor) = Executor::start(&[
        (
            "/trigger",
            Reply::Send(200, golden!("g3/executor/trigger_reply.json")),
        ),
        ("/beat", Reply::Send(200, golden!("g3/executor/beat_reply.json"))),
        (
            "/idleBeat",
            Reply::Send(200, golden!("g3/executor/idle_beat_reply_busy.json")),
        ),
        (
            "/kill",
            Reply::Send(200, golden!("g3/executor/kill_reply_no_thread.json")),
        ),
        ("/log", Reply::Send(200, golden!("g3/executor/log_reply.json"))),
    ])
    .await;
    let client = client(Duration::from_secs(5));
    let target = target(&address, Generation::G3, Some("default_token"));

    let trigger = client.trigger(&target, &trigger_request()).await.unwrap();
    assert_eq!(
        trigger,
        Envelope {
            code: 200,
            msg: Some("Success".into()),
            data: None
        }
    );
    let beat = client.beat(&target).await.unwrap();
    assert_eq!(
        beat,
        Envelope {
            code: 200,
            msg: Some("Success".into()),
            data: None
        }
    );
    let idle = client.idle_beat(&target, JobId(12)).await.unwrap();
    assert_eq!(
        idle,
        Envelope::failure("job thread is running or has trigger queue.")
    );
    let kill = client.kill(&target, JobId(12)).await.unwrap();
    assert_eq!(kill.data.as_deref(), Some("job thread already killed."));
    let log = client.log(&target, &log_request(1)).await.unwrap();
    let log = log.data.unwrap();
    assert_eq!((log.from_line_num, log.to_line_num, log.is_end), (1, 3, false));
    assert!(
        log.log_content.ends_with("handleMsg = null\n"),
        "{}",
        log.log_content
    );

    let seen = executor.seen();
    let paths: Vec<&str> = seen.iter().map(|request| request.path.as_str()).collect();
    assert_eq!(paths, ["/trigger", "/beat", "/idleBeat", "/kill", "/log"]);
    let bodies: Vec<&str> = seen.iter().map(|request| request.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            golden!("g3/admin/trigger_request.json"),
            golden!("g3/admin/beat_request.json"),
            golden!("g3/admin/idle_beat_request.json"),
            golden!("g3/admin/kill_request.json"),
            golden!("g3/admin/log_request.json"),
        ]
    );
    for request in &seen {
        assert_eq!(
            request.token.as_deref(),
            Some("default_token"),
            "{}",
            request.path
        );
        assert_eq!(request.app_name.as_deref(), Some("demo-app"), "{}", request.path);
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/json;charset=UTF-8")
        );
        assert_eq!(request.accept_charset.as_deref(), Some("UTF-8"));
        // Every call reused the one pooled keep-alive connection.
        assert_eq!(request.peer, seen[0].peer, "{}", request.path);
    }
}

#[tokio::test]
async fn g1_executor() {
    let (address, executor) = Executor::start(&[
        (
            "/run",
            Reply::Send(200, golden!("g1/executor/run_reply_repeat.json")),
        ),
        ("/beat", Reply::Send(200, golden!("g1/executor/beat_reply.json"))),
        (
            "/kill",
            Reply::Send(200, golden!("g1/executor/kill_reply_no_thread.json")),
        ),
        ("/log", Reply::Send(200, golden!("g1/executor/log_reply.json"))),
    ])
    .await;
    let client = client(Duration::from_secs(5));
    // A blank token is not sent by G1 admins.
    let target = target(&address, Generation::G1, Some(" "));

    let trigger = client.trigger(&target, &trigger_request()).await.unwrap();
    assert_eq!(trigger.code, code::FAILURE);
    assert_eq!(trigger.msg.as_deref(), Some("repeate trigger job, logId:88231"));
    assert_eq!(client.beat(&target).await.unwrap(), Envelope::success());
    let kill = client.kill(&target, JobId(12)).await.unwrap();
    assert_eq!(
        kill,
        Envelope {
            code: 200,
            msg: Some("job thread already killed.".into()),
            data: None
        }
    );
    let log = client.log(&target, &log_request(4)).await.unwrap();
    assert_eq!(
        log.data,
        Some(LogResult {
            from_line_num: 4,
            to_line_num: 3,
            log_content: String::new(),
            is_end: false
        })
    );

    let seen = executor.seen();
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|request| (request.path.as_str(), request.body.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("/run", golden!("g3/admin/trigger_request.json")),
            ("/beat", golden!("g1/admin/beat_request.json")),
            ("/kill", golden!("g1/admin/kill_request.json")),
            ("/log", golden!("g1/admin/log_request.json")),
        ]
    );
    for request in &seen {
        assert_eq!(request.token, None, "{}", request.path);
        assert_eq!(request.app_name, None, "{}", request.path);
        assert_eq!(
            request.accept_charset.as_deref(),
            Some("application/json;charset=UTF-8")
        );
    }
}

#[tokio::test]
async fn g2_executor_and_unknown_path() {
    let (address, executor) = Executor::start(&[
        ("/run", Reply::Send(200, golden!("g2/executor/run_reply.json"))),
        (
            "/log",
            Reply::Send(200, golden!("g2/executor/log_reply_file_missing.json")),
        ),
    ])
    .await;
    let client = client(Duration::from_secs(5));
    let g2 = target(&address, Generation::G2, Some(""));
    assert_eq!(
        client.trigger(&g2, &trigger_request()).await.unwrap().code,
        code::SUCCESS
    );
    let log = client.log(&g2, &log_request(1)).await.unwrap().data.unwrap();
    assert_eq!(
        (log.log_content.as_str(), log.is_end),
        ("readLog fail, logFile not exists", true)
    );
    // A G3 call to a G2 executor is answered, not failed: the executor does not know `/trigger`.
    let g3 = target(&address, Generation::G3, Some("t"));
    let refused = client.trigger(&g3, &trigger_request()).await.unwrap();
    assert_eq!(
        refused,
        Envelope::failure("invalid request, uri-mapping(/trigger) not found.")
    );

    let seen = executor.seen();
    // G2 sends a configured token even when it is empty, and no AppName.
    assert_eq!(seen[0].token.as_deref(), Some(""));
    assert_eq!(seen[0].app_name, None);
    assert_eq!(
        seen[1].body,
        golden!("g2/admin/log_request.json").replace(":4}", ":1}")
    );
}

#[tokio::test]
async fn failures_are_told_apart() {
    let (address, _executor) = Executor::start(&[
        ("/beat", Reply::Hang),
        ("/kill", Reply::Send(502, "Bad Gateway")),
        ("/idleBeat", Reply::Send(200, "<html>busy</html>")),
        (
            "/log",
            Reply::Send(200, r#"{"code":200,"data":{"fromLineNum":"one"}}"#),
        ),
        (
            "/run",
            Reply::Send(200, r#"{"code":200,"data":{"accepted":true}}"#),
        ),
    ])
    .await;
    let client = client(Duration::from_millis(300));
    let target = target(&address, Generation::G2, None);

    let timeout = client.beat(&target).await.unwrap_err();
    assert!(
        matches!(timeout, ClientError::Timeout { timeout, .. } if timeout == Duration::from_millis(300)),
        "{timeout:?}"
    );
    assert!(timeout.is_unreachable());
    assert_eq!(
        timeout.to_string(),
        format!("executor {address}beat did not answer within 300ms")
    );

    let status = client.kill(&target, JobId(1)).await.unwrap_err();
    assert!(
        matches!(status, ClientError::Status { status: 502, .. }),
        "{status:?}"
    );
    assert!(!status.is_unreachable());

    let garbage = client.idle_beat(&target, JobId(1)).await.unwrap_err();
    assert!(matches!(garbage, ClientError::BadReply { .. }), "{garbage:?}");
    let bad_log = client.log(&target, &log_request(1)).await.unwrap_err();
    assert!(matches!(bad_log, ClientError::BadReply { .. }), "{bad_log:?}");

    // An unexpected payload does not fail a text call: it is kept as JSON text.
    let odd = client.trigger(&target, &trigger_request()).await.unwrap();
    assert_eq!(odd.data.as_deref(), Some(r#"{"accepted":true}"#));

    let closed = closed_address().await;
    let refused = client
        .beat(&ExecutorTarget {
            address: &closed,
            ..target
        })
        .await
        .unwrap_err();
    assert!(matches!(refused, ClientError::Refused { .. }), "{refused:?}");
    assert!(refused.is_unreachable());

    let invalid = client
        .beat(&ExecutorTarget {
            address: "not an address",
            ..target
        })
        .await
        .unwrap_err();
    assert!(
        matches!(invalid, ClientError::InvalidAddress { .. }),
        "{invalid:?}"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (address, executor) = Executor::start(&[
        ("/run", Reply::Redirect("/elsewhere")),
        ("/elsewhere", Reply::Send(200, r#"{"code":200}"#)),
    ])
    .await;
    let client = client(Duration::from_secs(5));
    let error = client
        .trigger(
            &target(&address, Generation::G2, Some("s3cret")),
            &trigger_request(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::Status { status: 307, .. }),
        "{error:?}"
    );
    let paths: Vec<String> = executor.seen().into_iter().map(|seen| seen.path).collect();
    assert_eq!(paths, ["/run"], "the redirect target never saw the request");
}

/// An address on loopback where nothing listens any more.
async fn closed_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    address
}

#[tokio::test]
async fn failover_over_real_executors() {
    let (busy, _busy_executor) = Executor::start(&[
        ("/beat", Reply::Send(200, golden!("g3/executor/beat_reply.json"))),
        (
            "/idleBeat",
            Reply::Send(200, golden!("g3/executor/idle_beat_reply_busy.json")),
        ),
    ])
    .await;
    let (idle, _idle_executor) = Executor::start(&[(
        "/idleBeat",
        Reply::Send(200, golden!("g3/executor/idle_beat_reply.json")),
    )])
    .await;
    let closed = closed_address().await;
    let probe = GroupProbe {
        client: client(Duration::from_secs(5)),
        generation: Generation::G3,
        access_token: Some("default_token".into()),
        app_name: Some("demo-app".into()),
    };
    let router = Router::new();
    let addresses = vec![closed.clone(), busy.clone(), idle.clone()];

    let routed = router
        .route(RouteStrategy::Failover, JobId(12), &addresses, 0, &probe)
        .await
        .unwrap();
    assert_eq!(routed.address, busy);
    assert_eq!(routed.probes.len(), 2);
    let refused = &routed.probes[0];
    assert_eq!(
        (refused.kind, refused.address.as_str(), refused.code),
        (ProbeKind::Beat, closed.as_str(), 500)
    );
    let refused_msg = refused.msg.as_deref().unwrap();
    assert!(
        refused_msg.starts_with(&format!("cannot connect to executor {closed}beat")),
        "{refused_msg}"
    );

    let routed = router
        .route(RouteStrategy::Busyover, JobId(12), &addresses, 0, &probe)
        .await
        .unwrap();
    assert_eq!(routed.address, idle);
    assert_eq!(
        routed.probes[1..],
        [
            ProbeAttempt {
                kind: ProbeKind::IdleBeat,
                address: busy.clone(),
                code: 500,
                msg: Some("job thread is running or has trigger queue.".into()),
            },
            ProbeAttempt {
                kind: ProbeKind::IdleBeat,
                address: idle.clone(),
                code: 200,
                msg: Some("Success".into())
            },
        ]
    );
}
