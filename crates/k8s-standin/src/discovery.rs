//! Non-resource endpoints: `/version` and the legacy (unaggregated) discovery documents for the groups the
//! stand-in serves. Clients that ask for aggregated discovery get these and fall back, as against old servers.

use serde_json::{Value, json};

/// The Kubernetes version the stand-in claims (it follows the API of this minor version).
pub(crate) const MINOR_VERSION: &str = "33";

const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The JSON document served at `path`, or `None` when the path is unknown.
pub(crate) fn document(path: &str) -> Option<Value> {
    Some(match path {
        "/version" => json!({
            "major": "1",
            "minor": MINOR_VERSION,
            "emulationMajor": "1",
            "emulationMinor": MINOR_VERSION,
            "gitVersion": format!("v1.{MINOR_VERSION}.0-xjob-standin"),
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.24.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }),
        "/api" => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
        }),
        "/api/v1" => resource_list(
            "v1",
            vec![
                resource("pods", "pod", "Pod", true, &ALL_VERBS, &["po"]),
                resource("pods/log", "", "Pod", true, &["get"], &[]),
                resource("events", "event", "Event", true, &ALL_VERBS, &["ev"]),
            ],
        ),
        "/apis" => {
            let groups: Vec<Value> = ["batch", "authorization.k8s.io", "events.k8s.io"]
                .into_iter()
                .map(group)
                .collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        "/apis/batch" => group("batch"),
        "/apis/authorization.k8s.io" => group("authorization.k8s.io"),
        "/apis/events.k8s.io" => group("events.k8s.io"),
        "/apis/batch/v1" => resource_list(
            "batch/v1",
            vec![resource("jobs", "job", "Job", true, &ALL_VERBS, &[])],
        ),
        "/apis/authorization.k8s.io/v1" => resource_list(
            "authorization.k8s.io/v1",
            vec![resource(
                "selfsubjectaccessreviews",
                "selfsubjectaccessreview",
                "SelfSubjectAccessReview",
                false,
                &["create"],
                &[],
            )],
        ),
        "/apis/events.k8s.io/v1" => resource_list(
            "events.k8s.io/v1",
            vec![resource("events", "event", "Event", true, &ALL_VERBS, &["ev"])],
        ),
        _ => return None,
    })
}

fn group(name: &str) -> Value {
    let version = json!({"groupVersion": format!("{name}/v1"), "version": "v1"});
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": [version.clone()],
        "preferredVersion": version,
    })
}

fn resource_list(group_version: &str, resources: Vec<Value>) -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

fn resource(
    name: &str,
    singular: &str,
    kind: &str,
    namespaced: bool,
    verbs: &[&str],
    short: &[&str],
) -> Value {
    let mut resource = json!({
        "name": name,
        "singularName": singular,
        "namespaced": namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if !short.is_empty() {
        resource["shortNames"] = json!(short);
    }
    if name == "pods" || name == "jobs" {
        resource["categories"] = json!(["all"]);
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_exist_for_every_served_group() {
        for path in [
            "/version",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/batch/v1",
            "/apis/authorization.k8s.io/v1",
            "/apis/events.k8s.io/v1",
        ] {
            assert!(document(path).is_some(), "{path}");
        }
        assert!(document("/apis/apps/v1").is_none());
        let groups = document("/apis").unwrap();
        assert_eq!(
            groups["groups"][0]["preferredVersion"]["groupVersion"],
            "batch/v1"
        );
        let core = document("/api/v1").unwrap();
        assert_eq!(core["resources"][0]["name"], "pods");
        assert_eq!(core["resources"][1]["verbs"], json!(["get"]));
    }
}
