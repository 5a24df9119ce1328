//! The resources the stand-in serves and how a request path maps onto them (the API server's "request info"):
//! group, version, namespace, resource, name, subresource and verb. Handling a request lives in `api`.

use std::fmt;

/// The object kinds stored by the stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// Core `v1` pods.
    Pods,
    /// `batch/v1` jobs.
    Jobs,
    /// Core `v1` events (written by the fake kubelet and the Job controller).
    Events,
    /// `events.k8s.io/v1` events (created by clients; stored separately from the core ones).
    EventsV1,
}

/// The kind of API request, as named in RBAC rules and fault matchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Read one object (also `pods/log`).
    Get,
    /// Read a collection.
    List,
    /// Stream changes of a collection or object.
    Watch,
    /// `POST`.
    Create,
    /// `PUT`.
    Update,
    /// `PATCH`.
    Patch,
    /// `DELETE` of one object.
    Delete,
    /// `DELETE` of a collection.
    DeleteCollection,
}

impl Verb {
    /// The RBAC spelling (`get`, `deletecollection`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Resource {
    /// Every stored resource, in a fixed order.
    pub const ALL: [Resource; 4] = [
        Resource::Pods,
        Resource::Jobs,
        Resource::Events,
        Resource::EventsV1,
    ];

    /// API group (`""` for core).
    pub fn group(self) -> &'static str {
        match self {
            Resource::Pods | Resource::Events => "",
            Resource::Jobs => "batch",
            Resource::EventsV1 => "events.k8s.io",
        }
    }

    /// `apiVersion` of the objects.
    pub fn api_version(self) -> &'static str {
        match self {
            Resource::Pods | Resource::Events => "v1",
            Resource::Jobs => "batch/v1",
            Resource::EventsV1 => "events.k8s.io/v1",
        }
    }

    /// `kind` of the objects.
    pub fn kind(self) -> &'static str {
        match self {
            Resource::Pods => "Pod",
            Resource::Jobs => "Job",
            Resource::Events | Resource::EventsV1 => "Event",
        }
    }

    /// Resource name in URLs.
    pub fn plural(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::Jobs => "jobs",
            Resource::Events | Resource::EventsV1 => "events",
        }
    }

    /// `pods`, `jobs.batch`, `events.events.k8s.io`: the form used in error messages.
    pub(crate) fn qualified_plural(self) -> String {
        if self.group().is_empty() {
            self.plural().to_owned()
        } else {
            format!("{}.{}", self.plural(), self.group())
        }
    }

    pub(crate) fn from_path(group: &str, version: &str, plural: &str) -> Option<Resource> {
        match (group, version, plural) {
            ("", "v1", "pods") => Some(Resource::Pods),
            ("", "v1", "events") => Some(Resource::Events),
            ("batch", "v1", "jobs") => Some(Resource::Jobs),
            ("events.k8s.io", "v1", "events") => Some(Resource::EventsV1),
            _ => None,
        }
    }

    /// Field selectors the real server accepts for this resource, besides `metadata.name` and
    /// `metadata.namespace`.
    pub(crate) fn extra_field_labels(self) -> &'static [&'static str] {
        match self {
            Resource::Pods => &[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ],
            Resource::Jobs => &["status.successful"],
            Resource::Events | Resource::EventsV1 => &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
        }
    }
}

/// What a request addresses, parsed from method, path and query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// `/version`, `/api`, `/apis`, `/api/v1`, `/apis/<group>[/<version>]`, `/healthz`, ...
    NonResource(String),
    /// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`.
    SelfSubjectAccessReview,
    /// A stored resource, its collection or a subresource.
    Object(ObjectPath),
    /// A well-formed resource path naming something the stand-in does not serve.
    Unknown { group: String, resource: String },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObjectPath {
    pub(crate) resource: Resource,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
}

/// Splits an API path into its parts; `None` for paths outside `/api` and `/apis` resource trees.
pub(crate) fn parse_target(path: &str) -> Target {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return Target::NonResource(format!("/{}", segments.join("/"))),
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some((*namespace).to_owned()), rest),
        _ => (None, rest),
    };
    if group == "authorization.k8s.io" && version == "v1" && rest == ["selfsubjectaccessreviews"] {
        return Target::SelfSubjectAccessReview;
    }
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some((*name).to_owned()), None),
        [plural, name, sub] => (*plural, Some((*name).to_owned()), Some((*sub).to_owned())),
        _ => {
            return Target::Unknown {
                group: group.to_owned(),
                resource: rest.join("/"),
            };
        }
    };
    match Resource::from_path(group, version, plural) {
        Some(resource) => Target::Object(ObjectPath {
            resource,
            namespace,
            name,
            subresource,
        }),
        None => Target::Unknown {
            group: group.to_owned(),
            resource: plural.to_owned(),
        },
    }
}

/// The RBAC verb of a request to an object path.
pub(crate) fn verb_for(method: &http::Method, has_name: bool, watch: bool) -> Option<Verb> {
    Some(match *method {
        http::Method::GET if watch => Verb::Watch,
        http::Method::GET if has_name => Verb::Get,
        http::Method::GET => Verb::List,
        http::Method::POST if !has_name => Verb::Create,
        http::Method::PUT if has_name => Verb::Update,
        http::Method::PATCH if has_name => Verb::Patch,
        http::Method::DELETE if has_name => Verb::Delete,
        http::Method::DELETE => Verb::DeleteCollection,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(resource: Resource, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>) -> Target {
        Target::Object(ObjectPath {
            resource,
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
        })
    }

    #[test]
    fn paths_map_to_targets() {
        let cases = [
            ("/api/v1/pods", object(Resource::Pods, None, None, None)),
            (
                "/api/v1/namespaces/ns/pods",
                object(Resource::Pods, Some("ns"), None, None),
            ),
            (
                "/api/v1/namespaces/ns/pods/p",
                object(Resource::Pods, Some("ns"), Some("p"), None),
            ),
            (
                "/api/v1/namespaces/ns/pods/p/log",
                object(Resource::Pods, Some("ns"), Some("p"), Some("log")),
            ),
            (
                "/apis/batch/v1/namespaces/ns/jobs/j",
                object(Resource::Jobs, Some("ns"), Some("j"), None),
            ),
            ("/apis/batch/v1/jobs", object(Resource::Jobs, None, None, None)),
            (
                "/api/v1/namespaces/ns/events",
                object(Resource::Events, Some("ns"), None, None),
            ),
            (
                "/apis/events.k8s.io/v1/namespaces/ns/events",
                object(Resource::EventsV1, Some("ns"), None, None),
            ),
            (
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                Target::SelfSubjectAccessReview,
            ),
            ("/version", Target::NonResource("/version".into())),
            ("/api", Target::NonResource("/api".into())),
            ("/api/v1", Target::NonResource("/api/v1".into())),
            ("/apis/batch/v1", Target::NonResource("/apis/batch/v1".into())),
            (
                "/api/v1/namespaces/ns/configmaps",
                Target::Unknown {
                    group: String::new(),
                    resource: "configmaps".into(),
                },
            ),
            (
                "/api/v1/namespaces/ns",
                Target::Unknown {
                    group: String::new(),
                    resource: "namespaces".into(),
                },
            ),
        ];
        for (path, expected) in cases {
            assert_eq!(parse_target(path), expected, "{path}");
        }
    }

    #[test]
    fn verbs_follow_method_and_shape() {
        use http::Method;
        let cases = [
            (Method::GET, true, false, Some(Verb::Get)),
            (Method::GET, false, false, Some(Verb::List)),
            (Method::GET, false, true, Some(Verb::Watch)),
            (Method::GET, true, true, Some(Verb::Watch)),
            (Method::POST, false, false, Some(Verb::Create)),
            (Method::POST, true, false, None),
            (Method::PUT, true, false, Some(Verb::Update)),
            (Method::PATCH, true, false, Some(Verb::Patch)),
            (Method::DELETE, true, false, Some(Verb::Delete)),
            (Method::DELETE, false, false, Some(Verb::DeleteCollection)),
        ];
        for (method, named, watch, expected) in cases {
            assert_eq!(
                verb_for(&method, named, watch),
                expected,
                "{method} named={named} watch={watch}"
            );
        }
    }
}
