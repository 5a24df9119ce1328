//! The HTTP face of the stand-in: authentication, injected faults and access rules, the request record, and
//! dispatching each request to discovery, the object verbs of `cluster`, watches, `pods/log` and access
//! reviews. Connections and TLS live in `server`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::Utc;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::cluster::{Cluster, DeleteOptions, Propagation, Selection, uid_of};
use crate::faults::{AccessQuery, RecordedRequest, RequestInfo};
use crate::logs::{self, LogQuery, StreamFaults};
use crate::resource::{ObjectPath, Resource, Target, Verb, parse_target, verb_for};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::watch::{self, WatchRequest};
use crate::{discovery, time};

pub(crate) type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

/// Returned instead of a response when the stand-in plays "unreachable": the connection is dropped.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped: the stand-in is unreachable")
    }
}

impl std::error::Error for Dropped {}

/// Largest request body accepted.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The identity access-denied messages name.
const USER: &str = "system:serviceaccount:default:xjob-standin";

const JOB_ORPHAN_WARNING: &str = "299 - \"child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning\"";

pub(crate) async fn handle(cluster: Cluster, request: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    if cluster.unreachable() {
        return Err(Dropped);
    }
    let at = SystemTime::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let target = parse_target(&path);
    let info = request_info(&method, &target, &params);

    let response = if !authenticated(&cluster, &request) {
        error_response(&ApiError::unauthorized())
    } else {
        let delay = cluster.faults().take_delay(&info);
        if !delay.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cluster.shutdown_token().cancelled() => {}
            }
        }
        if cluster.unreachable() {
            return Err(Dropped);
        }
        match cluster.faults().take_failure(&info) {
            Some(error) => error_response(&error),
            None => match forbidden(&cluster, &target, &info) {
                Some(error) => error_response(&error),
                None => dispatch(&cluster, request, target, params)
                    .await
                    .unwrap_or_else(|error| error_response(&error)),
            },
        }
    };
    cluster.faults().record(RecordedRequest {
        method: method.to_string(),
        path,
        query,
        verb: info.verb,
        resource: info.resource,
        namespace: info.namespace,
        name: info.name,
        status: response.status().as_u16(),
        at,
    });
    Ok(response)
}

fn request_info(method: &Method, target: &Target, params: &HashMap<String, String>) -> RequestInfo {
    match target {
        Target::Object(path) => {
            let watch = is_true(params.get("watch"));
            let mut resource = path.resource.plural().to_owned();
            if let Some(sub) = &path.subresource {
                resource = format!("{resource}/{sub}");
            }
            RequestInfo {
                verb: verb_for(method, path.name.is_some(), watch),
                resource,
                namespace: path.namespace.clone(),
                name: path.name.clone(),
            }
        }
        Target::SelfSubjectAccessReview => RequestInfo {
            verb: (*method == Method::POST).then_some(Verb::Create),
            resource: "selfsubjectaccessreviews".to_owned(),
            namespace: None,
            name: None,
        },
        Target::Unknown { resource, .. } => RequestInfo {
            verb: verb_for(method, false, false),
            resource: resource.clone(),
            namespace: None,
            name: None,
        },
        Target::NonResource(_) => RequestInfo::default(),
    }
}

fn authenticated(cluster: &Cluster, request: &Request<Incoming>) -> bool {
    let Some(expected) = &cluster.options().token else {
        return true;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    presented.is_some_and(|token| token.trim() == expected)
}

/// Applies the access rules set through the handle to real requests, as RBAC would.
fn forbidden(cluster: &Cluster, target: &Target, info: &RequestInfo) -> Option<ApiError> {
    let Target::Object(path) = target else { return None };
    let verb = info.verb?;
    let namespace = path.namespace.as_deref().unwrap_or_default();
    let subresource = path.subresource.as_deref().unwrap_or_default();
    let asked = AccessQuery {
        verb: verb.as_str(),
        group: path.resource.group(),
        resource: path.resource.plural(),
        subresource,
        namespace,
    };
    if cluster.faults().allowed(&asked) {
        return None;
    }
    let subject = match &path.name {
        Some(name) => format!("{} \"{name}\"", path.resource.qualified_plural()),
        None => path.resource.qualified_plural(),
    };
    let scope = if namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace \"{namespace}\"")
    };
    let message = format!(
        "{subject} is forbidden: User \"{USER}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
        info.resource,
        path.resource.group()
    );
    let mut details = json!({"kind": path.resource.plural()});
    if let Some(name) = &path.name {
        details["name"] = json!(name);
    }
    if !path.resource.group().is_empty() {
        details["group"] = json!(path.resource.group());
    }
    Some(ApiError::forbidden(message).with_details(details))
}

async fn dispatch(
    cluster: &Cluster,
    request: Request<Incoming>,
    target: Target,
    params: HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    match target {
        Target::NonResource(path) => {
            if *request.method() != Method::GET {
                return Err(ApiError::method_not_allowed(request.method().as_str()));
            }
            if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
                return Ok(text_response(StatusCode::OK, Bytes::from_static(b"ok")));
            }
            discovery::document(&path)
                .map(|doc| json_response(StatusCode::OK, &doc))
                .ok_or_else(ApiError::path_not_found)
        }
        Target::Unknown { .. } => Err(ApiError::path_not_found()),
        Target::SelfSubjectAccessReview => {
            if *request.method() != Method::POST {
                return Err(ApiError::method_not_allowed(request.method().as_str()));
            }
            let body = read_json(request).await?;
            Ok(json_response(StatusCode::CREATED, &access_review(cluster, body)))
        }
        Target::Object(path) => object_request(cluster, request, path, params).await,
    }
}

async fn object_request(
    cluster: &Cluster,
    request: Request<Incoming>,
    path: ObjectPath,
    params: HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let method = request.method().clone();
    let watch = is_true(params.get("watch"));
    let verb = verb_for(&method, path.name.is_some(), watch)
        .ok_or_else(|| ApiError::method_not_allowed(method.as_str()))?;
    let resource = path.resource;
    let dry_run = match params.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") if verb == Verb::Create => true,
        Some("All") => {
            return Err(ApiError::bad_request(format!(
                "dryRun is supported only on create by this server, not on {verb}"
            )));
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            )));
        }
    };
    if let Some(subresource) = &path.subresource {
        return match (resource, subresource.as_str(), verb, &path.namespace, &path.name) {
            (Resource::Pods, "log", Verb::Get, Some(namespace), Some(name)) => {
                pod_log(cluster, namespace, name, &params)
            }
            _ => Err(ApiError::path_not_found()),
        };
    }
    // Named operations and creation are namespaced; only collection reads may span namespaces.
    let namespace = path.namespace.clone();
    let named = |name: &Option<String>| -> Result<(String, String), ApiError> {
        match (&namespace, name) {
            (Some(namespace), Some(name)) => Ok((namespace.clone(), name.clone())),
            _ => Err(ApiError::path_not_found()),
        }
    };
    match verb {
        Verb::Get => {
            let (namespace, name) = named(&path.name)?;
            Ok(json_response(
                StatusCode::OK,
                &cluster.get(resource, &namespace, &name)?,
            ))
        }
        Verb::List => {
            let selection = selection(resource, &params, None)?;
            let limit = match params.get("limit").filter(|l| !l.is_empty()) {
                Some(limit) => Some(
                    limit
                        .parse::<usize>()
                        .map_err(|_| ApiError::bad_request(format!("invalid limit {limit:?}")))?,
                ),
                None => None,
            };
            let list = cluster.list(
                resource,
                namespace.as_deref(),
                &selection,
                limit,
                params.get("continue").map(String::as_str),
            )?;
            Ok(json_response(StatusCode::OK, &list))
        }
        Verb::Watch => {
            let selection = selection(resource, &params, path.name.as_deref())?;
            let timeout = match params.get("timeoutSeconds").filter(|t| !t.is_empty()) {
                Some(seconds) => Some(Duration::from_secs(seconds.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid timeoutSeconds {seconds:?}"))
                })?)),
                None => None,
            };
            let receiver = watch::start(
                cluster,
                WatchRequest {
                    resource,
                    namespace: namespace.clone(),
                    selection,
                    resource_version: params.get("resourceVersion").cloned(),
                    send_initial_events: is_true(params.get("sendInitialEvents")),
                    bookmarks: is_true(params.get("allowWatchBookmarks")),
                    timeout,
                },
            )?;
            Ok(stream_response("application/json", receiver))
        }
        Verb::Create => {
            let namespace = namespace.ok_or_else(ApiError::path_not_found)?;
            let body = read_json(request).await?;
            let created = cluster.create_with(resource, &namespace, body, dry_run)?;
            Ok(json_response(StatusCode::CREATED, &created))
        }
        Verb::Update => {
            let (namespace, name) = named(&path.name)?;
            let body = read_json(request).await?;
            Ok(json_response(
                StatusCode::OK,
                &cluster.update(resource, &namespace, &name, body)?,
            ))
        }
        Verb::Patch => {
            let (namespace, name) = named(&path.name)?;
            let content_type = request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = read_bytes(request).await?;
            Ok(json_response(
                StatusCode::OK,
                &cluster.patch(resource, &namespace, &name, &content_type, &body)?,
            ))
        }
        Verb::Delete => {
            let (namespace, name) = named(&path.name)?;
            let options = delete_options(request, &params).await?;
            let deleted = cluster.delete(resource, &namespace, &name, &options)?;
            // The real server answers 202 only to a pending deletion that asked for `orphanDependents: false`,
            // keeping 200 for everything else for the sake of old clients.
            let status = if !deleted.removed && options.orphan_dependents == Some(false) {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            // Pods answer with the object; other resources with a Success status once gone.
            let body = if resource == Resource::Pods || !deleted.removed {
                deleted.object
            } else {
                success_status(resource, &name, &uid_of(&deleted.object))
            };
            let mut response = json_response(status, &body);
            if resource == Resource::Jobs && options.propagation.is_none() {
                response
                    .headers_mut()
                    .insert(header::WARNING, HeaderValue::from_static(JOB_ORPHAN_WARNING));
            }
            Ok(response)
        }
        Verb::DeleteCollection => {
            let selection = selection(resource, &params, None)?;
            let options = delete_options(request, &params).await?;
            let list = cluster.delete_collection(resource, namespace.as_deref(), &selection, &options)?;
            Ok(json_response(StatusCode::OK, &list))
        }
    }
}

fn selection(
    resource: Resource,
    params: &HashMap<String, String>,
    name: Option<&str>,
) -> Result<Selection, ApiError> {
    let labels = LabelSelector::parse(
        params
            .get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    let mut fields = params.get("fieldSelector").cloned().unwrap_or_default();
    if let Some(name) = name {
        // A watch on one object is a watch on the collection pinned to its name.
        fields = if fields.is_empty() {
            format!("metadata.name={name}")
        } else {
            format!("{fields},metadata.name={name}")
        };
    }
    Ok(Selection {
        labels,
        fields: FieldSelector::parse(resource, &fields)?,
    })
}

async fn delete_options(
    request: Request<Incoming>,
    params: &HashMap<String, String>,
) -> Result<DeleteOptions, ApiError> {
    let body = read_bytes(request).await?;
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|error| ApiError::bad_request(format!("invalid DeleteOptions: {error}")))?
    };
    let grace = match params.get("gracePeriodSeconds") {
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds {text:?}")))?,
        ),
        None => body.get("gracePeriodSeconds").and_then(Value::as_i64),
    };
    let orphan_dependents = params
        .get("orphanDependents")
        .map(|v| v == "true")
        .or(body.get("orphanDependents").and_then(Value::as_bool));
    let propagation = match params
        .get("propagationPolicy")
        .map(String::as_str)
        .or(body.get("propagationPolicy").and_then(Value::as_str))
    {
        Some(text) => Some(Propagation::parse(text)?),
        None => orphan_dependents.map(|orphan| {
            if orphan {
                Propagation::Orphan
            } else {
                Propagation::Background
            }
        }),
    };
    let precondition = |field: &str| {
        body.pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(DeleteOptions {
        grace_period_seconds: grace,
        orphan_dependents,
        propagation,
        precondition_uid: precondition("uid"),
        precondition_resource_version: precondition("resourceVersion"),
    })
}

fn success_status(resource: Resource, name: &str, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": resource.group(), "kind": resource.plural(), "uid": uid},
    })
}

fn access_review(cluster: &Cluster, mut review: Value) -> Value {
    let attributes = review.pointer("/spec/resourceAttributes").cloned();
    let allowed = match &attributes {
        Some(attributes) => {
            let text = |field: &str| attributes.get(field).and_then(Value::as_str).unwrap_or_default();
            cluster.faults().allowed(&AccessQuery {
                verb: text("verb"),
                group: text("group"),
                resource: text("resource"),
                subresource: text("subresource"),
                namespace: text("namespace"),
            })
        }
        // Non-resource URLs are readable by every authenticated identity here.
        None => true,
    };
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    review["metadata"] = json!({"creationTimestamp": null});
    review["status"] = if allowed {
        json!({"allowed": true, "reason": "allowed by the stand-in's access rules"})
    } else {
        json!({"allowed": false, "denied": true, "reason": "denied by the stand-in's access rules"})
    };
    review
}

fn pod_log(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    params: &HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let pod = cluster.get(Resource::Pods, namespace, name)?;
    let names = |list: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (apps, inits) = (names("containers"), names("initContainers"));
    let container = match params.get("container").filter(|c| !c.is_empty()) {
        Some(container) => {
            if !apps.contains(container) && !inits.contains(container) {
                return Err(ApiError::bad_request(format!(
                    "container {container} is not valid for pod {name}"
                )));
            }
            container.clone()
        }
        None if apps.len() == 1 => apps[0].clone(),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                apps.join(" ")
            );
            if !inits.is_empty() {
                message.push_str(&format!(" or one of the init containers: [{}]", inits.join(" ")));
            }
            return Err(ApiError::bad_request(message));
        }
    };
    if pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let status = ["initContainerStatuses", "containerStatuses"]
        .iter()
        .find_map(|list| {
            pod.pointer(&format!("/status/{list}"))
                .and_then(Value::as_array)
                .and_then(|l| {
                    l.iter()
                        .find(|s| s.get("name").and_then(Value::as_str) == Some(container.as_str()))
                })
        });
    let previous = is_true(params.get("previous"));
    let logs = cluster
        .kubelet()
        .container_logs(&uid_of(&pod), &container)
        .unwrap_or_default();
    let buffer = if previous {
        logs.previous.ok_or_else(|| {
            ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            ))
        })?
    } else {
        let waiting = status
            .and_then(|s| s.pointer("/state/waiting/reason"))
            .and_then(Value::as_str);
        match (logs.current, waiting) {
            (Some(buffer), _) => buffer,
            (None, reason) => {
                let reason = match reason {
                    Some("ErrImagePull" | "ImagePullBackOff") => "trying and failing to pull image",
                    Some(reason) => reason,
                    None => "ContainerCreating",
                };
                return Err(ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
                )));
            }
        }
    };
    let parse_count = |field: &str| -> Result<Option<usize>, ApiError> {
        match params.get(field).filter(|v| !v.is_empty()) {
            Some(text) => text
                .parse::<usize>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {field} {text:?}"))),
            None => Ok(None),
        }
    };
    let since = match (
        params.get("sinceTime").filter(|t| !t.is_empty()),
        params.get("sinceSeconds").filter(|t| !t.is_empty()),
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                422,
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            ));
        }
        (Some(text), None) => Some(
            time::parse(text).ok_or_else(|| ApiError::bad_request(format!("invalid sinceTime {text:?}")))?,
        ),
        (None, Some(seconds)) => {
            let seconds: i64 = seconds
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid sinceSeconds {seconds:?}")))?;
            Some(Utc::now() - chrono::Duration::seconds(seconds))
        }
        (None, None) => None,
    };
    let query = LogQuery {
        follow: is_true(params.get("follow")),
        timestamps: is_true(params.get("timestamps")),
        since,
        tail_lines: parse_count("tailLines")?,
        limit_bytes: parse_count("limitBytes")?,
    };
    let faults = StreamFaults {
        cut_after_lines: cluster.faults().take_log_cut(namespace, name, &container),
        hold_open: cluster.faults().logs_held(namespace, name, &container),
    };
    if !query.follow {
        return Ok(text_response(
            StatusCode::OK,
            logs::read_all(&buffer, &query, &faults),
        ));
    }
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let stop = cluster.shutdown_token().clone();
    let release = cluster.log_release();
    cluster.spawn(logs::follow(buffer, query, faults, sender, stop, release));
    Ok(stream_response("text/plain", receiver))
}

fn is_true(value: Option<&String>) -> bool {
    value.is_some_and(|v| v == "true" || v == "1")
}

async fn read_bytes(request: Request<Incoming>) -> Result<Bytes, ApiError> {
    Limited::new(request.into_body(), BODY_LIMIT)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|error| ApiError::new(413, format!("request body too large or unreadable: {error}")))
}

async fn read_json(request: Request<Incoming>) -> Result<Value, ApiError> {
    let bytes = read_bytes(request).await?;
    serde_json::from_slice(&bytes)
        .map_err(|error| ApiError::bad_request(format!("the request body is not valid JSON: {error}")))
}

pub(crate) fn error_response(error: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, &error.status());
    if let Some(seconds) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(body).expect("JSON values always serialize");
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed_unsync());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text_response(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body).boxed_unsync());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn stream_response(
    content_type: &'static str,
    receiver: tokio::sync::mpsc::Receiver<Bytes>,
) -> Response<Body> {
    let frames = ReceiverStream::new(receiver).map(|chunk| Ok::<_, Infallible>(Frame::data(chunk)));
    let mut response = Response::new(BodyExt::boxed_unsync(StreamBody::new(frames)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
