//! PATCH and PUT: merge and JSON patches, optimistic concurrency, the fields the server owns, and the
//! immutability rules of pod and Job specs. A change that releases the last finalizer of an object being
//! deleted completes its deletion.

use serde_json::{Value, json};

use super::{Cluster, FollowUp, check_kind, stored, uid_of};
use crate::resource::Resource;
use crate::status::{ApiError, Cause};
use crate::store::{Key, Store};
use crate::validation;

impl Cluster {
    pub(crate) fn patch(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let patch: Value = serde_json::from_slice(body)
            .map_err(|error| ApiError::bad_request(format!("error decoding patch: {error}")))?;
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        let mut store = self.store();
        let key = Key::new(resource, namespace, name);
        let current = stored(&store, &key)?;
        let mut candidate = current.clone();
        match media_type {
            // Strategic merge is served as a JSON merge patch: identical for maps and scalars, which is what
            // clients patch on these resources (labels, annotations, finalizers as a whole list).
            "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                check_version(resource, &current, &patch)?;
                json_patch::merge(&mut candidate, &patch);
            }
            "application/json-patch+json" => {
                let operations: json_patch::Patch = serde_json::from_value(patch)
                    .map_err(|error| ApiError::bad_request(format!("error decoding patch: {error}")))?;
                json_patch::patch(&mut candidate, &operations).map_err(|error| {
                    ApiError::new(
                        422,
                        format!("the server rejected our request due to an error in our request: {error}"),
                    )
                })?;
            }
            other => return Err(ApiError::unsupported_media_type(other)),
        }
        let (written, follow_ups) = self.commit_update(&mut store, resource, &key, &current, candidate)?;
        drop(store);
        self.run(follow_ups);
        Ok(written)
    }

    pub(crate) fn update(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        body: Value,
    ) -> Result<Value, ApiError> {
        check_kind(resource, &body)?;
        let mut store = self.store();
        let key = Key::new(resource, namespace, name);
        let current = stored(&store, &key)?;
        check_version(resource, &current, &body)?;
        let (written, follow_ups) = self.commit_update(&mut store, resource, &key, &current, body)?;
        drop(store);
        self.run(follow_ups);
        Ok(written)
    }

    /// Applies the update rules shared by PATCH and PUT and writes the result.
    fn commit_update(
        &self,
        store: &mut Store,
        resource: Resource,
        key: &Key,
        current: &Value,
        mut candidate: Value,
    ) -> Result<(Value, Vec<FollowUp>), ApiError> {
        let name = key.name.as_str();
        for field in ["name", "namespace"] {
            let before = current.pointer(&format!("/metadata/{field}"));
            let after = candidate.pointer(&format!("/metadata/{field}"));
            if after.is_some_and(|a| Some(a) != before) {
                return Err(ApiError::bad_request(format!(
                    "the {field} of the object ({}) does not match the {field} on the URL ({})",
                    after.and_then(Value::as_str).unwrap_or_default(),
                    before.and_then(Value::as_str).unwrap_or_default()
                )));
            }
        }
        if !candidate.get("metadata").is_some_and(Value::is_object) {
            candidate["metadata"] = json!({});
        }
        candidate["kind"] = json!(resource.kind());
        candidate["apiVersion"] = json!(resource.api_version());
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            match current.pointer(&format!("/metadata/{field}")) {
                Some(value) => candidate["metadata"][field] = value.clone(),
                None => {
                    if let Some(metadata) = candidate["metadata"].as_object_mut() {
                        metadata.remove(field);
                    }
                }
            }
        }
        if matches!(resource, Resource::Pods | Resource::Jobs) {
            // The main resource ignores status changes; only the status subresource (here: the controllers)
            // writes it.
            candidate["status"] = current.get("status").cloned().unwrap_or_else(|| json!({}));
        }
        let mut causes = Vec::new();
        validation::validate_metadata(&candidate, usize::MAX, &mut causes);
        let finalizers = |object: &Value| -> Vec<String> {
            object
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let deleting = current.pointer("/metadata/deletionTimestamp").is_some();
        if deleting
            && finalizers(&candidate)
                .iter()
                .any(|f| !finalizers(current).contains(f))
        {
            causes.push(Cause::forbidden(
                "metadata.finalizers",
                "no new finalizers can be added if the object is being deleted",
            ));
        }
        match resource {
            Resource::Pods => causes.extend(pod_spec_change(current, &candidate)),
            Resource::Jobs => causes.extend(job_spec_change(current, &candidate)),
            Resource::Events | Resource::EventsV1 => {}
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(resource, name, causes));
        }
        if candidate == *current {
            return Ok((candidate, Vec::new()));
        }
        if resource == Resource::Jobs && candidate.get("spec") != current.get("spec") {
            let generation = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            candidate["metadata"]["generation"] = json!(generation + 1);
        }
        let mut follow_ups = Vec::new();
        let uid = uid_of(current);
        if resource == Resource::Pods && candidate.get("spec") != current.get("spec") {
            follow_ups.push(FollowUp::PodSpecChanged { uid: uid.clone() });
        }
        let written = store.replace(key, candidate);
        if deleting && finalizers(&written).is_empty() && self.may_remove(resource, &written) {
            let removed = store.remove(key).unwrap_or(written);
            follow_ups.extend(self.after_removal(resource, &removed));
            return Ok((removed, follow_ups));
        }
        Ok((written, follow_ups))
    }
}

/// Optimistic concurrency: a `resourceVersion` in the request must be the stored one.
fn check_version(resource: Resource, current: &Value, request: &Value) -> Result<(), ApiError> {
    let version = |object: &Value| {
        object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match version(request) {
        Some(asked) if Some(&asked) != version(current).as_ref() => Err(ApiError::conflict(
            resource,
            current
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            "the object has been modified; please apply your changes to the latest version and try again",
        )),
        _ => Ok(()),
    }
}

/// Pod spec fields that an update may change; everything else is immutable.
fn pod_spec_change(current: &Value, candidate: &Value) -> Option<Cause> {
    let mask = |spec: Option<&Value>| -> Value {
        let mut spec = spec.cloned().unwrap_or_else(|| json!({}));
        for list in ["containers", "initContainers"] {
            if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                    container.remove("image");
                }
            }
        }
        if let Some(spec) = spec.as_object_mut() {
            spec.remove("activeDeadlineSeconds");
            spec.remove("tolerations");
        }
        spec
    };
    (mask(current.get("spec")) != mask(candidate.get("spec"))).then(|| {
        Cause::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        )
    })
}

/// Job spec fields that may change after creation; the template and selector are immutable.
fn job_spec_change(current: &Value, candidate: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for field in ["template", "selector", "completionMode"] {
        let before = current.pointer(&format!("/spec/{field}"));
        let after = candidate.pointer(&format!("/spec/{field}"));
        if before != after {
            causes.push(Cause::invalid(&format!("spec.{field}"), "", "field is immutable"));
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_updates_may_change_only_some_fields() {
        let pod = json!({"spec": {"containers": [{"name": "c", "image": "a"}], "restartPolicy": "Never"}});
        let mut image = pod.clone();
        image["spec"]["containers"][0]["image"] = json!("b");
        image["spec"]["activeDeadlineSeconds"] = json!(5);
        assert_eq!(pod_spec_change(&pod, &image), None);
        let mut policy = pod.clone();
        policy["spec"]["restartPolicy"] = json!("Always");
        assert!(pod_spec_change(&pod, &policy).is_some());
    }
}
