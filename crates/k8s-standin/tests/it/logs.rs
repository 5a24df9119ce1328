//! `pods/log`: following with timestamps, resuming with `sinceTime`, the stream faults, waiting containers,
//! container selection and raw bytes.

use std::time::Duration;

use futures::AsyncBufReadExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{LogParams, PostParams};
use serde_json::json;

use crate::support::{Setup, api_error, is_running, phase, pod, pod_json, typed};

/// Reads a log stream to its end as raw lines.
async fn read_lines(stream: impl futures::AsyncBufRead + Unpin) -> Vec<Vec<u8>> {
    let mut stream = stream;
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read_until(b'\n', &mut line))
            .await
            .expect("log stream made progress")
            .expect("log stream readable");
        if read == 0 {
            return lines;
        }
        lines.push(line);
    }
}

/// Splits `<RFC 3339 nanos> <text>` lines.
fn stamped(line: &[u8]) -> (Timestamp, String) {
    let text = String::from_utf8_lossy(line);
    let (stamp, rest) = text.split_once(' ').expect("timestamp prefix");
    assert_eq!(stamp.len(), 30, "fixed-width nanosecond timestamp: {stamp}");
    (stamp.parse().expect("RFC 3339"), rest.trim_end().to_owned())
}

#[tokio::test]
async fn follow_cut_and_resume_with_since_time_loses_nothing() {
    let setup = Setup::start().await;
    let pods = setup.pods();
    let script = "for i in $(seq 1 20); do echo line-$i; sleep 0.05; done";
    pods.create(&PostParams::default(), &pod("chatty", script))
        .await
        .unwrap();
    setup
        .wait_pod("chatty", "container started", |p| {
            is_running(p) || phase(p) == "Succeeded"
        })
        .await;
    setup.standin.cut_log_stream("default", "chatty", None, 5);

    let params = LogParams {
        follow: true,
        timestamps: true,
        ..LogParams::default()
    };
    let first = read_lines(pods.log_stream("chatty", &params).await.unwrap()).await;
    assert_eq!(first.len(), 5, "the cut ends the stream after five lines");
    let mut seen: Vec<(Timestamp, String)> = first.iter().map(|l| stamped(l)).collect();

    // Resume from the last second seen, skipping what was already written (the client rounds to seconds).
    // The client rounds `sinceTime` to whole seconds, so floor it first to never skip a line.
    let last = Timestamp::from_second(seen.last().unwrap().0.as_second()).unwrap();
    let resume = LogParams {
        since_time: Some(last),
        ..params.clone()
    };
    let again = read_lines(pods.log_stream("chatty", &resume).await.unwrap()).await;
    assert!(
        again.len() >= 15,
        "the resumed stream starts near the cut: {} lines",
        again.len()
    );
    for line in again.iter().map(|l| stamped(l)) {
        if !seen.contains(&line) {
            seen.push(line);
        }
    }
    let texts: Vec<String> = seen.into_iter().map(|(_, text)| text).collect();
    let expected: Vec<String> = (1..=20).map(|i| format!("line-{i}")).collect();
    assert_eq!(texts, expected);
    setup
        .wait_pod("chatty", "done", |p| phase(p) == "Succeeded")
        .await;

    let tail = pods
        .logs(
            "chatty",
            &LogParams {
                tail_lines: Some(2),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tail, "line-19\nline-20\n");
    let limited = pods
        .logs(
            "chatty",
            &LogParams {
                limit_bytes: Some(9),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(limited, "line-1\nli");
    let recent = pods
        .logs(
            "chatty",
            &LogParams {
                since_seconds: Some(3600),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(recent.lines().count(), 20);
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn held_stream_stays_open_after_exit_until_released() {
    let setup = Setup::start().await;
    let pods = setup.pods();
    setup.standin.hold_log_streams("default", "brief", Some("main"));
    pods.create(&PostParams::default(), &pod("brief", "echo only; sleep 0.3"))
        .await
        .unwrap();
    setup.wait_pod("brief", "running", is_running).await;
    let params = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let stream = pods.log_stream("brief", &params).await.unwrap();
    let reader = tokio::spawn(read_lines(stream));
    setup.wait_pod("brief", "done", |p| phase(p) == "Succeeded").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!reader.is_finished(), "the held stream outlives the container");
    setup.standin.release_log_streams();
    let lines = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("released")
        .unwrap();
    assert_eq!(lines, vec![b"only\n".to_vec()]);

    // Without a hold, a follow stream ends with the container.
    pods.create(
        &PostParams::default(),
        &pod("brief2", "echo a; sleep 0.3; echo b"),
    )
    .await
    .unwrap();
    setup.wait_pod("brief2", "running", is_running).await;
    let lines = read_lines(pods.log_stream("brief2", &params).await.unwrap()).await;
    assert_eq!(lines, vec![b"a\n".to_vec(), b"b\n".to_vec()]);
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn waiting_and_ambiguous_containers_are_bad_requests() {
    let setup = Setup::start().await;
    let pods = setup.pods();
    let mut pulling = pod_json("pulling", "true");
    pulling["spec"]["containers"][0]["image"] = json!("fake/pull-error");
    pods.create(&PostParams::default(), &typed(pulling))
        .await
        .unwrap();
    setup
        .wait_pod("pulling", "pull error", |p| {
            crate::support::waiting_reason(p, "main").is_some_and(|r| r.contains("Image"))
        })
        .await;
    let waiting = api_error(pods.logs("pulling", &LogParams::default()).await);
    assert_eq!(waiting.code, 400);
    assert_eq!(
        waiting.message,
        "container \"main\" in pod \"pulling\" is waiting to start: trying and failing to pull image"
    );

    let mut pair = pod_json("pair", "echo out; echo err >&2; printf 'bad \\377 byte\\n'");
    pair["spec"]["containers"] = json!([
        {"name": "one", "image": "busybox", "command": ["sh", "-c", "echo out; echo err >&2; printf 'bad \\377 byte\\n'"]},
        {"name": "two", "image": "busybox", "command": ["sh", "-c", "echo second"]},
    ]);
    pods.create(&PostParams::default(), &typed(pair)).await.unwrap();
    setup.wait_pod("pair", "done", |p| phase(p) == "Succeeded").await;
    let ambiguous = api_error(pods.logs("pair", &LogParams::default()).await);
    assert_eq!(ambiguous.code, 400);
    assert_eq!(
        ambiguous.message,
        "a container name must be specified for pod pair, choose one of: [one two]"
    );
    let unknown = api_error(
        pods.logs(
            "pair",
            &LogParams {
                container: Some("three".into()),
                ..LogParams::default()
            },
        )
        .await,
    );
    assert_eq!(unknown.message, "container three is not valid for pod pair");

    let params = LogParams {
        container: Some("one".into()),
        ..LogParams::default()
    };
    let raw = read_lines(pods.log_stream("pair", &params).await.unwrap()).await;
    assert_eq!(raw.len(), 3);
    assert!(
        raw.contains(&b"out\n".to_vec()) && raw.contains(&b"err\n".to_vec()),
        "stdout and stderr both captured"
    );
    assert!(
        raw.contains(&b"bad \xff byte\n".to_vec()),
        "raw bytes pass through: {raw:?}"
    );
    setup.standin.shutdown().await;
}
