//! API errors and their `Status` bodies, shaped like the real API server's so that clients parse them into
//! their own error types (`kube::Error::Api`, kubectl's messages). HTTP plumbing lives in `server`; this module
//! only knows codes, reasons and JSON.

use serde_json::{Value, json};

use crate::resource::Resource;

/// One failed API call: HTTP code, machine-readable reason, human message and optional details.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    pub(crate) details: Option<Value>,
    /// Seconds for a `Retry-After` header (429 and injected faults).
    pub(crate) retry_after: Option<u32>,
}

/// One entry of `details.causes` in an `Invalid` status.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cause {
    pub(crate) field: String,
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, `FieldValueForbidden`, ...
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

impl Cause {
    pub(crate) fn required(field: &str) -> Self {
        Self {
            field: field.to_owned(),
            reason: "FieldValueRequired",
            message: "Required value".to_owned(),
        }
    }

    pub(crate) fn invalid(field: &str, value: &str, detail: &str) -> Self {
        Self {
            field: field.to_owned(),
            reason: "FieldValueInvalid",
            message: format!("Invalid value: \"{value}\": {detail}"),
        }
    }

    pub(crate) fn not_supported(field: &str, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Self {
            field: field.to_owned(),
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: \"{value}\": supported values: {}",
                list.join(", ")
            ),
        }
    }

    pub(crate) fn forbidden(field: &str, detail: &str) -> Self {
        Self {
            field: field.to_owned(),
            reason: "FieldValueForbidden",
            message: format!("Forbidden: {detail}"),
        }
    }

    pub(crate) fn duplicate(field: &str, value: &str) -> Self {
        Self {
            field: field.to_owned(),
            reason: "FieldValueDuplicate",
            message: format!("Duplicate value: \"{value}\""),
        }
    }
}

impl ApiError {
    pub(crate) fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason_for(code),
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "Unauthorized")
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, message)
    }

    pub(crate) fn not_found(resource: Resource, name: &str) -> Self {
        Self::new(
            404,
            format!("{} \"{name}\" not found", resource.qualified_plural()),
        )
        .with_details(resource_details(resource, name))
    }

    pub(crate) fn path_not_found() -> Self {
        Self::new(404, "the server could not find the requested resource").with_details(
            json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}),
        )
    }

    pub(crate) fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    pub(crate) fn already_exists(resource: Resource, name: &str) -> Self {
        let mut error = Self::new(
            409,
            format!("{} \"{name}\" already exists", resource.qualified_plural()),
        )
        .with_details(resource_details(resource, name));
        error.reason = "AlreadyExists";
        error
    }

    pub(crate) fn conflict(resource: Resource, name: &str, detail: &str) -> Self {
        Self::new(
            409,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {detail}",
                resource.qualified_plural()
            ),
        )
        .with_details(resource_details(resource, name))
    }

    /// 410 for a watch or list that asks for history the server no longer keeps.
    pub(crate) fn expired(message: impl Into<String>) -> Self {
        let mut error = Self::new(410, message);
        error.reason = "Expired";
        error
    }

    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    pub(crate) fn invalid(resource: Resource, name: &str, causes: Vec<Cause>) -> Self {
        let summary: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let summary = if summary.len() == 1 {
            summary.join("")
        } else {
            format!("[{}]", summary.join(", "))
        };
        let details = json!({
            "name": name,
            "group": resource.group(),
            "kind": resource.kind(),
            "causes": causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect::<Vec<_>>(),
        });
        Self::new(
            422,
            format!("{} \"{name}\" is invalid: {summary}", resource.kind()),
        )
        .with_details(details)
    }

    pub(crate) fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub(crate) fn with_retry_after(mut self, seconds: Option<u32>) -> Self {
        self.retry_after = seconds;
        if let Some(seconds) = seconds {
            let mut details = self.details.take().unwrap_or_else(|| json!({}));
            details["retryAfterSeconds"] = json!(seconds);
            self.details = Some(details);
        }
        self
    }

    /// The `Status` object sent as a response body and inside watch `ERROR` events.
    pub(crate) fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

fn resource_details(resource: Resource, name: &str) -> Value {
    let mut details = json!({"name": name, "kind": resource.plural()});
    if !resource.group().is_empty() {
        details["group"] = json!(resource.group());
    }
    details
}

/// The `reason` the real server pairs with each status code (`metav1.StatusReason`).
pub(crate) fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Gone",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_message_lists_causes_like_the_api_server() {
        let one = ApiError::invalid(Resource::Pods, "p", vec![Cause::required("spec.containers")]);
        assert_eq!(
            one.message,
            "Pod \"p\" is invalid: spec.containers: Required value"
        );
        assert_eq!(one.status()["details"]["causes"][0]["field"], "spec.containers");
        let two = ApiError::invalid(
            Resource::Pods,
            "p",
            vec![
                Cause::required("spec.containers"),
                Cause::invalid("metadata.name", "A", "bad"),
            ],
        );
        assert_eq!(
            two.message,
            "Pod \"p\" is invalid: [spec.containers: Required value, metadata.name: Invalid value: \"A\": bad]"
        );
        assert_eq!(two.code, 422);
        assert_eq!(two.reason, "Invalid");
    }

    #[test]
    fn status_body_has_the_fields_clients_parse() {
        let status = ApiError::not_found(Resource::Jobs, "j").status();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["apiVersion"], "v1");
        assert_eq!(status["status"], "Failure");
        assert_eq!(status["code"], 404);
        assert_eq!(status["reason"], "NotFound");
        assert_eq!(status["message"], "jobs.batch \"j\" not found");
        assert_eq!(
            status["details"],
            json!({"name": "j", "kind": "jobs", "group": "batch"})
        );
        let throttled = ApiError::new(429, "slow down").with_retry_after(Some(2));
        assert_eq!(throttled.status()["reason"], "TooManyRequests");
        assert_eq!(throttled.status()["details"]["retryAfterSeconds"], 2);
        assert_eq!(
            ApiError::already_exists(Resource::Pods, "p").reason,
            "AlreadyExists"
        );
        assert_eq!(ApiError::expired("too old").reason, "Expired");
    }
}
