//! The permission self-check (§10): at start, one `SelfSubjectAccessReview` per permission the executor
//! needs in each allowed namespace. Missing permissions are logged once each, and triggers that need one fail
//! with `kubernetes RBAC: missing <verb> <resource> in <namespace>` instead of failing half-way.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

use crate::api::{ApiError, bounded};
use crate::manifest::Kind;

/// One permission: verb, API group, resource and subresource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    /// `create`, `get`, …
    pub verb: &'static str,
    /// `""` (core), `batch`, `events.k8s.io`.
    pub group: &'static str,
    /// `pods`, `jobs`, `events`.
    pub resource: &'static str,
    /// `log` for `pods/log`, else empty.
    pub subresource: &'static str,
}

/// A permission the executor lacks in one namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// The namespace.
    pub namespace: String,
    /// The permission.
    pub permission: Permission,
}

const fn permission(
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
) -> Permission {
    Permission {
        verb,
        group,
        resource,
        subresource,
    }
}

/// Every permission of the minimal Role, in its order.
pub const REQUIRED: [Permission; 16] = [
    permission("create", "", "pods", ""),
    permission("get", "", "pods", ""),
    permission("list", "", "pods", ""),
    permission("watch", "", "pods", ""),
    permission("delete", "", "pods", ""),
    permission("patch", "", "pods", ""),
    permission("get", "", "pods", "log"),
    permission("get", "", "events", ""),
    permission("list", "", "events", ""),
    permission("watch", "", "events", ""),
    permission("create", "batch", "jobs", ""),
    permission("get", "batch", "jobs", ""),
    permission("list", "batch", "jobs", ""),
    permission("watch", "batch", "jobs", ""),
    permission("delete", "batch", "jobs", ""),
    permission("patch", "batch", "jobs", ""),
];

impl Permission {
    /// `pods`, `pods/log`, `jobs`.
    pub fn resource_path(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// Whether running an object of `kind` needs this permission. Pods are needed by Jobs too (their pods
    /// are watched and their logs read); events only when they are copied.
    fn needed_for(&self, kind: Kind, copy_events: bool) -> bool {
        match (self.resource, kind) {
            ("jobs", Kind::Pod) => false,
            ("pods", Kind::Job) => self.verb != "create",
            ("events", _) => copy_events,
            _ => true,
        }
    }
}

impl Missing {
    /// The result message of a trigger that needs this permission.
    pub fn message(&self) -> String {
        format!(
            "kubernetes RBAC: missing {} {} in {}",
            self.permission.verb,
            self.permission.resource_path(),
            self.namespace
        )
    }
}

/// Asks the API server about every required permission in every namespace; returns what is denied. A review
/// that cannot be made (API unreachable) counts as allowed: the call itself will fail with its own error.
pub(crate) async fn check(
    client: &kube::Client,
    namespaces: &[String],
    limit: std::time::Duration,
) -> Vec<Missing> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut missing = Vec::new();
    for namespace in namespaces {
        for permission in REQUIRED {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        namespace: Some(namespace.clone()),
                        verb: Some(permission.verb.to_owned()),
                        group: Some(permission.group.to_owned()),
                        resource: Some(permission.resource.to_owned()),
                        subresource: (!permission.subresource.is_empty())
                            .then(|| permission.subresource.to_owned()),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            match bounded(limit, reviews.create(&PostParams::default(), &review)).await {
                Ok(answer) if answer.status.as_ref().is_some_and(|status| status.allowed) => {}
                Ok(_) => {
                    let denied = Missing {
                        namespace: namespace.clone(),
                        permission,
                    };
                    tracing::warn!("{}", denied.message());
                    missing.push(denied);
                }
                Err(error) => log_unchecked(namespace, &permission, &error),
            }
        }
    }
    missing
}

/// The first missing permission an execution of `kind` in `namespace` needs.
pub(crate) fn first_needed<'a>(
    missing: &'a [Missing],
    namespace: &str,
    kind: Kind,
    copy_events: bool,
) -> Option<&'a Missing> {
    missing
        .iter()
        .find(|m| m.namespace == namespace && m.permission.needed_for(kind, copy_events))
}

fn log_unchecked(namespace: &str, permission: &Permission, error: &ApiError) {
    tracing::warn!(
        namespace,
        verb = permission.verb,
        resource = %permission.resource_path(),
        %error,
        "cannot check kubernetes permission"
    );
}
