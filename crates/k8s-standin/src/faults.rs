//! Fault injection and inspection state set by tests through the handle: failing or delaying matching requests,
//! cutting or holding log streams, access-review answers, the "unreachable" switch and the request record.
//! Where each fault takes effect (HTTP layer, log streams, watches) is decided by those modules.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::resource::Verb;
use crate::status::ApiError;

/// Which API requests a fault applies to. Empty fields match anything; non-resource requests (`/version`,
/// discovery) are never matched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestMatch {
    /// RBAC verb of the request.
    pub verb: Option<Verb>,
    /// `pods`, `pods/log`, `jobs`, `events`, `selfsubjectaccessreviews`, ...
    pub resource: Option<String>,
    /// Namespace in the request path.
    pub namespace: Option<String>,
    /// Object name in the request path.
    pub name: Option<String>,
}

impl RequestMatch {
    /// Matches every resource request.
    pub fn any() -> Self {
        Self::default()
    }

    /// Matches requests with this verb on any resource.
    pub fn verb(verb: Verb) -> Self {
        Self {
            verb: Some(verb),
            ..Self::default()
        }
    }

    /// Matches requests on this resource (`pods`, `pods/log`, `jobs`, ...) with any verb.
    pub fn resource(resource: &str) -> Self {
        Self {
            resource: Some(resource.to_owned()),
            ..Self::default()
        }
    }

    /// Restricts the match to one verb.
    #[must_use]
    pub fn with_verb(mut self, verb: Verb) -> Self {
        self.verb = Some(verb);
        self
    }

    /// Restricts the match to one resource.
    #[must_use]
    pub fn on(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_owned());
        self
    }

    /// Restricts the match to one namespace.
    #[must_use]
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// Restricts the match to one object name.
    #[must_use]
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    pub(crate) fn matches(&self, request: &RequestInfo) -> bool {
        let Some(verb) = request.verb else { return false };
        self.verb.is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == request.resource)
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| request.namespace.as_deref() == Some(n))
            && self
                .name
                .as_deref()
                .is_none_or(|n| request.name.as_deref() == Some(n))
    }
}

/// The answer an injected failure gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// HTTP status code; the `Status` reason is derived from it (429 → `TooManyRequests`, ...).
    pub code: u16,
    /// Seconds sent in `Retry-After` (and `details.retryAfterSeconds`).
    pub retry_after: Option<u32>,
    /// Status message; a generic one naming the fault when `None`.
    pub message: Option<String>,
}

impl Failure {
    /// A failure with this status code.
    pub fn code(code: u16) -> Self {
        Self {
            code,
            retry_after: None,
            message: None,
        }
    }

    /// Adds a `Retry-After` header.
    #[must_use]
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Sets the status message.
    #[must_use]
    pub fn message(mut self, message: &str) -> Self {
        self.message = Some(message.to_owned());
        self
    }

    pub(crate) fn to_error(&self) -> ApiError {
        let message = self
            .message
            .clone()
            .unwrap_or_else(|| format!("injected failure with status {}", self.code));
        ApiError::new(self.code, message).with_retry_after(self.retry_after)
    }
}

/// A permission as asked in a `SelfSubjectAccessReview`; empty fields match anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessRule {
    /// `get`, `create`, `watch`, ...
    pub verb: Option<String>,
    /// API group (`""` for core, `batch`, `events.k8s.io`).
    pub group: Option<String>,
    /// `pods`, `jobs`, `events`, ...
    pub resource: Option<String>,
    /// `log` for `pods/log`.
    pub subresource: Option<String>,
    /// Namespace of the request.
    pub namespace: Option<String>,
}

impl AccessRule {
    /// A rule for `verb` on `resource`, where `resource` may name a subresource as `pods/log`. The group is left
    /// open, so `jobs` matches `batch` jobs.
    pub fn new(verb: &str, resource: &str) -> Self {
        let (resource, subresource) = match resource.split_once('/') {
            Some((resource, sub)) => (resource, Some(sub.to_owned())),
            None => (resource, None),
        };
        Self {
            verb: Some(verb.to_owned()),
            group: None,
            resource: Some(resource.to_owned()),
            subresource: subresource.or(Some(String::new())),
            namespace: None,
        }
    }

    /// Restricts the rule to one namespace.
    #[must_use]
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// Restricts the rule to one API group.
    #[must_use]
    pub fn in_group(mut self, group: &str) -> Self {
        self.group = Some(group.to_owned());
        self
    }

    fn matches(&self, asked: &AccessQuery<'_>) -> bool {
        let field =
            |rule: &Option<String>, value: &str| rule.as_deref().is_none_or(|r| r == "*" || r == value);
        field(&self.verb, asked.verb)
            && field(&self.group, asked.group)
            && field(&self.resource, asked.resource)
            && field(&self.subresource, asked.subresource)
            && field(&self.namespace, asked.namespace)
    }
}

/// One permission question, from an access review or from a real request.
#[derive(Debug)]
pub(crate) struct AccessQuery<'a> {
    pub(crate) verb: &'a str,
    pub(crate) group: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) subresource: &'a str,
    pub(crate) namespace: &'a str,
}

/// One request as the stand-in saw it, for assertions such as "no request was made".
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Request path without the query.
    pub path: String,
    /// Raw query string (empty when none).
    pub query: String,
    /// RBAC verb; `None` for non-resource paths such as `/version`.
    pub verb: Option<Verb>,
    /// `pods`, `pods/log`, `jobs`, ...; empty for non-resource paths.
    pub resource: String,
    /// Namespace in the path.
    pub namespace: Option<String>,
    /// Object name in the path.
    pub name: Option<String>,
    /// Status code of the answer (for streams: of the response head).
    pub status: u16,
    /// When the request arrived.
    pub at: SystemTime,
}

/// What the HTTP layer knows about a request when matching faults.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestInfo {
    pub(crate) verb: Option<Verb>,
    pub(crate) resource: String,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
}

#[derive(Debug)]
struct FailRule {
    matcher: RequestMatch,
    remaining: usize,
    failure: Failure,
}

#[derive(Debug)]
struct DelayRule {
    matcher: RequestMatch,
    remaining: Option<usize>,
    delay: Duration,
}

/// A pending "cut the next log stream of this container after N lines".
#[derive(Debug, Clone)]
struct LogCut {
    namespace: String,
    pod: String,
    container: Option<String>,
    after_lines: usize,
}

#[derive(Debug, Clone)]
struct LogHold {
    namespace: String,
    pod: String,
    container: Option<String>,
}

/// How many requests are kept in the record; older ones are dropped first.
const RECORD_LIMIT: usize = 20_000;

#[derive(Debug, Default)]
struct State {
    failures: Vec<FailRule>,
    delays: Vec<DelayRule>,
    log_cuts: Vec<LogCut>,
    log_holds: Vec<LogHold>,
    access: Vec<(AccessRule, bool)>,
    requests: Vec<RecordedRequest>,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    state: Mutex<State>,
}

impl Faults {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn fail_next(&self, matcher: RequestMatch, count: usize, failure: Failure) {
        self.state().failures.push(FailRule {
            matcher,
            remaining: count,
            failure,
        });
    }

    pub(crate) fn delay(&self, matcher: RequestMatch, delay: Duration, count: Option<usize>) {
        self.state().delays.push(DelayRule {
            matcher,
            remaining: count,
            delay,
        });
    }

    pub(crate) fn clear(&self) {
        let mut state = self.state();
        state.failures.clear();
        state.delays.clear();
        state.log_cuts.clear();
        state.log_holds.clear();
    }

    /// The injected failure for this request, consuming one use of the first matching rule.
    pub(crate) fn take_failure(&self, request: &RequestInfo) -> Option<ApiError> {
        let mut state = self.state();
        let index = state
            .failures
            .iter()
            .position(|rule| rule.remaining > 0 && rule.matcher.matches(request))?;
        let rule = &mut state.failures[index];
        rule.remaining -= 1;
        let error = rule.failure.to_error();
        if rule.remaining == 0 {
            state.failures.remove(index);
        }
        Some(error)
    }

    /// The total delay for this request, consuming one use of each matching counted rule.
    pub(crate) fn take_delay(&self, request: &RequestInfo) -> Duration {
        let mut state = self.state();
        let mut total = Duration::ZERO;
        for rule in state
            .delays
            .iter_mut()
            .filter(|rule| rule.matcher.matches(request))
        {
            match &mut rule.remaining {
                Some(0) => continue,
                Some(remaining) => *remaining -= 1,
                None => {}
            }
            total += rule.delay;
        }
        state.delays.retain(|rule| rule.remaining != Some(0));
        total
    }

    pub(crate) fn cut_log(&self, namespace: &str, pod: &str, container: Option<&str>, after_lines: usize) {
        self.state().log_cuts.push(LogCut {
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            container: container.map(str::to_owned),
            after_lines,
        });
    }

    /// The line limit for the log stream being opened, consuming the cut.
    pub(crate) fn take_log_cut(&self, namespace: &str, pod: &str, container: &str) -> Option<usize> {
        let mut state = self.state();
        let index = state.log_cuts.iter().position(|cut| {
            cut.namespace == namespace
                && cut.pod == pod
                && cut.container.as_deref().is_none_or(|c| c == container)
        })?;
        Some(state.log_cuts.remove(index).after_lines)
    }

    pub(crate) fn hold_logs(&self, namespace: &str, pod: &str, container: Option<&str>) {
        self.state().log_holds.push(LogHold {
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            container: container.map(str::to_owned),
        });
    }

    pub(crate) fn release_logs(&self) {
        self.state().log_holds.clear();
    }

    pub(crate) fn logs_held(&self, namespace: &str, pod: &str, container: &str) -> bool {
        self.state().log_holds.iter().any(|hold| {
            hold.namespace == namespace
                && hold.pod == pod
                && hold.container.as_deref().is_none_or(|c| c == container)
        })
    }

    pub(crate) fn set_access(&self, rule: AccessRule, allowed: bool) {
        self.state().access.push((rule, allowed));
    }

    pub(crate) fn reset_access(&self) {
        self.state().access.clear();
    }

    /// The answer to a permission question: the last matching rule wins, everything is allowed by default.
    pub(crate) fn allowed(&self, asked: &AccessQuery<'_>) -> bool {
        self.state()
            .access
            .iter()
            .rev()
            .find(|(rule, _)| rule.matches(asked))
            .is_none_or(|(_, allowed)| *allowed)
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        let mut state = self.state();
        if state.requests.len() == RECORD_LIMIT {
            state.requests.remove(0);
        }
        state.requests.push(request);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    pub(crate) fn clear_requests(&self) {
        self.state().requests.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(verb: Verb, resource: &str, namespace: &str, name: Option<&str>) -> RequestInfo {
        RequestInfo {
            verb: Some(verb),
            resource: resource.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn failures_are_consumed_in_order() {
        let faults = Faults::default();
        faults.fail_next(
            RequestMatch::verb(Verb::Create).on("pods"),
            2,
            Failure::code(429).retry_after(1),
        );
        let create = request(Verb::Create, "pods", "ns", None);
        let get = request(Verb::Get, "pods", "ns", Some("p"));
        assert_eq!(faults.take_failure(&get), None);
        let first = faults.take_failure(&create).expect("first");
        assert_eq!(
            (first.code, first.reason, first.retry_after),
            (429, "TooManyRequests", Some(1))
        );
        assert!(faults.take_failure(&create).is_some());
        assert_eq!(faults.take_failure(&create), None);
        let discovery = RequestInfo::default();
        faults.fail_next(RequestMatch::any(), 1, Failure::code(500));
        assert_eq!(faults.take_failure(&discovery), None);
    }

    #[test]
    fn delays_add_up_and_expire() {
        let faults = Faults::default();
        faults.delay(
            RequestMatch::resource("jobs"),
            Duration::from_millis(100),
            Some(1),
        );
        faults.delay(RequestMatch::any(), Duration::from_millis(10), None);
        let job = request(Verb::Get, "jobs", "ns", Some("j"));
        assert_eq!(faults.take_delay(&job), Duration::from_millis(110));
        assert_eq!(faults.take_delay(&job), Duration::from_millis(10));
    }

    #[test]
    fn access_rules_last_match_wins() {
        let faults = Faults::default();
        let asked = |verb, resource, subresource, namespace| AccessQuery {
            verb,
            group: "",
            resource,
            subresource,
            namespace,
        };
        assert!(faults.allowed(&asked("get", "pods", "log", "ns")));
        faults.set_access(AccessRule::new("get", "pods/log"), false);
        assert!(!faults.allowed(&asked("get", "pods", "log", "ns")));
        assert!(faults.allowed(&asked("get", "pods", "", "ns")));
        faults.set_access(AccessRule::new("get", "pods/log").in_namespace("ok"), true);
        assert!(faults.allowed(&asked("get", "pods", "log", "ok")));
        assert!(!faults.allowed(&asked("get", "pods", "log", "ns")));
        faults.reset_access();
        assert!(faults.allowed(&asked("get", "pods", "log", "ns")));
    }

    #[test]
    fn log_cuts_apply_once() {
        let faults = Faults::default();
        faults.cut_log("ns", "p", None, 5);
        assert_eq!(faults.take_log_cut("ns", "other", "c"), None);
        assert_eq!(faults.take_log_cut("ns", "p", "c"), Some(5));
        assert_eq!(faults.take_log_cut("ns", "p", "c"), None);
        faults.hold_logs("ns", "p", Some("c"));
        assert!(faults.logs_held("ns", "p", "c"));
        assert!(!faults.logs_held("ns", "p", "d"));
        faults.release_logs();
        assert!(!faults.logs_held("ns", "p", "c"));
    }
}
