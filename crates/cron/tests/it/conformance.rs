//! Every record of the shared conformance files (produced by the reference evaluator) must be reproduced:
//! the same fire times for valid expressions, a rejection naming the right field for invalid ones.

use std::path::PathBuf;

use serde_json::Value;
use xjob_cron::{CronError, CronExpr, Field};

fn conformance_file(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/cron")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("conformance file {} is required: {error}", path.display()));
    let records: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("every conformance line is a JSON object"))
        .collect();
    assert!(!records.is_empty(), "{} holds no records", path.display());
    records
}

#[test]
fn valid_records_give_the_reference_fire_times() {
    let records = conformance_file("valid.jsonl");
    assert!(records.len() > 5000);
    let mut failures = Vec::new();
    for record in &records {
        let expr_text = record["expr"].as_str().unwrap();
        let zone: chrono_tz::Tz = record["tz"].as_str().unwrap().parse().unwrap();
        let after = record["after_ms"].as_i64().unwrap();
        let expected: Vec<i64> = record["next_ms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|value| value.as_i64().unwrap())
            .collect();
        let expr = match CronExpr::parse(expr_text) {
            Ok(expr) => expr,
            Err(error) => {
                failures.push(format!("{expr_text}: rejected: {error}"));
                continue;
            }
        };
        let actual: Vec<i64> = expr.fire_times(after, zone).take(5).collect();
        if actual != expected {
            failures.push(format!(
                "{expr_text} in {zone} after {after} ({}): expected {expected:?}, got {actual:?}",
                record["after"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} records differ:\n{}",
        failures.len(),
        records.len(),
        failures.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// The field a reference message blames, where the message names one.
fn field_named_by(message: &str) -> Option<Field> {
    let table = [
        ("Minute and Second values", None),
        ("Hour values", Some(Field::Hours)),
        ("Day of month values", Some(Field::DayOfMonth)),
        ("Month value", Some(Field::Month)),
        ("Day-of-Week value", Some(Field::DayOfWeek)),
        ("Offset from last day", Some(Field::DayOfMonth)),
        ("'?' can only be specified", None),
    ];
    table
        .iter()
        .find(|(fragment, _)| message.contains(fragment))
        .and_then(|(_, field)| *field)
}

#[test]
fn invalid_records_are_rejected_and_accepted_oddities_are_accepted() {
    let records = conformance_file("invalid.jsonl");
    let mut failures = Vec::new();
    for record in &records {
        let expr_text = record["expr"].as_str().unwrap();
        let valid = record["valid"].as_bool().unwrap();
        let reference = record["error"].as_str().unwrap_or("");
        match (CronExpr::parse(expr_text), valid) {
            (Ok(_), true) => {}
            (Ok(_), false) => failures.push(format!("{expr_text}: accepted, reference says {reference}")),
            (Err(error), true) => {
                failures.push(format!("{expr_text}: rejected ({error}), reference accepts"))
            }
            (Err(error), false) => {
                let message = error.to_string();
                if reference.contains("both a day-of-week AND a day-of-month") {
                    if !matches!(error, CronError::DayConflict { .. }) {
                        failures.push(format!("{expr_text}: expected a day conflict, got {message}"));
                    }
                } else if reference.contains("too many terms") || reference.contains("end of expression") {
                    if !matches!(error, CronError::FieldCount { .. }) {
                        failures.push(format!(
                            "{expr_text}: expected a field count error, got {message}"
                        ));
                    }
                } else {
                    let Some(field) = error.field() else {
                        failures.push(format!("{expr_text}: error names no field: {message}"));
                        continue;
                    };
                    assert!(message.contains(field.name()), "{message} does not name {field}");
                    if let Some(expected) = field_named_by(reference)
                        && field != expected
                    {
                        failures.push(format!(
                            "{expr_text}: blamed {field}, reference blames {expected}: {reference}"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} records differ:\n{}",
        failures.len(),
        records.len(),
        failures.join("\n")
    );
}
