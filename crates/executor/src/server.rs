//! The executor's HTTP endpoints: routing under the base path, the upstream sanity and access checks, body
//! decoding with a size limit, and replies encoded in the requesting admin's dialect (HTTP 200, upstream's
//! content type, failure only inside the envelope).
//!
//! What a trigger, kill or idle check does is the job-thread module's; reading log pages is
//! [`crate::execution_log`]'s.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde::Serialize;
use serde::de::DeserializeOwned;
use xjob_protocol::{
    ACCESS_TOKEN_HEADER, APP_NAME_HEADER, AccessRule, Credentials, Dialect, EXECUTOR_REPLY_CONTENT_TYPE,
    Envelope, ExecutorEndpoint, Generation, JobIdRequest, LogRequest, LogResult, Side, TriggerRequest,
    authorize, message,
};

use crate::config::{AdminGenerationMode, ExecutorConfig};
use crate::execution_log::{self, LineNumbering};
use crate::jobs::Jobs;

/// The executor's routes under `config.base_path`, without a fallback (the embedding application may have
/// its own).
pub(crate) fn router(config: Arc<ExecutorConfig>, jobs: Jobs) -> Router {
    let generations: &[Generation] = match config.admin_generation {
        AdminGenerationMode::Fixed(generation) => match generation {
            Generation::G1 => &[Generation::G1],
            Generation::G2 => &[Generation::G2],
            Generation::G3 => &[Generation::G3],
        },
        AdminGenerationMode::Auto => &Generation::ALL,
    };
    let mut paths: Vec<(&'static str, ExecutorEndpoint)> = Vec::new();
    for generation in generations {
        for endpoint in ExecutorEndpoint::ALL {
            let path = endpoint.path(*generation);
            if !paths.iter().any(|(known, _)| *known == path) {
                paths.push((path, endpoint));
            }
        }
    }
    let mut router = Router::new();
    for (path, endpoint) in paths {
        let config = Arc::clone(&config);
        let jobs = jobs.clone();
        router = router.route(
            &format!("{}{path}", config.base_path),
            any(move |request: Request<Body>| dispatch(Arc::clone(&config), jobs.clone(), endpoint, request)),
        );
    }
    router
}

/// Any path that is not an endpoint: upstream's "uri-mapping not found" failure, still with HTTP 200.
pub(crate) async fn fallback(request: Request<Body>) -> Response {
    let dialect = request_dialect(request.headers(), None, AdminGenerationMode::Auto);
    let uri = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |path| path.as_str().to_owned(),
    );
    if uri.is_empty() {
        return reply(Envelope::<()>::failure(message::URI_MAPPING_EMPTY), dialect);
    }
    reply(
        Envelope::<()>::failure(message::uri_mapping_not_found(&uri)),
        dialect,
    )
}

async fn dispatch(
    config: Arc<ExecutorConfig>,
    jobs: Jobs,
    endpoint: ExecutorEndpoint,
    request: Request<Body>,
) -> Response {
    let (parts, body) = request.into_parts();
    let dialect = request_dialect(&parts.headers, Some(parts.uri.path()), config.admin_generation);
    if parts.method != Method::POST {
        return reply(Envelope::<()>::failure(message::METHOD_NOT_SUPPORTED), dialect);
    }
    // Upstream matches the raw URI, so a query string makes the path unknown.
    if let Some(query) = parts.uri.query() {
        let uri = format!("{}?{query}", parts.uri.path());
        return reply(
            Envelope::<()>::failure(message::uri_mapping_not_found(&uri)),
            dialect,
        );
    }
    if let Err(failure) = check_access(&config, &parts.headers, dialect) {
        return reply(Envelope::<()>::from(failure), dialect);
    }
    let Ok(body) = axum::body::to_bytes(body, config.max_body_bytes).await else {
        let text = format!(
            "request body larger than {} bytes or unreadable",
            config.max_body_bytes
        );
        return reply(Envelope::<()>::failure(message::request_error(&text)), dialect);
    };
    match endpoint {
        ExecutorEndpoint::Beat => reply(Envelope::<()>::success(), dialect),
        ExecutorEndpoint::IdleBeat => match decode::<JobIdRequest>(&body) {
            Ok(request) if jobs.is_busy(request.job_id) => {
                reply(Envelope::<()>::failure(message::JOB_THREAD_BUSY), dialect)
            }
            Ok(_) => reply(Envelope::<()>::success(), dialect),
            Err(failure) => reply(failure, dialect),
        },
        ExecutorEndpoint::Trigger => match decode::<TriggerRequest>(&body) {
            Ok(request) => {
                let generation = dialect.generation().unwrap_or(Generation::G3);
                match jobs.trigger(request, generation) {
                    Ok(()) => reply(Envelope::<()>::success(), dialect),
                    Err(refusal) => reply(Envelope::<()>::failure(refusal), dialect),
                }
            }
            Err(failure) => reply(failure, dialect),
        },
        ExecutorEndpoint::Kill => match decode::<JobIdRequest>(&body) {
            Ok(request) if jobs.kill(request.job_id) => reply(Envelope::<String>::success(), dialect),
            Ok(_) => reply(Envelope::job_thread_already_killed(dialect), dialect),
            Err(failure) => reply(failure, dialect),
        },
        ExecutorEndpoint::Log => match decode::<LogRequest>(&body) {
            Ok(request) => reply(read_log(&config, request, dialect).await, dialect),
            Err(failure) => reply(failure, dialect),
        },
    }
}

/// The dialect to answer in: the configured generation, or what the request shows (see the crate docs).
fn request_dialect(headers: &HeaderMap, path: Option<&str>, mode: AdminGenerationMode) -> Dialect {
    if let AdminGenerationMode::Fixed(generation) = mode {
        return Dialect::from(generation);
    }
    let is_trigger_path = path.is_some_and(|path| path.ends_with("/trigger"));
    if headers.contains_key(APP_NAME_HEADER) || is_trigger_path {
        return Dialect::G3;
    }
    match headers
        .get(header::ACCEPT_CHARSET)
        .and_then(|value| value.to_str().ok())
    {
        Some(value) if value.eq_ignore_ascii_case("UTF-8") => Dialect::G2,
        Some(value) if value.contains("application/json") => Dialect::G1,
        _ => Dialect::Peer,
    }
}

/// G3 requests get the token-plus-AppName rule, older ones the global-token rule. Without a configured token
/// (`allow_no_token`) everything is accepted.
fn check_access(
    config: &ExecutorConfig,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<(), xjob_protocol::AuthFailure> {
    let presented = Credentials {
        access_token: headers
            .get(ACCESS_TOKEN_HEADER)
            .and_then(|value| value.to_str().ok()),
        app_name: headers.get(APP_NAME_HEADER).and_then(|value| value.to_str().ok()),
    };
    let Some(token) = config.access_token.as_ref() else {
        return Ok(());
    };
    let rule = if dialect == Dialect::G3 {
        AccessRule::GroupCredentials {
            access_token: token.expose(),
            app_name: &config.app_name,
        }
    } else {
        AccessRule::GlobalToken(Some(token.expose()))
    };
    authorize(rule, presented)
}

fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, Envelope<()>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Envelope::failure(message::request_error("request body is empty")));
    }
    serde_json::from_slice(body)
        .map_err(|error| Envelope::failure(message::request_error(&format!("invalid JSON body: {error}"))))
}

async fn read_log(config: &ExecutorConfig, request: LogRequest, dialect: Dialect) -> Envelope<LogResult> {
    let path = execution_log::log_file_path(&config.log_path, request.log_date_time, request.log_id);
    let numbering = match dialect.generation() {
        Some(Generation::G1) => LineNumbering::TotalLines,
        Some(Generation::G2 | Generation::G3) | None => LineNumbering::LastReturned,
    };
    let from = request.from_line_num;
    match tokio::task::spawn_blocking(move || execution_log::read_page(&path, from, numbering)).await {
        Ok(page) => Envelope::success_with(page),
        Err(error) => Envelope::failure(message::request_error(&error.to_string())),
    }
}

fn reply<T: Serialize>(envelope: Envelope<T>, dialect: Dialect) -> Response {
    let body = match serde_json::to_vec(&envelope.encode(Side::Executor, dialect)) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "cannot encode executor reply");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(EXECUTOR_REPLY_CONTENT_TYPE),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_from_request() {
        use AdminGenerationMode::{Auto, Fixed};
        fn check(
            headers: &[(&'static str, &'static str)],
            path: &str,
            mode: AdminGenerationMode,
            expected: Dialect,
        ) {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.insert(*name, HeaderValue::from_static(value));
            }
            assert_eq!(
                request_dialect(&map, Some(path), mode),
                expected,
                "{headers:?} {path}"
            );
        }
        check(&[], "/beat", Auto, Dialect::Peer);
        check(&[], "/trigger", Auto, Dialect::G3);
        check(&[("xxl-job-appname", "demo")], "/run", Auto, Dialect::G3);
        check(&[("accept-charset", "UTF-8")], "/run", Auto, Dialect::G2);
        check(
            &[("accept-charset", "application/json;charset=UTF-8")],
            "/log",
            Auto,
            Dialect::G1,
        );
        check(
            &[("accept-charset", "UTF-8")],
            "/log",
            Fixed(Generation::G1),
            Dialect::G1,
        );
        check(&[], "/exec/trigger", Auto, Dialect::G3);
    }
}
