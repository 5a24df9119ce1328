//! `httpJobHandler`: one HTTP request per execution, described by the job parameter, to a host the executor's
//! allow-list permits.
//!
//! Two parameter formats are understood, as upstream documents them:
//! - the JSON object of 3.0.0 and later: `url`, `method` (default POST), `contentType`, `headers`, `cookies`,
//!   `timeout` (milliseconds, ≤ 0 ⇒ 3000), `data`, `form`, `auth`; any status counts as success;
//! - the line format of 2.x: lines `url:…`, `method:GET|POST`, `data:…`; only status 200 counts as success.
//!
//! Upstream guards its sample with a list of URL prefixes; here the allow-list names hosts, so that
//! `http://allowed.example.com.evil.test` does not pass for `allowed.example.com`. An empty list denies every
//! call. Redirects are followed only within the same host, and the logged response body is truncated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url, redirect};
use serde::Deserialize;

use crate::execution::{Execution, Verdict};

/// The handler name upstream registers.
pub(crate) const HTTP_HANDLER: &str = "httpJobHandler";

/// How much of a response body goes into the execution log.
pub(crate) const MAX_LOGGED_BODY_BYTES: usize = 64 * 1024;

/// Upstream's default request timeout for the JSON format (milliseconds).
const DEFAULT_TIMEOUT_MS: u64 = 3000;

/// The 2.x format's fixed timeouts: 3 s to connect, 5 s to read.
const LEGACY_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const LEGACY_TIMEOUT: Duration = Duration::from_secs(8);

/// Upstream's default content type for a request with a body.
const DEFAULT_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// The longest redirect chain followed (within one host).
const MAX_REDIRECTS: usize = 10;

/// The hosts `httpJobHandler` may call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HostAllowList {
    entries: Vec<AllowedHost>,
}

/// One allow-list entry: `host`, `host:port`, `*.domain` (any subdomain, not the domain itself) or an origin
/// `scheme://host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AllowedHost {
    scheme: Option<String>,
    host: String,
    subdomains: bool,
    port: Option<u16>,
}

/// An allow-list entry that cannot be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{entry}` is not a host, host:port, *.domain or scheme://host[:port]")]
pub(crate) struct BadAllowEntry {
    entry: String,
}

/// Makes the calls of `httpJobHandler`; one per executor, sharing a connection pool.
#[derive(Clone, Debug)]
pub(crate) struct HttpCaller {
    client: reqwest::Client,
    allowed: Arc<HostAllowList>,
}

/// The request an execution asks for, from either parameter format.
#[derive(Debug, PartialEq, Eq)]
struct CallSpec {
    url: String,
    method: Method,
    content_type: Option<String>,
    headers: BTreeMap<String, String>,
    cookies: BTreeMap<String, String>,
    timeout: Duration,
    data: Option<String>,
    form: BTreeMap<String, String>,
    auth: Option<String>,
    /// The 2.x format fails on any status but 200.
    require_ok: bool,
}

/// The JSON parameter of 3.0.0 and later (upstream's `HttpJobParam`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct JsonParam {
    url: Option<String>,
    method: Option<String>,
    content_type: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    cookies: Option<BTreeMap<String, String>>,
    timeout: Option<i64>,
    data: Option<String>,
    form: Option<BTreeMap<String, String>>,
    auth: Option<String>,
}

impl HostAllowList {
    /// Parses the configured entries.
    pub(crate) fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadAllowEntry> {
        let entries = entries
            .iter()
            .map(|entry| AllowedHost::parse(entry.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(HostAllowList { entries })
    }

    /// Whether `url` may be called: an http(s) URL whose host (and port and scheme, where the entry names
    /// them) matches an entry.
    pub(crate) fn permits(&self, url: &Url) -> bool {
        matches!(url.scheme(), "http" | "https") && self.entries.iter().any(|entry| entry.matches(url))
    }
}

impl AllowedHost {
    fn parse(entry: &str) -> Result<Self, BadAllowEntry> {
        let bad = || BadAllowEntry {
            entry: entry.to_owned(),
        };
        let trimmed = entry.trim();
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, trimmed),
        };
        let (subdomains, rest) = match rest.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', '*']) {
            return Err(bad());
        }
        if scheme
            .as_deref()
            .is_some_and(|scheme| !matches!(scheme, "http" | "https"))
        {
            return Err(bad());
        }
        let parsed =
            Url::parse(&format!("{}://{rest}", scheme.as_deref().unwrap_or("http"))).map_err(|_| bad())?;
        let host = parsed.host_str().ok_or_else(bad)?.to_owned();
        Ok(AllowedHost {
            scheme,
            host,
            subdomains,
            port: parsed.port(),
        })
    }

    fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host_matches = if self.subdomains {
            host.strip_suffix(self.host.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
        } else {
            host == self.host
        };
        let scheme_matches = self.scheme.as_deref().is_none_or(|scheme| scheme == url.scheme());
        let port_matches = match (self.port, &self.scheme) {
            (Some(port), _) => url.port_or_known_default() == Some(port),
            // An origin without port means the scheme's default port, as in a browser origin.
            (None, Some(_)) => url.port().is_none(),
            (None, None) => true,
        };
        host_matches && scheme_matches && port_matches
    }
}

impl HttpCaller {
    /// A caller limited to `allowed`.
    pub(crate) fn new(allowed: HostAllowList) -> Result<Self, reqwest::Error> {
        // reqwest is built without a default crypto provider; the workspace standardises on ring. Installing
        // fails harmlessly when another part of the process installed one first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let allowed = Arc::new(allowed);
        let policy_allowed = Arc::clone(&allowed);
        let policy = redirect::Policy::custom(move |attempt| {
            let same_host = attempt.previous().last().is_some_and(|previous| {
                previous.host_str() == attempt.url().host_str()
                    && previous.port_or_known_default() == attempt.url().port_or_known_default()
            });
            if attempt.previous().len() > MAX_REDIRECTS
                || !same_host
                || !policy_allowed.permits(attempt.url())
            {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .connect_timeout(LEGACY_CONNECT_TIMEOUT)
            .build()?;
        Ok(HttpCaller { client, allowed })
    }

    /// Makes the request the execution's parameter describes.
    pub(crate) async fn run(&self, execution: &Execution) -> Verdict {
        let spec = match CallSpec::parse(&execution.param) {
            Ok(spec) => spec,
            Err(problem) => {
                execution.log(&problem);
                return Verdict::Fail(problem);
            }
        };
        let url = match Url::parse(&spec.url) {
            Ok(url) => url,
            Err(error) => {
                let problem = format!("url[{}] invalid: {error}.", spec.url);
                execution.log(&problem);
                return Verdict::Fail(problem);
            }
        };
        if !self.allowed.permits(&url) {
            let problem = format!("url[{}] not allowed.", spec.url);
            execution.log(&problem);
            return Verdict::Fail(problem);
        }
        let request = match self.build(&spec, url) {
            Ok(request) => request,
            Err(problem) => {
                execution.log(&problem);
                return Verdict::Fail(problem);
            }
        };
        tokio::select! {
            verdict = self.send(request, &spec, execution) => verdict,
            () = execution.cancel.cancelled() => Verdict::Fail("http request stopped before its end".to_owned()),
        }
    }

    fn build(&self, spec: &CallSpec, mut url: Url) -> Result<reqwest::RequestBuilder, String> {
        let has_body_method = !matches!(spec.method, Method::GET | Method::HEAD);
        if !has_body_method && !spec.form.is_empty() {
            url.query_pairs_mut().extend_pairs(&spec.form);
        }
        let mut request = self
            .client
            .request(spec.method.clone(), url)
            .timeout(spec.timeout);
        for (name, value) in &spec.headers {
            let name = HeaderName::try_from(name.as_str()).map_err(|_| format!("header[{name}] invalid."))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| format!("header[{name}] value invalid."))?;
            request = request.header(name, value);
        }
        if !spec.cookies.is_empty() {
            let cookie = spec
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>();
            let value =
                HeaderValue::try_from(cookie.join("; ")).map_err(|_| "cookies invalid.".to_owned())?;
            request = request.header(COOKIE, value);
        }
        if let Some(auth) = &spec.auth {
            let value = HeaderValue::try_from(auth.as_str()).map_err(|_| "auth invalid.".to_owned())?;
            request = request.header(AUTHORIZATION, value);
        }
        let body = match (&spec.data, has_body_method && !spec.form.is_empty()) {
            (Some(data), _) if has_body_method => Some((data.clone(), spec.content_type.as_deref())),
            (_, true) => {
                let encoded = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&spec.form)
                    .finish();
                Some((
                    encoded,
                    Some(
                        spec.content_type
                            .as_deref()
                            .unwrap_or("application/x-www-form-urlencoded"),
                    ),
                ))
            }
            _ => None,
        };
        if let Some((body, content_type)) = body {
            let content_type = content_type.unwrap_or(DEFAULT_CONTENT_TYPE);
            let value = HeaderValue::try_from(content_type).map_err(|_| "contentType invalid.".to_owned())?;
            request = request.header(CONTENT_TYPE, value).body(body);
        }
        Ok(request)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        spec: &CallSpec,
        execution: &Execution,
    ) -> Verdict {
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let problem = format!("http request failed: {}", error_chain(&error));
                execution.log(&problem);
                return Verdict::Fail(problem);
            }
        };
        let status = response.status();
        execution.log(&format!("StatusCode: {}", status.as_u16()));
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_LOGGED_BODY_BYTES - body.len();
                    body.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    if chunk.len() > room {
                        truncated = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    execution.log(&format!("reading the response failed: {}", error_chain(&error)));
                    break;
                }
            }
        }
        let mut text = String::from_utf8_lossy(&body).into_owned();
        if truncated {
            text.push_str(&format!(" [... truncated after {MAX_LOGGED_BODY_BYTES} bytes]"));
        }
        execution.log(&format!("Response: <br>{text}"));
        if spec.require_ok && status != StatusCode::OK {
            return Verdict::Fail(format!("Http Request StatusCode({}) Invalid.", status.as_u16()));
        }
        Verdict::Success
    }
}

impl CallSpec {
    /// Reads either parameter format; the message says what is wrong.
    fn parse(param: &str) -> Result<Self, String> {
        let trimmed = param.trim();
        if trimmed.is_empty() {
            return Err("param[] invalid.".to_owned());
        }
        if trimmed.starts_with('{') {
            Self::from_json(trimmed)
        } else {
            Self::from_lines(param)
        }
    }

    fn from_json(param: &str) -> Result<Self, String> {
        let json: JsonParam =
            serde_json::from_str(param).map_err(|error| format!("HttpJobParam parse error: {error}"))?;
        let url = json
            .url
            .filter(|url| !url.trim().is_empty())
            .ok_or("url[] invalid.")?;
        let method = match json
            .method
            .as_deref()
            .map(str::trim)
            .filter(|method| !method.is_empty())
        {
            None => Method::POST,
            Some(method) => parse_method(method).ok_or_else(|| format!("method[{method}] invalid."))?,
        };
        let timeout_ms = json
            .timeout
            .and_then(|ms| u64::try_from(ms).ok())
            .filter(|&ms| ms > 0);
        Ok(CallSpec {
            url: url.trim().to_owned(),
            method,
            content_type: json.content_type.filter(|value| !value.trim().is_empty()),
            headers: json.headers.unwrap_or_default(),
            cookies: json.cookies.unwrap_or_default(),
            timeout: Duration::from_millis(timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)),
            data: json.data,
            form: json.form.unwrap_or_default(),
            auth: json.auth.filter(|auth| !auth.is_empty()),
            require_ok: false,
        })
    }

    fn from_lines(param: &str) -> Result<Self, String> {
        let (mut url, mut method, mut data) = (None, None, None);
        for line in param.split('\n') {
            if let Some(value) = line.strip_prefix("url:") {
                url = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("method:") {
                method = Some(value.trim().to_ascii_uppercase());
            } else if let Some(value) = line.strip_prefix("data:") {
                data = Some(value.trim().to_owned());
            }
        }
        let url = url.filter(|url| !url.is_empty()).ok_or("url[] invalid.")?;
        let method = match method.as_deref() {
            Some("GET") => Method::GET,
            Some("POST") => Method::POST,
            other => return Err(format!("method[{}] invalid.", other.unwrap_or(""))),
        };
        Ok(CallSpec {
            url,
            method,
            content_type: None,
            headers: BTreeMap::new(),
            cookies: BTreeMap::new(),
            timeout: LEGACY_TIMEOUT,
            data: data.filter(|data| !data.is_empty()),
            form: BTreeMap::new(),
            auth: None,
            require_ok: true,
        })
    }
}

/// The methods upstream's HTTP helper knows, by upper-cased name.
fn parse_method(name: &str) -> Option<Method> {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Some(Method::GET),
        "POST" => Some(Method::POST),
        "PUT" => Some(Method::PUT),
        "DELETE" => Some(Method::DELETE),
        "PATCH" => Some(Method::PATCH),
        "HEAD" => Some(Method::HEAD),
        "OPTIONS" => Some(Method::OPTIONS),
        "TRACE" => Some(Method::TRACE),
        _ => None,
    }
}

/// An error with its causes, which for reqwest carry the useful part ("connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
