//! `xjob cron next` and `xjob cron batch` through the real binary: output format, exit statuses, and the
//! whole shared conformance set fed through `batch`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn xjob(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xjob"))
        .args(args)
        .output()
        .expect("the xjob binary runs")
}

/// Runs `xjob cron batch` with `input` on stdin (written from a thread so a full stdout pipe cannot
/// block the writer) and returns its output.
fn batch(input: String) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xjob"))
        .args(["cron", "batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the xjob binary starts");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn conformance_file(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/cron")
        .join(name);
    let contents = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("conformance file {} is required: {error}", path.display()));
    let records: Vec<Value> = contents
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(!records.is_empty(), "{} holds no records", path.display());
    records
}

#[test]
fn next_prints_epoch_and_offset_lines() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "cron",
                "next",
                "0 0 12 * * ?",
                "--tz",
                "Europe/Berlin",
                "--after",
                "1700000000000",
                "--count",
                "2",
            ],
            "1700046000000 2023-11-15T12:00:00+01:00\n1700132400000 2023-11-16T12:00:00+01:00\n",
        ),
        (
            &[
                "cron",
                "next",
                "20 13 23 14 11 ? 2023",
                "--tz",
                "Europe/Berlin",
                "--after",
                "0",
            ],
            "1700000000000 2023-11-14T23:13:20+01:00\n",
        ),
        // The expression stops firing: fewer lines than asked for.
        (
            &[
                "cron",
                "next",
                "0 0 0 1 1 ? 2024",
                "--tz",
                "UTC",
                "--after",
                "0",
                "--count",
                "3",
            ],
            "1704067200000 2024-01-01T00:00:00+00:00\n",
        ),
        // 02:30 does not exist on the spring-forward day in New York; like the reference, that day is skipped.
        (
            &[
                "cron",
                "next",
                "0 30 2 * * ?",
                "--tz",
                "America/New_York",
                "--after",
                "1710000000000",
                "--count",
                "2",
            ],
            "1710138600000 2024-03-11T02:30:00-04:00\n1710225000000 2024-03-12T02:30:00-04:00\n",
        ),
    ];
    for (args, expected) in cases {
        let output = xjob(args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert_eq!(text(&output.stdout), expected, "{args:?}");
        assert_eq!(text(&output.stderr), "", "{args:?}");
    }
}

#[test]
fn next_defaults_to_one_fire_after_now() {
    let output = xjob(&["cron", "next", "* * * * * ?", "--tz", "UTC"]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let (epoch, iso) = lines[0].split_once(' ').unwrap();
    let epoch: i64 = epoch.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(epoch % 1000, 0);
    assert!(epoch > now - 60_000 && epoch <= now + 1_000, "{epoch} vs {now}");
    assert!(iso.ends_with("+00:00"), "{iso}");
}

#[test]
fn next_rejects_bad_input_with_status_2_and_one_line() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["cron", "next", "0 0 24 * * ?", "--tz", "UTC"],
            "xjob: invalid hours `24`: values must be between 0 and 23\n",
        ),
        (
            &["cron", "next", "0 0 0 * *", "--tz", "UTC"],
            "xjob: expected 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year]), found 5\n",
        ),
        (
            &["cron", "next", "0 0 0 * * ?", "--tz", "Mars/Olympus"],
            "xjob: unknown time zone `Mars/Olympus` (expected an IANA name such as Europe/Berlin)\n",
        ),
    ];
    for (args, expected) in cases {
        let output = xjob(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&output.stdout), "", "{args:?}");
        assert_eq!(text(&output.stderr), expected, "{args:?}");
    }
}

#[test]
fn batch_reproduces_every_valid_conformance_record() {
    let records = conformance_file("valid.jsonl");
    let mut input = String::new();
    for record in &records {
        let request = json!({
            "expr": record["expr"],
            "tz": record["tz"],
            "after_ms": record["after_ms"],
            "count": 5,
        });
        input.push_str(&request.to_string());
        input.push('\n');
    }
    let output = batch(input);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let answers: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(answers.len(), records.len());
    for (record, answer) in records.iter().zip(&answers) {
        let expected = json!({"expr": record["expr"], "next_ms": record["next_ms"]});
        assert_eq!(answer, &expected, "{record}");
    }
}

#[test]
fn batch_rejects_exactly_the_invalid_conformance_records() {
    let records = conformance_file("invalid.jsonl");
    let mut input = String::new();
    for record in &records {
        let request = json!({"expr": record["expr"], "tz": "UTC", "after_ms": 0, "count": 1});
        input.push_str(&request.to_string());
        input.push('\n');
    }
    let output = batch(input);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let answers: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(answers.len(), records.len());
    let mut rejected = 0;
    for (record, answer) in records.iter().zip(&answers) {
        assert_eq!(answer["expr"], record["expr"], "{record}");
        if record["valid"] == json!(false) {
            let error = answer["error"]
                .as_str()
                .unwrap_or_else(|| panic!("{record} accepted: {answer}"));
            assert!(
                error.starts_with("invalid ")
                    || error.starts_with("expected ")
                    || error.starts_with("day-of-month "),
                "{record}: {error}"
            );
            assert!(answer.get("next_ms").is_none(), "{answer}");
            rejected += 1;
        } else {
            assert!(answer["next_ms"].is_array(), "{record} rejected: {answer}");
        }
    }
    assert!(rejected > 100, "only {rejected} rejections");
}

#[test]
fn batch_survives_malformed_lines() {
    let input =
        "garbage\n{\"expr\":\"0 0 0 * * ?\",\"tz\":\"UTC\",\"after_ms\":0,\"count\":2}\n{\"expr\":7}\n"
            .to_owned();
    let output = batch(input);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["expr"], Value::Null);
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed request")
    );
    assert_eq!(
        lines[1],
        json!({"expr": "0 0 0 * * ?", "next_ms": [86_400_000, 172_800_000]})
    );
    assert_eq!(lines[2]["expr"], Value::Null);
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed request")
    );
}
