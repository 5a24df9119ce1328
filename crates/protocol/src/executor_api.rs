//! Bodies of the endpoints an executor serves (`/beat`, `/idleBeat`, `/run` or `/trigger`, `/kill`, `/log`)
//! and the replies whose shape differs between generations.
//!
//! Decoding is as lenient as upstream's Gson: unknown properties are ignored, a `null` or missing number is
//! 0, a `null` or missing string is `None`. Types written the same by every generation implement
//! `Serialize` directly (null properties omitted, as Gson does); [`LogRequest`] differs per generation and
//! encodes through [`LogRequest::encode`]. Paths and failure texts live in [`crate::ExecutorEndpoint`] and
//! [`crate::message`].

use serde::{Deserialize, Deserializer, Serialize};

use crate::java::{from_object, null_as_default, wire_struct};
use crate::{BlockStrategy, Dialect, Envelope, GlueType, JobId, Lenient, LogId, message};

wire_struct! {
    /// Body of `/run` (G1, G2) and `/trigger` (G3): start one execution. Identical in every generation.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[serde(rename_all = "camelCase")]
    pub struct TriggerRequest {
        /// The job.
        #[serde(default, deserialize_with = "null_as_default")]
        pub job_id: JobId,
        /// The handler name of a `BEAN` job; may be empty for GLUE jobs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub executor_handler: Option<String>,
        /// The job parameter (plural on the wire, singular everywhere else upstream).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub executor_params: Option<String>,
        /// The block strategy; `None` and unknown spellings behave like serial execution, see
        /// [`TriggerRequest::block_strategy`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub executor_block_strategy: Option<Lenient<BlockStrategy>>,
        /// Execution timeout in seconds; `> 0` enables it.
        #[serde(default, deserialize_with = "null_as_default")]
        pub executor_timeout: i32,
        /// The execution's log row.
        #[serde(default, deserialize_with = "null_as_default")]
        pub log_id: LogId,
        /// Trigger time, epoch milliseconds; its date names the executor's log directory.
        #[serde(default, deserialize_with = "null_as_default")]
        pub log_date_time: i64,
        /// The glue type; `None` or an unknown spelling makes the executor answer
        /// [`message::glue_type_not_valid`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub glue_type: Option<Lenient<GlueType>>,
        /// Source text of a GLUE job.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub glue_source: Option<String>,
        /// Epoch milliseconds of the last GLUE source change; a change replaces the job thread.
        #[serde(default, deserialize_with = "null_as_default")]
        pub glue_updatetime: i64,
        /// Shard index, 0-based (0 when not broadcasting).
        #[serde(default, deserialize_with = "null_as_default")]
        pub broadcast_index: i32,
        /// Shard count (1 when not broadcasting).
        #[serde(default, deserialize_with = "null_as_default")]
        pub broadcast_total: i32,
    }
}

wire_struct! {
    /// Body of `/idleBeat` and `/kill`: `{"jobId":…}`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    #[serde(rename_all = "camelCase")]
    pub struct JobIdRequest {
        /// The job whose executor-side job thread is inspected or stopped.
        #[serde(default, deserialize_with = "null_as_default")]
        pub job_id: JobId,
    }
}

/// Body of `/log`: read an execution's log from a line on.
///
/// The trigger time is spelled `logDateTim` up to G2 and `logDateTime` in G3; decoding accepts either (and
/// prefers `logDateTime` when a peer sends both), encoding follows the dialect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogRequest {
    /// The execution's log row; names the file `<logId>.log`.
    pub log_id: LogId,
    /// Trigger time in epoch milliseconds; only its calendar date in the executor's time zone is used.
    pub log_date_time: i64,
    /// First line to return, 1-based.
    pub from_line_num: i32,
}

wire_struct! {
    /// The payload of a `/log` reply (`LogResult` up to G2, `LogData` in G3; same JSON in all).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[serde(rename_all = "camelCase")]
    pub struct LogResult {
        /// Echo of the request's first line.
        #[serde(default, deserialize_with = "null_as_default")]
        pub from_line_num: i32,
        /// The last line returned (G2/G3; 0 when nothing new) or the file's line count (G1). Only compare
        /// `from_line_num > to_line_num` ("nothing new").
        #[serde(default, deserialize_with = "null_as_default")]
        pub to_line_num: i32,
        /// The lines, each followed by a line separator; `null` decodes as empty.
        #[serde(default, deserialize_with = "null_as_default")]
        pub log_content: String,
        /// `true` only when the log file does not exist; the admin decides end-of-log itself.
        #[serde(default, deserialize_with = "null_as_default")]
        pub is_end: bool,
    }
}

/// The `/beat` request body: G1 admins post the JSON string `""`, later ones post nothing. Executors ignore
/// it either way.
pub fn beat_request_body(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::G1 | Dialect::G1Release320 => "\"\"",
        Dialect::G2 | Dialect::G3 | Dialect::Peer => "",
    }
}

impl TriggerRequest {
    /// The block strategy in effect: unknown or missing values behave like serial execution, as upstream.
    pub fn block_strategy(&self) -> BlockStrategy {
        self.executor_block_strategy
            .as_ref()
            .and_then(Lenient::known)
            .unwrap_or(BlockStrategy::SerialExecution)
    }

    /// The glue type, if its spelling is known.
    pub fn known_glue_type(&self) -> Option<GlueType> {
        self.glue_type.as_ref().and_then(Lenient::known)
    }
}

impl LogRequest {
    /// A serializable view that writes this request as `dialect` spells it: `logDateTim` first for G1/G2,
    /// `logId, logDateTime, fromLineNum` for G3, both spellings for a peer.
    pub fn encode(&self, dialect: Dialect) -> impl Serialize + use<> {
        LogRequestWire {
            log_date_tim: dialect.writes_log_date_tim().then_some(self.log_date_time),
            log_id: self.log_id,
            log_date_time: dialect.writes_log_date_time().then_some(self.log_date_time),
            from_line_num: self.from_line_num,
        }
    }
}

impl<'de> Deserialize<'de> for LogRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_object::<_, LogRequestWire>(deserializer).map(LogRequest::from)
    }
}

impl Envelope<String> {
    /// The `/kill` reply when the job had no job thread: G1 puts the text in `msg`; 3.2.0 and later put it in
    /// the payload of an otherwise plain success.
    pub fn job_thread_already_killed(dialect: Dialect) -> Self {
        let text = message::JOB_THREAD_ALREADY_KILLED.to_owned();
        match dialect {
            Dialect::G1 => Envelope::with_code(crate::code::SUCCESS, text),
            Dialect::G1Release320 | Dialect::G2 | Dialect::G3 | Dialect::Peer => Envelope::success_with(text),
        }
    }
}

/// [`LogRequest`] as it travels; the field order covers upstream's G1 (`logDateTim, logId, fromLineNum`) and
/// G3 (`logId, logDateTime, fromLineNum`) orders.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogRequestWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_date_tim: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    log_id: LogId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_date_time: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    from_line_num: i32,
}

impl From<LogRequestWire> for LogRequest {
    fn from(wire: LogRequestWire) -> Self {
        LogRequest {
            log_id: wire.log_id,
            log_date_time: wire.log_date_time.or(wire.log_date_tim).unwrap_or_default(),
            from_line_num: wire.from_line_num,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode<T: for<'de> Deserialize<'de>>(json: &str) -> T {
        serde_json::from_str(json).unwrap_or_else(|error| panic!("{json}: {error}"))
    }

    #[test]
    fn trigger_request_tolerates_nulls_missing_and_unknown_fields() {
        let minimal: TriggerRequest = decode("{}");
        assert_eq!(minimal, TriggerRequest::default());
        assert_eq!(minimal.block_strategy(), BlockStrategy::SerialExecution);
        assert_eq!(minimal.known_glue_type(), None);

        let nulls: TriggerRequest = decode(
            r#"{"jobId":null,"executorHandler":null,"executorParams":null,"executorBlockStrategy":null,
                "executorTimeout":null,"logId":null,"logDateTime":null,"glueType":null,"glueSource":null,
                "glueUpdatetime":null,"broadcastIndex":null,"broadcastTotal":null,"unknown":[1,{"x":null}]}"#,
        );
        assert_eq!(nulls, TriggerRequest::default());

        let odd: TriggerRequest = decode(
            r#"{"jobId":7,"executorBlockStrategy":"CONCURRENT_EXECUTION","glueType":"GLUE_RUBY",
                "executorHandler":"\u003cdemo\u003e","logDateTim":5}"#,
        );
        assert_eq!(odd.job_id, JobId(7));
        assert_eq!(
            odd.executor_block_strategy,
            Some(Lenient::Unknown("CONCURRENT_EXECUTION".to_owned()))
        );
        assert_eq!(odd.block_strategy(), BlockStrategy::SerialExecution);
        assert_eq!(odd.glue_type, Some(Lenient::Unknown("GLUE_RUBY".to_owned())));
        assert_eq!(odd.executor_handler.as_deref(), Some("<demo>"));
        // The trigger body never used the `logDateTim` typo; it is an unknown property here.
        assert_eq!(odd.log_date_time, 0);

        // Unknown spellings travel back unchanged.
        let encoded = serde_json::to_value(&odd).unwrap();
        assert_eq!(encoded["executorBlockStrategy"], "CONCURRENT_EXECUTION");
        assert_eq!(encoded["glueType"], "GLUE_RUBY");
    }

    #[test]
    fn trigger_request_rejects_wrong_types() {
        for input in [
            r#"{"jobId":"x"}"#,
            r#"{"glueType":3}"#,
            r#"{"logId":1.5}"#,
            "[]",
            "[12]",
            r#""""#,
            "null",
        ] {
            assert!(serde_json::from_str::<TriggerRequest>(input).is_err(), "{input}");
        }
        // Arrays are not objects for any body, though serde's derived decoding would take them.
        assert!(serde_json::from_str::<JobIdRequest>("[12]").is_err());
        assert!(serde_json::from_str::<LogRequest>("[1,2,3]").is_err());
        assert!(serde_json::from_str::<LogResult>("[1,2,\"x\",true]").is_err());
    }

    #[test]
    fn log_request_accepts_both_spellings() {
        // (input, logId, logDateTime, fromLineNum)
        let table = [
            (r#"{"logDateTim":10,"logId":1,"fromLineNum":2}"#, 1, 10, 2),
            (r#"{"logId":1,"logDateTime":11,"fromLineNum":2}"#, 1, 11, 2),
            (
                r#"{"logId":1,"logDateTim":10,"logDateTime":11,"fromLineNum":2}"#,
                1,
                11,
                2,
            ),
            (r#"{"logId":1,"logDateTim":10,"logDateTime":null}"#, 1, 10, 0),
            (r#"{"logId":null,"fromLineNum":null,"success":true}"#, 0, 0, 0),
        ];
        for (input, log_id, log_date_time, from_line_num) in table {
            let request: LogRequest = decode(input);
            assert_eq!(
                request,
                LogRequest {
                    log_id: LogId(log_id),
                    log_date_time,
                    from_line_num
                },
                "{input}"
            );
        }
    }

    #[test]
    fn log_request_encoding_per_dialect() {
        let request = LogRequest {
            log_id: LogId(1),
            log_date_time: 10,
            from_line_num: 2,
        };
        let table = [
            (Dialect::G1, r#"{"logDateTim":10,"logId":1,"fromLineNum":2}"#),
            (
                Dialect::G1Release320,
                r#"{"logDateTim":10,"logId":1,"fromLineNum":2}"#,
            ),
            (Dialect::G2, r#"{"logDateTim":10,"logId":1,"fromLineNum":2}"#),
            (Dialect::G3, r#"{"logId":1,"logDateTime":10,"fromLineNum":2}"#),
            (
                Dialect::Peer,
                r#"{"logDateTim":10,"logId":1,"logDateTime":10,"fromLineNum":2}"#,
            ),
        ];
        for (dialect, expected) in table {
            let json = serde_json::to_string(&request.encode(dialect)).unwrap();
            assert_eq!(json, expected, "{dialect:?}");
            assert_eq!(decode::<LogRequest>(&json), request);
        }
    }

    #[test]
    fn log_result_tolerates_nulls() {
        let result: LogResult =
            decode(r#"{"fromLineNum":1,"toLineNum":null,"logContent":null,"isEnd":null}"#);
        assert_eq!(
            result,
            LogResult {
                from_line_num: 1,
                ..LogResult::default()
            }
        );
    }

    #[test]
    fn beat_bodies() {
        assert_eq!(beat_request_body(Dialect::G1), r#""""#);
        assert_eq!(beat_request_body(Dialect::G1Release320), r#""""#);
        assert_eq!(beat_request_body(Dialect::G2), "");
        assert_eq!(beat_request_body(Dialect::G3), "");
        assert_eq!(beat_request_body(Dialect::Peer), "");
    }
}
