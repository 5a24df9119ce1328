//! `xjob cron batch`: the whole shared conformance set goes through the binary in one run, and every
//! answer line must match the reference's record.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::xjob;

fn conformance_file(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/cron")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("conformance file {} is required: {error}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("every conformance line is a JSON object"))
        .collect()
}

/// Runs `batch` over `requests` and returns the parsed answer lines.
fn batch(requests: &[Value]) -> Vec<Value> {
    let mut input = String::new();
    for request in requests {
        input.push_str(&request.to_string());
        input.push('\n');
    }
    let output = xjob(&["cron", "batch"], input.as_bytes());
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    assert_eq!(output.status.code(), Some(0));
    let answers: Vec<Value> = String::from_utf8(output.stdout)
        .expect("answers are UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("every answer is a JSON object"))
        .collect();
    assert_eq!(answers.len(), requests.len());
    answers
}

#[test]
fn valid_conformance_records_match() {
    let records = conformance_file("valid.jsonl");
    let requests: Vec<Value> = records
        .iter()
        .map(|record| {
            json!({"expr": record["expr"], "tz": record["tz"], "after_ms": record["after_ms"], "count": 5})
        })
        .collect();
    let answers = batch(&requests);
    for (record, answer) in records.iter().zip(&answers) {
        assert_eq!(answer["expr"], record["expr"]);
        assert_eq!(answer["next_ms"], record["next_ms"], "{record}");
        assert!(answer.get("error").is_none(), "{answer}");
    }
}

#[test]
fn invalid_conformance_records_match() {
    let records = conformance_file("invalid.jsonl");
    let requests: Vec<Value> = records
        .iter()
        .map(|record| json!({"expr": record["expr"], "tz": "UTC", "after_ms": 0}))
        .collect();
    let answers = batch(&requests);
    for (record, answer) in records.iter().zip(&answers) {
        assert_eq!(answer["expr"], record["expr"]);
        if record["valid"] == json!(true) {
            assert!(answer["next_ms"].is_array(), "{record} -> {answer}");
        } else {
            let error = answer["error"]
                .as_str()
                .unwrap_or_else(|| panic!("{record} -> {answer}"));
            assert!(!error.is_empty());
        }
    }
}

#[test]
fn malformed_lines_do_not_stop_the_run() {
    let input = b"{\"expr\":\"0 0 0 * * ?\",\"tz\":\"UTC\",\"after_ms\":0}\n[1,2]\n\xff\xfe\n{\"expr\":\"0 0 0 * * ?\",\"tz\":\"UTC\",\"after_ms\":86400000}\n";
    let output = xjob(&["cron", "batch"], input);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0], "{\"expr\":\"0 0 0 * * ?\",\"next_ms\":[86400000]}");
    assert!(
        lines[1].starts_with("{\"expr\":null,\"error\":\"malformed request: "),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("{\"expr\":null,\"error\":\"malformed request: "),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "{\"expr\":\"0 0 0 * * ?\",\"next_ms\":[172800000]}");
}
