//! Create-time validation of pods and jobs: the subset of the API server's rules that a test can trip over
//! (names, labels, containers, restart policies, job counts), producing `Invalid` causes with the real field
//! paths and messages. Defaulting lives in `defaults`; unknown-field detection is deliberately absent.

use std::collections::HashSet;

use serde_json::Value;

use crate::status::Cause;

const DNS1123_LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_VALUE_MESSAGE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MESSAGE: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

pub(crate) fn is_dns1123_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

pub(crate) fn is_dns1123_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns1123_label)
}

fn is_qualified_name_part(text: &str) -> bool {
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && edge_ok(text.bytes().next())
        && edge_ok(text.bytes().last())
}

/// Why `key` is not a valid label or annotation key (`[prefix/]name`), or `None` when it is.
pub(crate) fn label_key_errors(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns1123_subdomain(prefix)
    {
        return Some(format!("prefix part {DNS1123_SUBDOMAIN_MESSAGE}"));
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".to_owned());
    }
    (!is_qualified_name_part(name)).then(|| QUALIFIED_NAME_MESSAGE.to_owned())
}

/// Why `value` is not a valid label value, or `None` when it is.
pub(crate) fn label_value_errors(value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    if value.len() > 63 {
        return Some("must be no more than 63 characters".to_owned());
    }
    (!is_qualified_name_part(value)).then(|| LABEL_VALUE_MESSAGE.to_owned())
}

/// Validates object metadata. `name_rule` is the name format of the resource.
pub(crate) fn validate_metadata(object: &Value, name_max: usize, causes: &mut Vec<Cause>) {
    let metadata = object.get("metadata");
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let generate_name = metadata
        .and_then(|m| m.get("generateName"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() && generate_name.is_empty() {
        causes.push(Cause::required("metadata.name"));
    } else if !name.is_empty() {
        if !is_dns1123_subdomain(name) {
            causes.push(Cause::invalid("metadata.name", name, DNS1123_SUBDOMAIN_MESSAGE));
        } else if name.len() > name_max {
            causes.push(Cause::invalid(
                "metadata.name",
                name,
                &format!("must be no more than {name_max} characters"),
            ));
        }
    }
    if let Some(labels) = metadata.and_then(|m| m.get("labels")).and_then(Value::as_object) {
        for (key, value) in labels {
            if let Some(detail) = label_key_errors(key) {
                causes.push(Cause::invalid("metadata.labels", key, &detail));
            }
            match value.as_str() {
                Some(text) => {
                    if let Some(detail) = label_value_errors(text) {
                        causes.push(Cause::invalid(&format!("metadata.labels[{key}]"), text, &detail));
                    }
                }
                None => causes.push(Cause::invalid(
                    &format!("metadata.labels[{key}]"),
                    "",
                    "must be a string",
                )),
            }
        }
    }
    if let Some(annotations) = metadata
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        for key in annotations.keys() {
            if let Some(detail) = label_key_errors(&key.to_ascii_lowercase()) {
                causes.push(Cause::invalid("metadata.annotations", key, &detail));
            }
        }
    }
}

/// Validates a pod spec found at `path` (`spec` for pods, `spec.template.spec` for jobs).
pub(crate) fn validate_pod_spec(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(spec) = spec.filter(|s| s.is_object()) else {
        causes.push(Cause::required(&format!("{path}.containers")));
        return;
    };
    let containers = spec
        .get("containers")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty());
    if containers.is_none() {
        causes.push(Cause::required(&format!("{path}.containers")));
    }
    let mut names = HashSet::new();
    for (list, entries) in [
        (
            "initContainers",
            spec.get("initContainers").and_then(Value::as_array),
        ),
        ("containers", containers),
    ] {
        for (index, container) in entries.into_iter().flatten().enumerate() {
            let at = format!("{path}.{list}[{index}]");
            validate_container(container, &at, &mut names, causes);
        }
    }
    if let Some(policy) = spec.get("restartPolicy").and_then(Value::as_str)
        && !["Always", "OnFailure", "Never"].contains(&policy)
    {
        causes.push(Cause::not_supported(
            &format!("{path}.restartPolicy"),
            policy,
            &["Always", "OnFailure", "Never"],
        ));
    }
    if let Some(deadline) = spec.get("activeDeadlineSeconds").filter(|v| !v.is_null())
        && deadline.as_i64().is_none_or(|d| d < 1)
    {
        causes.push(Cause::invalid(
            &format!("{path}.activeDeadlineSeconds"),
            &deadline.to_string(),
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    if let Some(grace) = spec.get("terminationGracePeriodSeconds").filter(|v| !v.is_null())
        && grace.as_i64().is_none_or(|g| g < 0)
    {
        causes.push(Cause::invalid(
            &format!("{path}.terminationGracePeriodSeconds"),
            &grace.to_string(),
            "must be greater than or equal to 0",
        ));
    }
}

fn validate_container(container: &Value, at: &str, names: &mut HashSet<String>, causes: &mut Vec<Cause>) {
    match container
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        None => causes.push(Cause::required(&format!("{at}.name"))),
        Some(name) if !is_dns1123_label(name) => {
            causes.push(Cause::invalid(&format!("{at}.name"), name, DNS1123_LABEL_MESSAGE));
        }
        Some(name) => {
            if !names.insert(name.to_owned()) {
                causes.push(Cause::duplicate(&format!("{at}.name"), name));
            }
        }
    }
    if container
        .get("image")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        causes.push(Cause::required(&format!("{at}.image")));
    }
    for (index, env) in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match env.get("name").and_then(Value::as_str) {
            None | Some("") => causes.push(Cause::required(&format!("{at}.env[{index}].name"))),
            Some(name) if name.contains('=') || !name.chars().all(|c| c.is_ascii_graphic()) => {
                causes.push(Cause::invalid(
                    &format!("{at}.env[{index}].name"),
                    name,
                    "a valid environment variable name must consist only of printable ASCII characters other than '='",
                ));
            }
            Some(_) => {}
        }
    }
}

/// Validates a batch/v1 Job (its metadata is checked by the caller).
pub(crate) fn validate_job_spec(job: &Value, causes: &mut Vec<Cause>) {
    let Some(spec) = job.get("spec").filter(|s| s.is_object()) else {
        causes.push(Cause::required("spec.template"));
        return;
    };
    let template_spec = spec.pointer("/template/spec");
    validate_pod_spec(template_spec, "spec.template.spec", causes);
    let policy = template_spec
        .and_then(|s| s.get("restartPolicy"))
        .and_then(Value::as_str);
    match policy {
        Some("OnFailure" | "Never") => {}
        other => causes.push(Cause::not_supported(
            "spec.template.spec.restartPolicy",
            other.unwrap_or(""),
            &["OnFailure", "Never"],
        )),
    }
    for field in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    ] {
        if let Some(value) = spec.get(field).filter(|v| !v.is_null())
            && value.as_i64().is_none_or(|v| v < 0)
        {
            causes.push(Cause::invalid(
                &format!("spec.{field}"),
                &value.to_string(),
                "must be greater than or equal to 0",
            ));
        }
    }
    let indexed = match spec.get("completionMode").and_then(Value::as_str) {
        None | Some("NonIndexed") => false,
        Some("Indexed") => true,
        Some(other) => {
            causes.push(Cause::not_supported(
                "spec.completionMode",
                other,
                &["NonIndexed", "Indexed"],
            ));
            false
        }
    };
    if indexed && spec.get("completions").is_none_or(Value::is_null) {
        causes.push(Cause {
            field: "spec.completions".to_owned(),
            reason: "FieldValueRequired",
            message: "Required value: when completion mode is Indexed".to_owned(),
        });
    }
    if spec.get("backoffLimitPerIndex").is_some_and(|v| !v.is_null()) && !indexed {
        causes.push(Cause::forbidden(
            "spec.backoffLimitPerIndex",
            "requires indexed completion mode",
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn name_formats() {
        for (name, label, subdomain) in [
            ("a", true, true),
            ("a-b-1", true, true),
            ("a.b", false, true),
            ("-a", false, false),
            ("a-", false, false),
            ("A", false, false),
            ("a_b", false, false),
            ("", false, false),
        ] {
            assert_eq!(is_dns1123_label(name), label, "label {name:?}");
            assert_eq!(is_dns1123_subdomain(name), subdomain, "subdomain {name:?}");
        }
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain(&format!("{}.b", "a".repeat(63))));
    }

    #[test]
    fn label_keys_and_values() {
        for (key, ok) in [
            ("app", true),
            ("xxl-job/job-id", true),
            ("app.kubernetes.io/managed-by", true),
            ("Bad_Key.1", true),
            ("-bad", false),
            ("UPPER.example/x", false),
            ("a/b/c", false),
            ("", false),
        ] {
            assert_eq!(label_key_errors(key).is_none(), ok, "key {key:?}");
        }
        for (value, ok) in [("", true), ("v1.2_3-x", true), ("-x", false), ("a b", false)] {
            assert_eq!(label_value_errors(value).is_none(), ok, "value {value:?}");
        }
        assert!(label_value_errors(&"a".repeat(64)).is_some());
    }

    fn pod_causes(pod: Value) -> Vec<String> {
        let mut causes = Vec::new();
        validate_metadata(&pod, 253, &mut causes);
        validate_pod_spec(pod.get("spec"), "spec", &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn pod_rules() {
        let ok = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        assert_eq!(pod_causes(ok), Vec::<String>::new());
        assert_eq!(
            pod_causes(
                json!({"metadata": {"generateName": "p-"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            pod_causes(json!({"metadata": {}, "spec": {"containers": []}})),
            vec!["metadata.name: Required value", "spec.containers: Required value"]
        );
        let bad = json!({"metadata": {"name": "P"}, "spec": {
            "restartPolicy": "Sometimes",
            "initContainers": [{"name": "c", "image": "i"}],
            "containers": [{"name": "c"}, {"image": "i", "env": [{"name": "A=B"}]}]}});
        let causes = pod_causes(bad);
        assert!(
            causes[0].starts_with("metadata.name: Invalid value: \"P\""),
            "{causes:?}"
        );
        assert!(
            causes.contains(&"spec.containers[0].name: Duplicate value: \"c\"".to_owned()),
            "{causes:?}"
        );
        assert!(
            causes.contains(&"spec.containers[0].image: Required value".to_owned()),
            "{causes:?}"
        );
        assert!(
            causes.contains(&"spec.containers[1].name: Required value".to_owned()),
            "{causes:?}"
        );
        assert!(
            causes
                .iter()
                .any(|c| c.starts_with("spec.containers[1].env[0].name: Invalid value")),
            "{causes:?}"
        );
        assert!(
            causes
                .iter()
                .any(|c| c.starts_with("spec.restartPolicy: Unsupported value: \"Sometimes\""))
        );
    }

    #[test]
    fn job_rules() {
        let check = |job: Value| {
            let mut causes = Vec::new();
            validate_job_spec(&job, &mut causes);
            causes
                .into_iter()
                .map(|c| format!("{}: {}", c.field, c.message))
                .collect::<Vec<_>>()
        };
        let template =
            json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}});
        assert_eq!(
            check(json!({"spec": {"template": template}})),
            Vec::<String>::new()
        );
        let always = json!({"spec": {"containers": [{"name": "c", "image": "i"}]}});
        assert_eq!(
            check(json!({"spec": {"template": always}})),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"\": supported values: \"OnFailure\", \"Never\""
            ]
        );
        assert_eq!(
            check(json!({"spec": {"template": template, "completionMode": "Indexed", "backoffLimit": -1}})),
            vec![
                "spec.backoffLimit: Invalid value: \"-1\": must be greater than or equal to 0",
                "spec.completions: Required value: when completion mode is Indexed"
            ]
        );
        assert_eq!(
            check(json!({"spec": {"template": template, "backoffLimitPerIndex": 1}})),
            vec!["spec.backoffLimitPerIndex: Forbidden: requires indexed completion mode"]
        );
    }
}
