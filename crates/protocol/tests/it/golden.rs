//! Golden wire files: `tests/golden/<dialect>/<writer>/<body>.json`.
//!
//! `<dialect>` is `g1` (upstream 2.4.0 – 3.1.x), `g1-3.2.0`, `g2`, `g3` or `peer`; `<writer>` is the side
//! that writes the body: `executor`, `admin`, or `client` for third-party calls of the G3 job API. Each file
//! holds the exact bytes that writer sends — compact, in upstream's property order — plus one trailing
//! newline for editors (the empty `/beat` bodies have none).
//!
//! For every file the test
//! 1. decodes it and compares the typed value as a whole with the expected one;
//! 2. encodes the expected value for the file's dialect and side and compares the bytes exactly. Byte
//!    equality includes property order: it shows the encoders imitate upstream's serializers and catches an
//!    accidental reordering, though no upstream parser depends on order;
//! 3. where given, encodes the value the SDK would build with this crate's constructors and message texts
//!    (e.g. `Envelope::success()`, an `AuthFailure`) and compares those bytes too.
//!
//! Exception: files marked [`Compare::JsonValue`] hold text that Gson before 3.2.0 HTML-escapes
//! (`\u003c`, `\u003d`). This crate does not imitate that escaping — every JSON parser reads both forms — so
//! those are compared as JSON values. A last test checks that every file on disk has a case and vice versa.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use xjob_protocol::job_api::{
    JobAddRequest, JobOperateRequest, JobSettings, JobTriggerRequest, JobUpdateRequest,
};
use xjob_protocol::message::{self, StopReason};
use xjob_protocol::{
    AuthFailure, BlockStrategy, CallbackBody, CallbackItem, CallbackShape, Dialect, Envelope, Generation,
    GlueType, JobId, JobIdRequest, Lenient, LogId, LogRequest, LogResult, RegistryRequest, Side,
    TriggerRequest, beat_request_body, code,
};

#[test]
fn golden_files_decode_and_encode_exactly() {
    let mut failures = Vec::new();
    for case in cases() {
        if let Err(failure) = check(&case) {
            failures.push(format!("{}: {failure}", case.path));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden file(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_golden_file_has_a_case() {
    let on_disk: BTreeSet<String> = files_below(&golden_dir())
        .into_iter()
        .map(|path| {
            path.strip_prefix(golden_dir())
                .unwrap()
                .to_str()
                .unwrap()
                .replace('\\', "/")
        })
        .collect();
    let covered: BTreeSet<String> = cases().into_iter().map(|case| case.path.to_owned()).collect();
    let missing: Vec<_> = on_disk.difference(&covered).collect();
    let absent: Vec<_> = covered.difference(&on_disk).collect();
    assert!(
        missing.is_empty() && absent.is_empty(),
        "files without case: {missing:?}; cases without file: {absent:?}"
    );
    assert!(on_disk.len() > 100, "only {} golden files found", on_disk.len());
}

/// One golden file and what it must decode to.
struct Case {
    path: &'static str,
    decoded: Body,
    /// The value this crate's constructors build for the same reply, when that differs from `decoded`.
    built: Option<Body>,
    compare: Compare,
}

/// The typed value of a golden file.
enum Body {
    Reply(Envelope<String>),
    LogReply(Envelope<LogResult>),
    Trigger(TriggerRequest),
    JobId(JobIdRequest),
    Log(LogRequest),
    Registry(RegistryRequest),
    Callback(CallbackBody),
    AddJob(JobAddRequest),
    UpdateJob(JobUpdateRequest),
    OperateJob(JobOperateRequest),
    TriggerJob(JobTriggerRequest),
    /// The `/beat` request body, which no one decodes.
    Beat,
}

#[derive(Clone, Copy, PartialEq)]
enum Compare {
    Bytes,
    JsonValue,
}

fn check(case: &Case) -> Result<(), String> {
    let (dialect, side) = location(case.path);
    let raw = std::fs::read_to_string(golden_dir().join(case.path)).map_err(|error| error.to_string())?;
    let text = raw.strip_suffix('\n').unwrap_or(&raw);
    let file = Golden {
        text,
        compare: case.compare,
    };
    file.check_body(&case.decoded, side, dialect, true)?;
    match &case.built {
        Some(built) => file.check_body(built, side, dialect, false),
        None => Ok(()),
    }
}

struct Golden<'a> {
    text: &'a str,
    compare: Compare,
}

impl Golden<'_> {
    /// Checks `body` against the file: decoding (when `decode`) and encoding.
    fn check_body(&self, body: &Body, side: Side, dialect: Dialect, decode: bool) -> Result<(), String> {
        match body {
            Body::Reply(value) => self.check(value, decode, |value| value.encode(side, dialect)),
            Body::LogReply(value) => self.check(value, decode, |value| value.encode(side, dialect)),
            Body::Trigger(value) => self.check(value, decode, |value| value),
            Body::JobId(value) => self.check(value, decode, |value| value),
            Body::Log(value) => self.check(value, decode, |value| value.encode(dialect)),
            Body::Registry(value) => self.check(value, decode, |value| value),
            Body::Callback(value) => self.check(value, decode, |value| value.encode(dialect)),
            Body::AddJob(value) => self.check(value, decode, |value| value),
            Body::UpdateJob(value) => self.check(value, decode, |value| value),
            Body::OperateJob(value) => self.check(value, decode, |value| value),
            Body::TriggerJob(value) => self.check(value, decode, |value| value),
            Body::Beat => {
                let body = beat_request_body(dialect);
                if body == self.text {
                    Ok(())
                } else {
                    Err(format!("beat body {body:?} != {:?}", self.text))
                }
            }
        }
    }

    fn check<'v, T, E>(
        &self,
        expected: &'v T,
        decode: bool,
        encode: impl Fn(&'v T) -> E,
    ) -> Result<(), String>
    where
        T: DeserializeOwned + PartialEq + Debug,
        E: Serialize,
    {
        if decode {
            let decoded: T = serde_json::from_str(self.text).map_err(|error| format!("decoding: {error}"))?;
            if decoded != *expected {
                return Err(format!("decoded\n  {decoded:?}\nexpected\n  {expected:?}"));
            }
        }
        let encoded =
            serde_json::to_string(&encode(expected)).map_err(|error| format!("encoding: {error}"))?;
        let same = match self.compare {
            Compare::Bytes => encoded == self.text,
            Compare::JsonValue => json(&encoded) == json(self.text),
        };
        if same {
            Ok(())
        } else {
            Err(format!("encoded\n  {encoded}\nfile\n  {}", self.text))
        }
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// The dialect and writing side named by a golden path.
fn location(path: &str) -> (Dialect, Side) {
    let mut parts = path.split('/');
    let dialect = match parts.next() {
        Some("g1") => Dialect::G1,
        Some("g1-3.2.0") => Dialect::G1Release320,
        Some("g2") => Dialect::G2,
        Some("g3") => Dialect::G3,
        Some("peer") => Dialect::Peer,
        other => panic!("unknown dialect directory {other:?} in {path}"),
    };
    let side = match parts.next() {
        Some("executor") => Side::Executor,
        // Third-party job API requests are plain bodies; the side only matters for envelopes.
        Some("admin" | "client") => Side::Admin,
        other => panic!("unknown writer directory {other:?} in {path}"),
    };
    (dialect, side)
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_below(&path));
        } else {
            files.push(path);
        }
    }
    files
}

// ---------------------------------------------------------------------------------------------------------
// Expected values.

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(g1_cases());
    cases.extend(g1_release_320_cases());
    cases.extend(g2_cases());
    cases.extend(g3_cases());
    cases.extend(peer_cases());
    cases
}

fn g1_cases() -> Vec<Case> {
    let g1 = Generation::G1;
    vec![
        built("g1/executor/beat_reply.json", ok(), Envelope::success()),
        built("g1/executor/idle_beat_reply.json", ok(), Envelope::success()),
        built(
            "g1/executor/idle_beat_reply_busy.json",
            fail(message::JOB_THREAD_BUSY),
            Envelope::failure(message::JOB_THREAD_BUSY),
        ),
        built("g1/executor/run_reply.json", ok(), Envelope::success()),
        reply(
            "g1/executor/run_reply_handler_not_found.json",
            fail(&message::job_handler_not_found(Some("demoJobHandler"))),
        ),
        reply(
            "g1/executor/run_reply_discard_later.json",
            fail(&message::block_strategy_effect(BlockStrategy::DiscardLater)),
        ),
        reply(
            "g1/executor/run_reply_repeat.json",
            fail(&message::repeat_trigger(LogId(88231), g1)),
        ),
        reply(
            "g1/executor/run_reply_glue_type_not_valid.json",
            fail(&message::glue_type_not_valid(Some("GLUE_RUBY"))),
        ),
        built("g1/executor/kill_reply.json", ok(), Envelope::success()),
        built(
            "g1/executor/kill_reply_no_thread.json",
            envelope(code::SUCCESS, Some(message::JOB_THREAD_ALREADY_KILLED), None),
            Envelope::job_thread_already_killed(Dialect::G1),
        ),
        case(
            "g1/executor/log_reply.json",
            Body::LogReply(log_reply(None, log(4, 3, ""))),
        ),
        Case {
            compare: Compare::JsonValue,
            ..case(
                "g1/executor/log_reply_html_escaped.json",
                Body::LogReply(log_reply(None, log(1, 3, LOG_CONTENT))),
            )
        },
        case(
            "g1/executor/log_reply_file_missing.json",
            Body::LogReply(log_reply(None, log_file_missing())),
        ),
        built(
            "g1/executor/reply_token_wrong.json",
            fail(AuthFailure::TokenWrong.message()),
            AuthFailure::TokenWrong.into(),
        ),
        reply(
            "g1/executor/reply_uri_not_found.json",
            fail(&message::uri_mapping_not_found("/trigger")),
        ),
        reply(
            "g1/executor/reply_method_not_supported.json",
            fail(message::METHOD_NOT_SUPPORTED),
        ),
        case(
            "g1/executor/callback_request.json",
            Body::Callback(callback(CallbackShape::Array, finished_items())),
        ),
        case("g1/executor/registry_request.json", Body::Registry(registry())),
        case(
            "g1/executor/registry_remove_request.json",
            Body::Registry(registry()),
        ),
        case("g1/admin/beat_request.json", Body::Beat),
        case(
            "g1/admin/idle_beat_request.json",
            Body::JobId(JobIdRequest { job_id: JobId(12) }),
        ),
        Case {
            compare: Compare::JsonValue,
            ..case("g1/admin/run_request.json", Body::Trigger(bean_trigger()))
        },
        case("g1/admin/run_request_shell.json", Body::Trigger(shell_trigger())),
        case(
            "g1/admin/kill_request.json",
            Body::JobId(JobIdRequest { job_id: JobId(12) }),
        ),
        case("g1/admin/log_request.json", Body::Log(log_request(4))),
        built("g1/admin/registry_reply.json", ok(), Envelope::success()),
        built(
            "g1/admin/registry_reply_illegal_argument.json",
            fail(message::ILLEGAL_ARGUMENT),
            Envelope::failure(message::ILLEGAL_ARGUMENT),
        ),
        built("g1/admin/registry_remove_reply.json", ok(), Envelope::success()),
        built("g1/admin/callback_reply.json", ok(), Envelope::success()),
        built(
            "g1/admin/reply_token_wrong.json",
            fail(AuthFailure::TokenWrong.message()),
            AuthFailure::TokenWrong.into(),
        ),
    ]
}

fn g1_release_320_cases() -> Vec<Case> {
    vec![
        built(
            "g1-3.2.0/executor/beat_reply.json",
            ok_success(),
            Envelope::success(),
        ),
        built(
            "g1-3.2.0/executor/kill_reply_no_thread.json",
            envelope(
                code::SUCCESS,
                Some("Success"),
                Some(message::JOB_THREAD_ALREADY_KILLED),
            ),
            Envelope::job_thread_already_killed(Dialect::G1Release320),
        ),
        case(
            "g1-3.2.0/executor/log_reply_file_missing.json",
            Body::LogReply(log_reply(Some("Success"), log_file_missing())),
        ),
        built(
            "g1-3.2.0/admin/registry_reply.json",
            ok_success(),
            Envelope::success(),
        ),
        built(
            "g1-3.2.0/admin/callback_reply.json",
            ok_success(),
            Envelope::success(),
        ),
        built(
            "g1-3.2.0/admin/reply_token_wrong.json",
            fail(AuthFailure::TokenWrong.message()),
            AuthFailure::TokenWrong.into(),
        ),
    ]
}

fn g2_cases() -> Vec<Case> {
    let g2 = Generation::G2;
    vec![
        built("g2/executor/beat_reply.json", ok_success(), Envelope::success()),
        reply(
            "g2/executor/idle_beat_reply_busy.json",
            fail(message::JOB_THREAD_BUSY),
        ),
        built("g2/executor/run_reply.json", ok_success(), Envelope::success()),
        reply(
            "g2/executor/run_reply_discard_later.json",
            fail(&message::block_strategy_effect(BlockStrategy::DiscardLater)),
        ),
        reply(
            "g2/executor/run_reply_repeat.json",
            fail(&message::repeat_trigger(LogId(88231), g2)),
        ),
        built("g2/executor/kill_reply.json", ok_success(), Envelope::success()),
        built(
            "g2/executor/kill_reply_no_thread.json",
            envelope(
                code::SUCCESS,
                Some("Success"),
                Some(message::JOB_THREAD_ALREADY_KILLED),
            ),
            Envelope::job_thread_already_killed(Dialect::G2),
        ),
        Case {
            built: Some(Body::LogReply(Envelope::success_with(log(4, 0, "")))),
            ..case(
                "g2/executor/log_reply.json",
                Body::LogReply(log_reply(Some("Success"), log(4, 0, ""))),
            )
        },
        case(
            "g2/executor/log_reply_file_missing.json",
            Body::LogReply(log_reply(Some("Success"), log_file_missing())),
        ),
        built(
            "g2/executor/reply_token_wrong.json",
            fail(AuthFailure::TokenWrong.message()),
            AuthFailure::TokenWrong.into(),
        ),
        case(
            "g2/executor/callback_request.json",
            Body::Callback(callback(CallbackShape::Array, finished_items())),
        ),
        case("g2/executor/registry_request.json", Body::Registry(registry())),
        case(
            "g2/executor/registry_remove_request.json",
            Body::Registry(registry()),
        ),
        case("g2/admin/beat_request.json", Body::Beat),
        case(
            "g2/admin/idle_beat_request.json",
            Body::JobId(JobIdRequest { job_id: JobId(12) }),
        ),
        case("g2/admin/run_request.json", Body::Trigger(bean_trigger())),
        case(
            "g2/admin/kill_request.json",
            Body::JobId(JobIdRequest { job_id: JobId(12) }),
        ),
        case("g2/admin/log_request.json", Body::Log(log_request(4))),
        built("g2/admin/registry_reply.json", ok_success(), Envelope::success()),
        built(
            "g2/admin/registry_reply_illegal_argument.json",
            fail(message::ILLEGAL_ARGUMENT),
            Envelope::failure(message::ILLEGAL_ARGUMENT),
        ),
        built(
            "g2/admin/registry_remove_reply.json",
            ok_success(),
            Envelope::success(),
        ),
        built("g2/admin/callback_reply.json", ok_success(), Envelope::success()),
        reply(
            "g2/admin/reply_request_body_empty.json",
            fail(message::REQUEST_BODY_EMPTY),
        ),
        built(
            "g2/admin/reply_token_wrong.json",
            fail(AuthFailure::TokenWrong.message()),
            AuthFailure::TokenWrong.into(),
        ),
    ]
}

fn g3_cases() -> Vec<Case> {
    let g3 = Generation::G3;
    vec![
        built("g3/executor/beat_reply.json", ok_success(), Envelope::success()),
        built(
            "g3/executor/idle_beat_reply.json",
            ok_success(),
            Envelope::success(),
        ),
        reply(
            "g3/executor/idle_beat_reply_busy.json",
            fail(message::JOB_THREAD_BUSY),
        ),
        built(
            "g3/executor/trigger_reply.json",
            ok_success(),
            Envelope::success(),
        ),
        reply(
            "g3/executor/trigger_reply_handler_not_found.json",
            fail(&message::job_handler_not_found(Some("demoJobHandler"))),
        ),
        reply(
            "g3/executor/trigger_reply_discard_later.json",
            fail(&message::block_strategy_effect(BlockStrategy::DiscardLater)),
        ),
        reply(
            "g3/executor/trigger_reply_repeat.json",
            fail(&message::repeat_trigger(LogId(88231), g3)),
        ),
        reply(
            "g3/executor/trigger_reply_glue_not_supported.json",
            fail(&message::glue_type_not_supported(GlueType::Shell)),
        ),
        reply(
            "g3/executor/trigger_reply_glue_type_not_valid.json",
            fail(&message::glue_type_not_valid(None)),
        ),
        built("g3/executor/kill_reply.json", ok_success(), Envelope::success()),
        built(
            "g3/executor/kill_reply_no_thread.json",
            envelope(
                code::SUCCESS,
                Some("Success"),
                Some(message::JOB_THREAD_ALREADY_KILLED),
            ),
            Envelope::job_thread_already_killed(Dialect::G3),
        ),
        Case {
            built: Some(Body::LogReply(Envelope::success_with(log(1, 3, LOG_CONTENT)))),
            ..case(
                "g3/executor/log_reply.json",
                Body::LogReply(log_reply(Some("Success"), log(1, 3, LOG_CONTENT))),
            )
        },
        case(
            "g3/executor/log_reply_file_missing.json",
            Body::LogReply(log_reply(Some("Success"), log_file_missing())),
        ),
        built(
            "g3/executor/reply_credentials_empty.json",
            fail(AuthFailure::CredentialsEmpty.message()),
            AuthFailure::CredentialsEmpty.into(),
        ),
        built(
            "g3/executor/reply_credentials_invalid.json",
            fail(AuthFailure::CredentialsInvalid.message()),
            AuthFailure::CredentialsInvalid.into(),
        ),
        reply(
            "g3/executor/reply_uri_not_found.json",
            fail(&message::uri_mapping_not_found("/run")),
        ),
        case(
            "g3/executor/callback_request.json",
            Body::Callback(callback(CallbackShape::CallbackList, finished_items())),
        ),
        case(
            "g3/executor/callback_request_killed.json",
            Body::Callback(callback(CallbackShape::CallbackList, killed_items())),
        ),
        case("g3/executor/registry_request.json", Body::Registry(registry())),
        case(
            "g3/executor/registry_remove_request.json",
            Body::Registry(registry()),
        ),
        case("g3/admin/beat_request.json", Body::Beat),
        case(
            "g3/admin/idle_beat_request.json",
            Body::JobId(JobIdRequest { job_id: JobId(12) }),
        ),
        case("g3/admin/trigger_request.json", Body::Trigger(bean_trigger())),
        case(
            "g3/admin/trigger_request_shell.json",
            Body::Trigger(shell_trigger()),
        ),
        case(
            "g3/admin/trigger_request_glue_nulls.json",
            Body::Trigger(glue_trigger_with_nulls()),
        ),
        case(
            "g3/admin/kill_request.json",
            Body::JobId(JobIdRequest { job_id: JobId(12) }),
        ),
        case("g3/admin/log_request.json", Body::Log(log_request(1))),
        built("g3/admin/registry_reply.json", ok_success(), Envelope::success()),
        built(
            "g3/admin/registry_reply_illegal_argument.json",
            fail(message::ILLEGAL_ARGUMENT),
            Envelope::failure(message::ILLEGAL_ARGUMENT),
        ),
        built(
            "g3/admin/registry_remove_reply.json",
            ok_success(),
            Envelope::success(),
        ),
        built("g3/admin/callback_reply.json", ok_success(), Envelope::success()),
        built(
            "g3/admin/reply_credentials_empty.json",
            fail(AuthFailure::CredentialsEmpty.message()),
            AuthFailure::CredentialsEmpty.into(),
        ),
        built(
            "g3/admin/reply_credentials_invalid.json",
            fail(AuthFailure::CredentialsInvalid.message()),
            AuthFailure::CredentialsInvalid.into(),
        ),
        reply(
            "g3/admin/reply_uri_not_found.json",
            fail(&message::uri_mapping_not_found("addJobs")),
        ),
        built(
            "g3/admin/add_job_reply.json",
            envelope(code::SUCCESS, Some("Success"), Some("57")),
            Envelope::success_with("57".to_owned()),
        ),
        built(
            "g3/admin/update_job_reply.json",
            ok_success(),
            Envelope::success(),
        ),
        reply(
            "g3/admin/trigger_job_reply_invalid_id.json",
            fail("Job ID is illegal"),
        ),
        built(
            "g3/admin/job_reply_too_many_requests.json",
            envelope(code::TOO_MANY_REQUESTS, Some(message::TOO_MANY_REQUESTS), None),
            Envelope::with_code(code::TOO_MANY_REQUESTS, message::TOO_MANY_REQUESTS),
        ),
        case("g3/client/add_job_request.json", Body::AddJob(add_job())),
        case("g3/client/update_job_request.json", Body::UpdateJob(update_job())),
        case(
            "g3/client/remove_job_request.json",
            Body::OperateJob(JobOperateRequest { id: JobId(57) }),
        ),
        case(
            "g3/client/start_job_request.json",
            Body::OperateJob(JobOperateRequest { id: JobId(57) }),
        ),
        case(
            "g3/client/stop_job_request.json",
            Body::OperateJob(JobOperateRequest { id: JobId(57) }),
        ),
        case(
            "g3/client/trigger_job_request.json",
            Body::TriggerJob(JobTriggerRequest {
                id: JobId(57),
                executor_param: Some("date=2026-06-18".to_owned()),
                address_list: Some(String::new()),
            }),
        ),
    ]
}

fn peer_cases() -> Vec<Case> {
    vec![
        built("peer/executor/beat_reply.json", ok_success(), Envelope::success()),
        built(
            "peer/executor/kill_reply_no_thread.json",
            envelope(
                code::SUCCESS,
                Some("Success"),
                Some(message::JOB_THREAD_ALREADY_KILLED),
            ),
            Envelope::job_thread_already_killed(Dialect::Peer),
        ),
        Case {
            built: Some(Body::LogReply(Envelope::success_with(log_file_missing()))),
            ..case(
                "peer/executor/log_reply_file_missing.json",
                Body::LogReply(log_reply(Some("Success"), log_file_missing())),
            )
        },
        case(
            "peer/executor/callback_request.json",
            Body::Callback(callback(CallbackShape::CallbackList, finished_items())),
        ),
        case(
            "peer/executor/callback_request_array.json",
            Body::Callback(callback(CallbackShape::Array, finished_items())),
        ),
        case("peer/admin/beat_request.json", Body::Beat),
        case("peer/admin/log_request.json", Body::Log(log_request(1))),
        built(
            "peer/admin/registry_reply.json",
            ok_success(),
            Envelope::success(),
        ),
        built(
            "peer/admin/reply_credentials_invalid.json",
            fail(AuthFailure::CredentialsInvalid.message()),
            AuthFailure::CredentialsInvalid.into(),
        ),
    ]
}

fn case(path: &'static str, decoded: Body) -> Case {
    Case {
        path,
        decoded,
        built: None,
        compare: Compare::Bytes,
    }
}

fn reply(path: &'static str, decoded: Envelope<String>) -> Case {
    case(path, Body::Reply(decoded))
}

/// A reply whose file must also equal what this crate's constructors build.
fn built(path: &'static str, decoded: Envelope<String>, built: Envelope<String>) -> Case {
    Case {
        built: Some(Body::Reply(built)),
        ..reply(path, decoded)
    }
}

fn envelope(code: i32, msg: Option<&str>, data: Option<&str>) -> Envelope<String> {
    Envelope {
        code,
        msg: msg.map(str::to_owned),
        data: data.map(str::to_owned),
    }
}

/// A success as G1 (before 3.2.0) writes it: no message.
fn ok() -> Envelope<String> {
    envelope(code::SUCCESS, None, None)
}

/// A success as 3.2.0 and later write it.
fn ok_success() -> Envelope<String> {
    envelope(code::SUCCESS, Some("Success"), None)
}

fn fail(msg: &str) -> Envelope<String> {
    envelope(code::FAILURE, Some(msg), None)
}

fn log_reply(msg: Option<&str>, result: LogResult) -> Envelope<LogResult> {
    Envelope {
        code: code::SUCCESS,
        msg: msg.map(str::to_owned),
        data: Some(result),
    }
}

fn log(from_line_num: i32, to_line_num: i32, log_content: &str) -> LogResult {
    LogResult {
        from_line_num,
        to_line_num,
        log_content: log_content.to_owned(),
        is_end: false,
    }
}

fn log_file_missing() -> LogResult {
    LogResult {
        is_end: true,
        ..log(1, 0, message::LOG_FILE_NOT_EXISTS)
    }
}

const LOG_CONTENT: &str = "\
2026-06-19 08:00:00 [com.xxl.job.core.thread.JobThread#run]-[133]-[xxl-job, JobThread-12-1781855990000] \
<br>----------- xxl-job job execute start -----------<br>----------- Param:orderDate=2026-06-01\n\
2026-06-19 08:00:00 [com.acme.jobs.DemoJobs#demoJobHandler]-[33]-[xxl-job, JobThread-12-1781855990000] \
XXL-JOB, Hello World.\n\
2026-06-19 08:00:02 [com.xxl.job.core.thread.JobThread#run]-[182]-[xxl-job, JobThread-12-1781855990000] \
<br>----------- xxl-job job execute end(finish) -----------<br>----------- Result: handleCode=200, handleMsg = null\n";

fn log_request(from_line_num: i32) -> LogRequest {
    LogRequest {
        log_id: LogId(88231),
        log_date_time: 1_781_856_000_000,
        from_line_num,
    }
}

fn bean_trigger() -> TriggerRequest {
    TriggerRequest {
        job_id: JobId(12),
        executor_handler: Some("demoJobHandler".to_owned()),
        executor_params: Some("orderDate=2026-06-01".to_owned()),
        executor_block_strategy: Some(BlockStrategy::SerialExecution.into()),
        executor_timeout: 0,
        log_id: LogId(88231),
        log_date_time: 1_781_856_000_000,
        glue_type: Some(GlueType::Bean.into()),
        glue_source: Some(String::new()),
        glue_updatetime: 1_781_700_000_000,
        broadcast_index: 0,
        broadcast_total: 1,
    }
}

fn shell_trigger() -> TriggerRequest {
    TriggerRequest {
        job_id: JobId(31),
        executor_handler: Some(String::new()),
        executor_params: Some("--dry-run".to_owned()),
        executor_block_strategy: Some(BlockStrategy::DiscardLater.into()),
        executor_timeout: 600,
        log_id: LogId(90017),
        log_date_time: 1_781_856_005_000,
        glue_type: Some(GlueType::Shell.into()),
        glue_source: Some("#!/bin/bash\necho \"shard $2 of $3, param $1\"\nexit 0\n".to_owned()),
        glue_updatetime: 1_781_800_000_000,
        broadcast_index: 1,
        broadcast_total: 3,
    }
}

fn glue_trigger_with_nulls() -> TriggerRequest {
    TriggerRequest {
        job_id: JobId(40),
        executor_handler: None,
        executor_params: None,
        executor_block_strategy: Some(Lenient::Known(BlockStrategy::CoverEarly)),
        executor_timeout: 0,
        log_id: LogId(90100),
        log_date_time: 1_781_856_010_000,
        glue_type: Some(Lenient::Known(GlueType::Python)),
        glue_source: Some("import sys\nprint(sys.argv[1:])\n".to_owned()),
        glue_updatetime: 1_781_800_000_000,
        broadcast_index: 0,
        broadcast_total: 1,
    }
}

fn registry() -> RegistryRequest {
    RegistryRequest::executor("xxl-job-executor-sample", "http://10.0.0.5:9999/")
}

fn callback(shape: CallbackShape, items: Vec<CallbackItem>) -> CallbackBody {
    CallbackBody { shape, items }
}

fn finished_items() -> Vec<CallbackItem> {
    vec![
        CallbackItem {
            log_id: LogId(88231),
            log_date_time: 1_781_856_000_000,
            handle_code: 200,
            handle_msg: None,
        },
        CallbackItem {
            log_id: LogId(88240),
            log_date_time: 1_781_856_003_000,
            handle_code: code::TIMEOUT,
            handle_msg: Some(message::JOB_EXECUTE_TIMEOUT.to_owned()),
        },
    ]
}

fn killed_items() -> Vec<CallbackItem> {
    vec![
        CallbackItem {
            log_id: LogId(88250),
            log_date_time: 1_781_856_010_000,
            handle_code: code::FAILURE,
            handle_msg: Some(StopReason::Killed.running_execution_killed()),
        },
        CallbackItem {
            log_id: LogId(88251),
            log_date_time: 1_781_856_011_000,
            handle_code: code::FAILURE,
            handle_msg: Some(StopReason::Killed.queued_trigger_killed()),
        },
    ]
}

fn add_job() -> JobAddRequest {
    JobAddRequest {
        job_group: 1,
        job: JobSettings {
            name: Some("nightly export".to_owned()),
            author: Some("ops".to_owned()),
            alarm_email: Some("ops@example.com".to_owned()),
            schedule_type: Some("CRON".to_owned()),
            schedule_conf: Some("0 30 2 * * ?".to_owned()),
            misfire_strategy: Some("DO_NOTHING".to_owned()),
            executor_route_strategy: Some("ROUND".to_owned()),
            executor_handler: Some("demoJobHandler".to_owned()),
            executor_param: Some(String::new()),
            executor_block_strategy: Some(BlockStrategy::SerialExecution.into()),
            executor_timeout: 0,
            executor_fail_retry_count: 1,
            glue_type: Some(GlueType::Bean.into()),
            glue_source: Some(String::new()),
            glue_remark: Some(String::new()),
        },
    }
}

fn update_job() -> JobUpdateRequest {
    JobUpdateRequest {
        id: JobId(57),
        job: JobSettings {
            name: Some("nightly export".to_owned()),
            author: Some("ops".to_owned()),
            alarm_email: Some(String::new()),
            schedule_type: Some("FIX_RATE".to_owned()),
            schedule_conf: Some("3600".to_owned()),
            misfire_strategy: Some("FIRE_ONCE_NOW".to_owned()),
            executor_route_strategy: Some("SHARDING_BROADCAST".to_owned()),
            executor_handler: Some(String::new()),
            executor_param: Some("--full".to_owned()),
            executor_block_strategy: Some(BlockStrategy::CoverEarly.into()),
            executor_timeout: 600,
            executor_fail_retry_count: 0,
            glue_type: Some(GlueType::Shell.into()),
            glue_source: Some("#!/bin/bash\nexit 0\n".to_owned()),
            glue_remark: Some("v2".to_owned()),
        },
    }
}
