//! Pod status bookkeeping as pure functions over the pod JSON: initial container statuses, condition updates
//! that keep `lastTransitionTime` stable, and deriving the phase and readiness from container states.

use serde_json::{Value, json};

use crate::time;

/// Pod-level reasons after which the pod stays `Failed` whatever its containers do.
const TERMINAL_REASONS: [&str; 2] = ["DeadlineExceeded", "Evicted"];

/// A container status before the container ran.
pub(crate) fn waiting_status(container: &Value, reason: &str) -> Value {
    json!({
        "name": container.get("name").cloned().unwrap_or(json!("")),
        "image": container.get("image").cloned().unwrap_or(json!("")),
        "imageID": "",
        "ready": false,
        "restartCount": 0,
        "started": false,
        "state": {"waiting": {"reason": reason}},
        "lastState": {},
    })
}

/// Sets a condition, changing `lastTransitionTime` only when its status flips.
pub(crate) fn set_condition(
    status: &mut Value,
    kind: &str,
    value: bool,
    reason: Option<&str>,
    message: Option<&str>,
) {
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    let text = if value { "True" } else { "False" };
    let conditions = status["conditions"]
        .as_array_mut()
        .expect("conditions was just made an array");
    let mut condition = json!({"type": kind, "status": text, "lastProbeTime": null});
    match conditions
        .iter()
        .position(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    {
        Some(index) => {
            let existing = &conditions[index];
            let since = if existing.get("status").and_then(Value::as_str) == Some(text) {
                existing
                    .get("lastTransitionTime")
                    .cloned()
                    .unwrap_or_else(|| json!(time::now_seconds()))
            } else {
                json!(time::now_seconds())
            };
            condition["lastTransitionTime"] = since;
            add_reason(&mut condition, reason, message);
            conditions[index] = condition;
        }
        None => {
            condition["lastTransitionTime"] = json!(time::now_seconds());
            add_reason(&mut condition, reason, message);
            conditions.push(condition);
        }
    }
}

fn add_reason(condition: &mut Value, reason: Option<&str>, message: Option<&str>) {
    if let Some(reason) = reason {
        condition["reason"] = json!(reason);
    }
    if let Some(message) = message {
        condition["message"] = json!(message);
    }
}

fn statuses<'a>(status: &'a Value, field: &str) -> Vec<&'a Value> {
    status
        .get(field)
        .and_then(Value::as_array)
        .map(|list| list.iter().collect())
        .unwrap_or_default()
}

fn terminated_exit(container_status: &Value) -> Option<i64> {
    container_status
        .pointer("/state/terminated/exitCode")
        .and_then(Value::as_i64)
}

fn is_running(container_status: &Value) -> bool {
    container_status.pointer("/state/running").is_some()
}

fn has_started(container_status: &Value) -> bool {
    is_running(container_status)
        || container_status.pointer("/state/terminated").is_some()
        || container_status.pointer("/lastState/terminated").is_some()
}

fn names(list: &[&Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    list.iter()
        .filter(|s| keep(s))
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// Derives `phase` and the `Initialized`, `ContainersReady` and `Ready` conditions from the container states.
/// A container state of `terminated` is final here: a container that will restart is shown `waiting`.
pub(crate) fn refresh(pod: &mut Value) {
    let status = &mut pod["status"];
    let current_phase = status
        .get("phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending")
        .to_owned();
    let pod_reason = status
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let init = statuses(status, "initContainerStatuses");
    let apps = statuses(status, "containerStatuses");
    let init_incomplete = names(&init, |s| terminated_exit(s) != Some(0));
    let init_failed = init
        .iter()
        .any(|s| terminated_exit(s).is_some_and(|code| code != 0));
    let initialized = init_incomplete.is_empty();
    let all_terminated = !apps.is_empty() && apps.iter().all(|s| terminated_exit(s).is_some());
    let all_succeeded = apps.iter().all(|s| terminated_exit(s) == Some(0));
    let all_running = !apps.is_empty() && apps.iter().all(|s| is_running(s));
    let any_started = apps.iter().any(|s| has_started(s));
    let unready = names(&apps, |s| !is_running(s));

    let phase = if current_phase == "Succeeded" || current_phase == "Failed" {
        current_phase
    } else if TERMINAL_REASONS.contains(&pod_reason.as_str()) || init_failed {
        "Failed".to_owned()
    } else if all_terminated {
        if all_succeeded {
            "Succeeded".to_owned()
        } else {
            "Failed".to_owned()
        }
    } else if initialized && any_started {
        "Running".to_owned()
    } else {
        "Pending".to_owned()
    };
    let terminal = phase == "Succeeded" || phase == "Failed";
    status["phase"] = json!(phase);

    if initialized {
        set_condition(status, "Initialized", true, None, None);
    } else {
        let message = format!(
            "containers with incomplete status: [{}]",
            init_incomplete.join(" ")
        );
        set_condition(
            status,
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(&message),
        );
    }
    let ready = all_running && !terminal;
    for kind in ["Ready", "ContainersReady"] {
        if ready {
            set_condition(status, kind, true, None, None);
        } else if terminal {
            set_condition(status, kind, false, Some("PodCompleted"), None);
        } else {
            let message = format!("containers with unready status: [{}]", unready.join(" "));
            set_condition(status, kind, false, Some("ContainersNotReady"), Some(&message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(init: Value, apps: Value) -> Value {
        json!({"status": {"phase": "Pending", "initContainerStatuses": init, "containerStatuses": apps}})
    }

    fn running(name: &str) -> Value {
        json!({"name": name, "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}})
    }

    fn exited(name: &str, code: i64) -> Value {
        json!({"name": name, "state": {"terminated": {"exitCode": code}}})
    }

    fn waiting(name: &str) -> Value {
        json!({"name": name, "state": {"waiting": {"reason": "ContainerCreating"}}})
    }

    fn condition<'a>(pod: &'a Value, kind: &str) -> &'a Value {
        pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap()
    }

    fn check(init: Value, apps: Value, phase: &str, ready: &str) {
        let mut pod = pod(init.clone(), apps.clone());
        refresh(&mut pod);
        assert_eq!(pod["status"]["phase"], phase, "init {init} apps {apps}");
        assert_eq!(
            condition(&pod, "Ready")["status"],
            ready,
            "init {init} apps {apps}"
        );
    }

    #[test]
    fn phases_follow_container_states() {
        check(json!([]), json!([waiting("a")]), "Pending", "False");
        check(json!([waiting("i")]), json!([waiting("a")]), "Pending", "False");
        check(json!([exited("i", 0)]), json!([running("a")]), "Running", "True");
        check(json!([]), json!([running("a"), waiting("b")]), "Running", "False");
        check(
            json!([]),
            json!([running("a"), exited("b", 0)]),
            "Running",
            "False",
        );
        check(
            json!([]),
            json!([exited("a", 0), exited("b", 0)]),
            "Succeeded",
            "False",
        );
        check(
            json!([]),
            json!([exited("a", 0), exited("b", 3)]),
            "Failed",
            "False",
        );
        check(json!([exited("i", 1)]), json!([waiting("a")]), "Failed", "False");
    }

    #[test]
    fn terminal_phases_and_reasons_stick() {
        let mut evicted = pod(json!([]), json!([running("a")]));
        evicted["status"]["reason"] = json!("Evicted");
        refresh(&mut evicted);
        assert_eq!(evicted["status"]["phase"], "Failed");
        assert_eq!(condition(&evicted, "Ready")["reason"], "PodCompleted");
        let mut done = pod(json!([]), json!([running("a")]));
        done["status"]["phase"] = json!("Succeeded");
        refresh(&mut done);
        assert_eq!(done["status"]["phase"], "Succeeded");
    }

    #[test]
    fn conditions_explain_what_is_missing() {
        let mut pod = pod(
            json!([exited("i1", 0), waiting("i2")]),
            json!([waiting("a"), waiting("b")]),
        );
        refresh(&mut pod);
        assert_eq!(
            condition(&pod, "Initialized")["message"],
            "containers with incomplete status: [i2]"
        );
        assert_eq!(
            condition(&pod, "ContainersReady")["message"],
            "containers with unready status: [a b]"
        );
    }

    #[test]
    fn transition_time_changes_only_on_flips() {
        let mut status = json!({});
        set_condition(&mut status, "Ready", false, Some("X"), None);
        status["conditions"][0]["lastTransitionTime"] = json!("then");
        set_condition(&mut status, "Ready", false, Some("Y"), None);
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "then");
        assert_eq!(status["conditions"][0]["reason"], "Y");
        set_condition(&mut status, "Ready", true, None, None);
        assert_ne!(status["conditions"][0]["lastTransitionTime"], "then");
        assert!(status["conditions"][0].get("reason").is_none());
    }
}
