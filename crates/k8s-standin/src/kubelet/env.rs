//! A container's environment and command line as the kubelet would build them: `env` in order with
//! `valueFrom` resolved (downward API from the pod; Secret and ConfigMap keys as placeholders, since the
//! stand-in stores neither), `$(NAME)` expansion, and `command` + `args`. Pure functions only.

use serde_json::Value;

use crate::expand::{expand, expand_env};

/// Resolves the declared environment of `container` in `pod` (which carries `nodeName` and `podIP`).
/// `Err` is a `CreateContainerConfigError` message.
pub(crate) fn resolve(pod: &Value, container: &Value) -> Result<Vec<(String, String)>, String> {
    let mut declared = Vec::new();
    for entry in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let value = match entry.get("valueFrom").filter(|v| !v.is_null()) {
            None => entry
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            Some(source) => {
                value_from(pod, container, source).map_err(|detail| format!("env {name}: {detail}"))?
            }
        };
        declared.push((name, value));
    }
    Ok(expand_env(&declared))
}

fn value_from(pod: &Value, container: &Value, source: &Value) -> Result<String, String> {
    if let Some(field_ref) = source.get("fieldRef") {
        let path = field_ref
            .get("fieldPath")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return downward(pod, path);
    }
    if let Some(resource_ref) = source.get("resourceFieldRef") {
        let resource = resource_ref
            .get("resource")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (section, name) = resource
            .split_once('.')
            .ok_or_else(|| format!("unsupported resource {resource:?}"))?;
        let declared = container
            .pointer(&format!("/resources/{section}/{name}"))
            .and_then(Value::as_str);
        return Ok(declared.unwrap_or("0").to_owned());
    }
    for (kind, label) in [("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")] {
        if let Some(reference) = source.get(kind) {
            let name = reference.get("name").and_then(Value::as_str).unwrap_or_default();
            let key = reference.get("key").and_then(Value::as_str).unwrap_or_default();
            return Ok(format!("standin-{label}:{name}/{key}"));
        }
    }
    Err("unsupported valueFrom source".to_owned())
}

/// The downward-API field paths the kubelet supports in `env`.
fn downward(pod: &Value, path: &str) -> Result<String, String> {
    let text = |pointer: &str| {
        pod.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let keyed = |prefix: &str, field: &str| -> Option<String> {
        let key = path
            .strip_prefix(prefix)?
            .strip_prefix("['")?
            .strip_suffix("']")?;
        Some(
            pod.pointer(&format!("/metadata/{field}"))
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        )
    };
    match path {
        "metadata.name" => Ok(text("/metadata/name")),
        "metadata.namespace" => Ok(text("/metadata/namespace")),
        "metadata.uid" => Ok(text("/metadata/uid")),
        "spec.nodeName" => Ok(text("/spec/nodeName")),
        "spec.serviceAccountName" => Ok(text("/spec/serviceAccountName")),
        "status.hostIP" | "status.hostIPs" => Ok(text("/status/hostIP")),
        "status.podIP" | "status.podIPs" => Ok(text("/status/podIP")),
        _ => keyed("metadata.labels", "labels")
            .or_else(|| keyed("metadata.annotations", "annotations"))
            .ok_or_else(|| format!("unsupported fieldPath {path:?}")),
    }
}

/// `command` followed by `args`, with `$(NAME)` expanded from `env`. Without `command` there is nothing to run,
/// because the stand-in has no images and so no entrypoints.
pub(crate) fn command_line(container: &Value, env: &[(String, String)]) -> Result<Vec<String>, String> {
    let strings = |field: &str| -> Vec<String> {
        container
            .get(field)
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let command = strings("command");
    if command.is_empty() {
        let name = container.get("name").and_then(Value::as_str).unwrap_or_default();
        return Err(format!(
            "container {name:?} has no command: the stand-in runs no images, so it cannot use an image entrypoint"
        ));
    }
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    Ok(command
        .iter()
        .chain(strings("args").iter())
        .map(|part| expand(part, lookup))
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u",
                "labels": {"app": "web"}, "annotations": {"batch.kubernetes.io/job-completion-index": "2"}},
            "spec": {"nodeName": "node", "serviceAccountName": "default"},
            "status": {"podIP": "10.0.0.5", "hostIP": "127.0.0.1"},
        })
    }

    #[test]
    fn env_resolves_values_and_references() {
        let container = json!({"name": "c", "resources": {"limits": {"memory": "512Mi"}}, "env": [
            {"name": "A", "value": "a"},
            {"name": "B", "value": "$(A)-b"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "INDEX", "valueFrom": {"fieldRef":
                {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "EMPTY"},
        ]});
        let env = resolve(&pod(), &container).unwrap();
        let expected = [
            ("A", "a"),
            ("B", "a-b"),
            ("POD", "p"),
            ("INDEX", "2"),
            ("APP", "web"),
            ("IP", "10.0.0.5"),
            ("MEM", "512Mi"),
            ("CPU", "0"),
            ("PW", "standin-secret:db/password"),
            ("EMPTY", ""),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(env, expected);
        let bad =
            json!({"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.containers"}}}]});
        assert!(
            resolve(&pod(), &bad)
                .unwrap_err()
                .contains("unsupported fieldPath")
        );
    }

    #[test]
    fn command_line_expands_and_requires_a_command() {
        let env = vec![
            ("SHARD".to_owned(), "1".to_owned()),
            ("SHARD".to_owned(), "2".to_owned()),
        ];
        let container =
            json!({"name": "c", "command": ["sh", "-c"], "args": ["echo $(SHARD) $$(SHARD) $(NONE)"]});
        assert_eq!(
            command_line(&container, &env).unwrap(),
            vec!["sh", "-c", "echo 2 $(SHARD) $(NONE)"]
        );
        let error = command_line(&json!({"name": "c", "args": ["x"]}), &env).unwrap_err();
        assert!(error.contains("has no command"), "{error}");
    }
}
