//! Defaulting and server-owned metadata applied on create, as the real API server and its admission plugins do
//! (restart policy, grace period, termination-message path, pull policy, service account, the Job's selector and
//! template labels). Validation lives in `validation`; nothing here rejects input.

use serde_json::{Map, Value, json};

use crate::resource::Resource;
use crate::time;

/// Labels the Job controller and defaulting put on a Job's pods.
pub(crate) const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
pub(crate) const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub(crate) const LEGACY_JOB_NAME_LABEL: &str = "job-name";
pub(crate) const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
pub(crate) const COMPLETION_INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

/// Fills `uid`, `creationTimestamp`, `namespace`, `generation` and the resource's defaults.
pub(crate) fn apply(resource: Resource, namespace: &str, object: &mut Value) {
    let uid = uuid::Uuid::new_v4().to_string();
    let metadata = object_field(object, "metadata");
    metadata.insert("namespace".into(), json!(namespace));
    metadata.insert("uid".into(), json!(uid));
    metadata.insert("creationTimestamp".into(), json!(time::now_seconds()));
    for server_owned in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    ] {
        metadata.remove(server_owned);
    }
    match resource {
        Resource::Pods => {
            metadata.insert("generation".into(), json!(1));
            pod_spec(object_field(object, "spec"));
            object["status"] = json!({"phase": "Pending", "qosClass": qos_class(&object["spec"])});
        }
        Resource::Jobs => {
            metadata.insert("generation".into(), json!(1));
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            job_spec(object_field(object, "spec"), &name, &uid);
            object["status"] = json!({});
        }
        Resource::Events => {
            let count = object.get("count").and_then(Value::as_i64).unwrap_or(1);
            object["count"] = json!(count);
        }
        Resource::EventsV1 => {}
    }
}

fn object_field<'a>(object: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    if !object.get(field).is_some_and(Value::is_object) {
        object[field] = json!({});
    }
    object[field]
        .as_object_mut()
        .expect("the field was just made an object")
}

fn set_default(map: &mut Map<String, Value>, field: &str, value: Value) {
    if map.get(field).is_none_or(Value::is_null) {
        map.insert(field.into(), value);
    }
}

pub(crate) fn pod_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "enableServiceLinks", json!(true));
    set_default(spec, "priority", json!(0));
    set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    let account = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_owned();
    spec.insert("serviceAccountName".into(), json!(account));
    spec.insert("serviceAccount".into(), json!(account));
    for list in ["initContainers", "containers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                container_defaults(container);
            }
        }
    }
    // The DefaultTolerationSeconds admission plugin.
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Some(list) = tolerations.as_array_mut() {
        for taint in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            if !list
                .iter()
                .any(|t| t.get("key").and_then(Value::as_str) == Some(taint))
            {
                list.push(json!({"key": taint, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

fn container_defaults(container: &mut Map<String, Value>) {
    set_default(container, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(container, "terminationMessagePolicy", json!("File"));
    set_default(container, "resources", json!({}));
    let image = container.get("image").and_then(Value::as_str).unwrap_or_default();
    let policy = if image_uses_latest(image) {
        "Always"
    } else {
        "IfNotPresent"
    };
    set_default(container, "imagePullPolicy", json!(policy));
}

/// An image without a tag or with `:latest` (and no digest) is pulled `Always` by default.
fn image_uses_latest(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    match last_segment.split_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

fn qos_class(spec: &Value) -> &'static str {
    let containers = spec.get("containers").and_then(Value::as_array);
    let resources: Vec<&Value> = containers
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("resources"))
        .collect();
    let any = resources.iter().any(|r| {
        ["requests", "limits"]
            .iter()
            .any(|k| r.get(k).and_then(Value::as_object).is_some_and(|m| !m.is_empty()))
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.is_some_and(|list| {
        list.iter().all(|c| {
            let limits = c.pointer("/resources/limits");
            ["cpu", "memory"]
                .iter()
                .all(|k| limits.and_then(|l| l.get(k)).is_some())
                && c.pointer("/resources/requests")
                    .and_then(Value::as_object)
                    .is_none_or(|requests| {
                        requests
                            .iter()
                            .all(|(k, v)| limits.and_then(|l| l.get(k)) == Some(v))
                    })
        })
    });
    if guaranteed { "Guaranteed" } else { "Burstable" }
}

fn job_spec(spec: &mut Map<String, Value>, name: &str, uid: &str) {
    let completions_set = spec.get("completions").is_some_and(|v| !v.is_null());
    let parallelism_set = spec.get("parallelism").is_some_and(|v| !v.is_null());
    if !completions_set && !parallelism_set {
        spec.insert("completions".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    let backoff_default = if spec.get("backoffLimitPerIndex").is_some_and(|v| !v.is_null()) {
        i64::from(i32::MAX)
    } else {
        6
    };
    set_default(spec, "backoffLimit", json!(backoff_default));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "manualSelector", json!(false));
    let replacement = if spec.contains_key("podFailurePolicy") {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    set_default(spec, "podReplacementPolicy", json!(replacement));
    if spec.get("selector").is_none_or(Value::is_null) {
        spec.insert(
            "selector".into(),
            json!({"matchLabels": {CONTROLLER_UID_LABEL: uid}}),
        );
    }
    let template = spec.entry("template").or_insert_with(|| json!({}));
    if !template.is_object() {
        *template = json!({});
    }
    let template_metadata = object_field(template, "metadata");
    let labels = template_metadata.entry("labels").or_insert_with(|| json!({}));
    if let Some(labels) = labels.as_object_mut() {
        for (key, value) in [
            (CONTROLLER_UID_LABEL, uid),
            (JOB_NAME_LABEL, name),
            (LEGACY_CONTROLLER_UID_LABEL, uid),
            (LEGACY_JOB_NAME_LABEL, name),
        ] {
            labels.insert(key.into(), json!(value));
        }
    }
    pod_spec(object_field(template, "spec"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        for (image, latest) in [
            ("busybox", true),
            ("busybox:latest", true),
            ("busybox:1.36", false),
            ("registry:5000/team/app", true),
            ("registry:5000/team/app:v2", false),
            ("app@sha256:abc", false),
        ] {
            assert_eq!(image_uses_latest(image), latest, "{image}");
        }
    }

    #[test]
    fn pod_defaults_fill_only_missing_fields() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "x:1", "terminationMessagePolicy": "FallbackToLogsOnError"}]}});
        apply(Resource::Pods, "ns", &mut pod);
        assert_eq!(pod["metadata"]["namespace"], "ns");
        assert!(pod["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["terminationMessagePolicy"], "FallbackToLogsOnError");
        assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(container["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            pod["status"],
            json!({"phase": "Pending", "qosClass": "BestEffort"})
        );
    }

    #[test]
    fn job_defaults_add_selector_and_template_labels() {
        let mut job = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}});
        apply(Resource::Jobs, "ns", &mut job);
        let uid = job["metadata"]["uid"].as_str().unwrap().to_owned();
        assert_eq!(job["spec"]["completions"], 1);
        assert_eq!(job["spec"]["parallelism"], 1);
        assert_eq!(job["spec"]["backoffLimit"], 6);
        assert_eq!(job["spec"]["completionMode"], "NonIndexed");
        assert_eq!(
            job["spec"]["selector"]["matchLabels"][CONTROLLER_UID_LABEL],
            uid.as_str()
        );
        assert_eq!(job["spec"]["template"]["metadata"]["labels"][JOB_NAME_LABEL], "j");
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"][LEGACY_CONTROLLER_UID_LABEL],
            uid.as_str()
        );

        let mut parallel = json!({"metadata": {"name": "j"}, "spec": {"parallelism": 3, "backoffLimitPerIndex": 0,
            "template": {"spec": {"restartPolicy": "Never", "containers": []}}}});
        apply(Resource::Jobs, "ns", &mut parallel);
        assert!(parallel["spec"].get("completions").is_none());
        assert_eq!(parallel["spec"]["backoffLimit"], i64::from(i32::MAX));
    }

    #[test]
    fn qos_classes() {
        let check = |resources: Value, expected: &str| {
            let spec = json!({"containers": [{"name": "c", "resources": resources}]});
            assert_eq!(qos_class(&spec), expected);
        };
        check(json!({}), "BestEffort");
        check(json!({"requests": {"cpu": "1"}}), "Burstable");
        check(json!({"limits": {"cpu": "1", "memory": "1Gi"}}), "Guaranteed");
        check(
            json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}),
            "Burstable",
        );
    }
}
