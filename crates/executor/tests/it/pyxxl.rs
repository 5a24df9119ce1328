//! The SDK executor and Python's pyxxl 0.4.8 (an executor written by others for the G1/G2 protocol) side by
//! side: the same admin requests go to both and the replies are compared. Where they differ the spec decides,
//! and each difference is asserted here with the reason ours keeps its answer. Skipped without
//! `XJOB_TEST_PYXXL_PYTHON` (see `xjob_test_support::pyxxl`).
//!
//! Both register with one G2 stand-in admin, so both also report their results the same way: by callback,
//! 200 for a finished job and 500 for a killed one.

use std::time::Duration;

use serde_json::{Value, json};
use xjob_protocol::{Generation, message};
use xjob_test_support::pyxxl::{ECHO_HANDLER, PyxxlExecutor, PyxxlSettings, SLEEP_HANDLER, python};
use xjob_test_support::{next_log_id, trigger_body, wait_until};

use crate::harness::{APP, Running, TOKEN, WAIT};

/// A reply as it came over the wire.
#[derive(Debug)]
struct Wire {
    status: u16,
    content_type: String,
    json: Value,
}

impl Wire {
    fn code(&self) -> Option<i64> {
        self.json["code"].as_i64()
    }

    fn msg(&self) -> Option<&str> {
        self.json["msg"].as_str()
    }
}

/// Posts `body` to `<address>/<path>` with a G2 admin's headers and `token`.
async fn post(http: &reqwest::Client, address: &str, path: &str, token: &str, body: &[u8]) -> Wire {
    let response = http
        .post(format!("{}/{path}", address.trim_end_matches('/')))
        .header("Content-Type", "application/json;charset=UTF-8")
        .header("Accept-Charset", "UTF-8")
        .header("XXL-JOB-ACCESS-TOKEN", token)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap();
    Wire {
        status,
        content_type,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

fn run_body(job_id: i32, log_id: i64, handler: &str, param: &str) -> Vec<u8> {
    let body = trigger_body(
        job_id,
        log_id,
        json!({"executorHandler": handler, "executorParams": param}),
    );
    body.to_string().into_bytes()
}

#[tokio::test]
async fn sdk_and_pyxxl_answer_the_same_requests_as_the_spec_says() {
    let Some(python) = python() else { return };
    let ours = Running::start(Generation::G2).await;
    let admin = &ours.admin;
    let pyxxl = PyxxlExecutor::start(
        &python,
        &PyxxlSettings {
            admin_api: format!("{}/api/", admin.base_url()),
            app_name: APP.to_owned(),
            access_token: Some(TOKEN.to_owned()),
        },
    )
    .await;
    assert!(
        wait_until(WAIT, || async {
            admin
                .registrations()
                .iter()
                .any(|registration| registration.registry_value.as_deref() == Some(pyxxl.address()))
        })
        .await,
        "pyxxl registers with the stand-in admin; its output:\n{}",
        pyxxl.output()
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let both = |path: &'static str, token: &'static str, theirs: Vec<u8>, mine: Vec<u8>| {
        let http = &http;
        let (pyxxl_address, our_address) = (pyxxl.address(), ours.address.as_str());
        async move {
            let theirs = post(http, pyxxl_address, path, token, &theirs).await;
            let mine = post(http, our_address, path, token, &mine).await;
            (theirs, mine)
        }
    };
    let same = |path, token, body: Vec<u8>| both(path, token, body.clone(), body);

    // /beat: both succeed. pyxxl's success carries msg null (as upstream before 3.2.0), ours "Success" as a
    // G2 executor does (spec §1.1 and §4.1). Content type: ours is upstream's `text/html;charset=UTF-8`
    // (§1), pyxxl's `application/json`; admins read the body whatever the header says.
    let (theirs, mine) = same("beat", TOKEN, Vec::new()).await;
    assert_eq!(
        (theirs.status, theirs.code(), theirs.msg()),
        (200, Some(200), None)
    );
    assert_eq!(
        (mine.status, mine.code(), mine.msg()),
        (200, Some(200), Some("Success"))
    );
    assert!(theirs.content_type.starts_with("application/json"), "{theirs:?}");
    assert_eq!(mine.content_type, "text/html;charset=UTF-8");

    // /idleBeat of an idle job: both succeed (msg as for /beat).
    let idle = json!({"jobId": 901}).to_string().into_bytes();
    let (theirs, mine) = same("idleBeat", TOKEN, idle.clone()).await;
    assert_eq!(
        (theirs.status, theirs.code(), theirs.msg()),
        (200, Some(200), None)
    );
    assert_eq!(
        (mine.status, mine.code(), mine.msg()),
        (200, Some(200), Some("Success"))
    );

    // /run of a known handler: both accept; pyxxl says "Running", ours "Success" (§4.3). Both then report
    // the result by callback with code 200.
    let (their_log, our_log) = (next_log_id(), next_log_id());
    let (theirs, mine) = both(
        "run",
        TOKEN,
        run_body(902, their_log, ECHO_HANDLER, "same param"),
        run_body(902, our_log, "echo", "same param"),
    )
    .await;
    assert_eq!(
        (theirs.status, theirs.code(), theirs.msg()),
        (200, Some(200), Some("Running"))
    );
    assert_eq!(
        (mine.status, mine.code(), mine.msg()),
        (200, Some(200), Some("Success"))
    );
    for log_id in [their_log, our_log] {
        assert!(
            wait_until(WAIT, || async { admin.callback_for(log_id).is_some() }).await,
            "callback for {log_id}; pyxxl:\n{}",
            pyxxl.output()
        );
        assert_eq!(admin.callback_for(log_id).unwrap().handle_code, 200);
    }
    assert_eq!(pyxxl.echoed(), vec![(their_log, "same param".to_owned())]);

    // /run with a wrong token: pyxxl checks no token at all and runs the job; ours refuses, as §2.1 requires
    // of an executor with a token.
    let (theirs, mine) = both(
        "run",
        "wrong-token",
        run_body(903, next_log_id(), ECHO_HANDLER, "intruder"),
        run_body(903, next_log_id(), "echo", "intruder"),
    )
    .await;
    assert_eq!((theirs.status, theirs.code()), (200, Some(200)));
    assert_eq!(
        (mine.status, mine.code(), mine.msg()),
        (200, Some(500), Some("The access token is wrong."))
    );

    // /run of an unknown handler: both refuse with 500; the texts differ, ours is upstream's (§4.3).
    let (theirs, mine) = same("run", TOKEN, run_body(904, next_log_id(), "noSuchHandler", "")).await;
    assert_eq!(
        (theirs.status, theirs.code(), theirs.msg()),
        (200, Some(500), Some("handler noSuchHandler not found."))
    );
    assert_eq!(
        (mine.status, mine.code(), mine.msg()),
        (200, Some(500), Some("job handler [noSuchHandler] not found."))
    );

    // /run with a body that is not JSON: pyxxl fails with HTTP 500 and a plain-text page; ours answers
    // HTTP 200 with a failure envelope, as executors always answer 200 (§1, §4.0). An admin records a
    // failed trigger either way.
    let (theirs, mine) = same("run", TOKEN, b"{not json".to_vec()).await;
    assert_eq!((theirs.status, theirs.code()), (500, None), "{theirs:?}");
    assert_eq!((mine.status, mine.code()), (200, Some(500)));
    assert!(
        mine.msg().unwrap_or_default().starts_with("request error:"),
        "{mine:?}"
    );

    // /kill of a job that has no thread: both succeed; ours adds upstream's G2 note in `data` (§4.4).
    let unknown_job = json!({"jobId": 905}).to_string().into_bytes();
    let (theirs, mine) = same("kill", TOKEN, unknown_job).await;
    assert_eq!(
        (theirs.status, theirs.code(), theirs.msg()),
        (200, Some(200), None)
    );
    assert_eq!(
        (mine.status, mine.code(), mine.msg()),
        (200, Some(200), Some("Success"))
    );
    assert_eq!(mine.json["data"], json!(message::JOB_THREAD_ALREADY_KILLED));

    // /log of an execution that never ran: both succeed with a page saying so. pyxxl answers under both
    // `content` and `data`, counts its message as line 1 and never ends; ours answers a G2 admin under
    // `data` with upstream's text, toLineNum 0 and isEnd true, so an admin stops polling (§4.5).
    let missing = json!({"logDateTim": 1_781_856_000_000_i64, "logId": next_log_id(), "fromLineNum": 1});
    let (theirs, mine) = same("log", TOKEN, missing.to_string().into_bytes()).await;
    assert_eq!((theirs.status, theirs.code()), (200, Some(200)));
    assert_eq!(theirs.json["content"], theirs.json["data"]);
    assert_eq!(
        theirs.json["data"],
        json!({"fromLineNum": 1, "toLineNum": 1, "logContent": "No such logid logs.", "isEnd": false})
    );
    assert_eq!(
        (mine.status, mine.code(), mine.msg()),
        (200, Some(200), Some("Success"))
    );
    assert_eq!(
        mine.json["data"],
        json!({"fromLineNum": 1, "toLineNum": 0, "logContent": message::LOG_FILE_NOT_EXISTS, "isEnd": true})
    );

    // A running job: /idleBeat says busy on both (500, texts differ; ours is upstream's, §4.2), /kill
    // succeeds on both and both report the killed execution by callback with code 500.
    let (their_log, our_log) = (next_log_id(), next_log_id());
    let (theirs, mine) = both(
        "run",
        TOKEN,
        run_body(906, their_log, SLEEP_HANDLER, ""),
        run_body(906, our_log, "sleep", "60000"),
    )
    .await;
    assert_eq!(
        (theirs.code(), mine.code()),
        (Some(200), Some(200)),
        "{theirs:?} {mine:?}"
    );
    let busy = json!({"jobId": 906}).to_string().into_bytes();
    let (theirs, mine) = same("idleBeat", TOKEN, busy.clone()).await;
    assert_eq!(
        (theirs.status, theirs.code(), theirs.msg()),
        (200, Some(500), Some("job 906 is running."))
    );
    assert_eq!(
        (mine.status, mine.code(), mine.msg()),
        (200, Some(500), Some(message::JOB_THREAD_BUSY))
    );
    let (theirs, mine) = same("kill", TOKEN, busy).await;
    assert_eq!(
        (theirs.status, theirs.code(), theirs.msg()),
        (200, Some(200), None)
    );
    assert_eq!(
        (mine.status, mine.code(), mine.msg()),
        (200, Some(200), Some("Success"))
    );
    for log_id in [their_log, our_log] {
        assert!(
            wait_until(WAIT, || async { admin.callback_for(log_id).is_some() }).await,
            "callback for killed {log_id}; pyxxl:\n{}",
            pyxxl.output()
        );
        assert_eq!(admin.callback_for(log_id).unwrap().handle_code, 500);
    }

    // A method other than POST: pyxxl answers HTTP 405; ours HTTP 200 with upstream's failure (§1).
    let theirs = http
        .get(format!("{}/beat", pyxxl.address()))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status().as_u16(), 405);
    let mine = http
        .get(format!("{}/beat", ours.address.trim_end_matches('/')))
        .header("Accept-Charset", "UTF-8")
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status().as_u16(), 200);
    let mine: Value = serde_json::from_str(&mine.text().await.unwrap()).unwrap();
    assert_eq!(
        (mine["code"].as_i64(), mine["msg"].as_str()),
        (Some(500), Some(message::METHOD_NOT_SUPPORTED))
    );
    ours.executor.shutdown().await;
}
