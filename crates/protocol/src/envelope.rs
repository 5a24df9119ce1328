//! The reply envelope every endpoint answers with (`ReturnT` in G1, `Response` in G2/G3), its result codes,
//! its lenient decoding and its exact encoding per [`Side`] and [`Dialect`].
//!
//! What goes inside the payload for a given endpoint lives with that endpoint's bodies.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::java::from_object;
use crate::{Dialect, Side};

/// Result codes used in envelopes and callbacks.
pub mod code {
    /// Success.
    pub const SUCCESS: i32 = 200;
    /// Failure; the only failure code an envelope from an executor carries.
    pub const FAILURE: i32 = 500;
    /// Execution timeout (callback `handleCode`, and `handleTimeout()` in job code).
    pub const TIMEOUT: i32 = 502;
    /// Rate limit of the G3 job-management API; the same number as [`TIMEOUT`] upstream.
    pub const TOO_MANY_REQUESTS: i32 = TIMEOUT;
}

/// A reply: result code, optional message and optional payload.
///
/// Decoding (`serde::Deserialize`) accepts every upstream form: the payload under `data` or, failing that,
/// `content`; null properties present or omitted; a missing `msg` or payload as `None`; unknown properties
/// such as Jackson's `success` ignored. A missing or non-integer `code` is an error.
///
/// Encoding goes through [`Envelope::encode`], which needs the side and dialect to imitate; there is
/// deliberately no plain `Serialize` implementation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<T> {
    /// [`code::SUCCESS`] or a failure code.
    pub code: i32,
    /// The message. `None` on a success means "the dialect's default": nothing in G1, `"Success"` from
    /// 3.2.0 on.
    pub msg: Option<String>,
    /// The payload (`content` in G1, `data` in G2/G3).
    pub data: Option<T>,
}

/// The default message of a success from 3.2.0 on (`ResponseCode.SUCCESS`).
const SUCCESS_MSG: &str = "Success";

impl<T> Envelope<T> {
    /// A success without message or payload.
    pub fn success() -> Self {
        Envelope {
            code: code::SUCCESS,
            msg: None,
            data: None,
        }
    }

    /// A success carrying a payload.
    pub fn success_with(data: T) -> Self {
        Envelope {
            code: code::SUCCESS,
            msg: None,
            data: Some(data),
        }
    }

    /// A failure (code 500) with a message.
    pub fn failure(msg: impl Into<String>) -> Self {
        Envelope::with_code(code::FAILURE, msg)
    }

    /// A reply with any code and a message, e.g. 502 for the job API's rate limit.
    pub fn with_code(code: i32, msg: impl Into<String>) -> Self {
        Envelope {
            code,
            msg: Some(msg.into()),
            data: None,
        }
    }

    /// Whether the code is [`code::SUCCESS`]: the only test upstream peers apply.
    pub fn is_success(&self) -> bool {
        self.code == code::SUCCESS
    }

    /// A serializable view that writes this envelope exactly as the given upstream side and dialect would.
    ///
    /// | side | G1 | G1Release320 | G2, G3 | Peer |
    /// |---|---|---|---|---|
    /// | executor (Gson: nulls omitted) | `code,msg,content` | same, success msg `"Success"` | `code,msg,data` | `code,msg,content,data` |
    /// | admin (Jackson: nulls written) | `code,msg,content` | `code,msg,content,success` | `code,msg,data,success` | `code,msg,content,data,success` |
    ///
    /// Properties appear in that order, as upstream writes them.
    pub fn encode(&self, side: Side, dialect: Dialect) -> impl Serialize + '_
    where
        T: Serialize,
    {
        let msg = self
            .msg
            .as_deref()
            .or_else(|| (self.is_success() && dialect.has_320_envelope()).then_some(SUCCESS_MSG));
        let payload = self.data.as_ref();
        let payload_under = |written: bool| {
            if written {
                Slot::written_by(side, payload)
            } else {
                Slot::Absent
            }
        };
        EnvelopeWire {
            code: self.code,
            msg: Slot::written_by(side, msg),
            content: payload_under(dialect.writes_content()),
            data: payload_under(dialect.writes_data()),
            success: if side == Side::Admin && dialect.has_320_envelope() {
                Slot::Value(self.is_success())
            } else {
                Slot::Absent
            },
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Envelope<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = from_object::<_, EnvelopeWire<String, T, IgnoredAny>>(deserializer)?;
        Ok(Envelope {
            code: wire.code,
            msg: wire.msg.into_option(),
            data: wire.data.into_option().or_else(|| wire.content.into_option()),
        })
    }
}

/// The envelope's properties in upstream order, used in both directions.
#[derive(Serialize, Deserialize)]
struct EnvelopeWire<M, T, S> {
    code: i32,
    #[serde(default = "Slot::absent", skip_serializing_if = "Slot::is_absent")]
    msg: Slot<M>,
    #[serde(default = "Slot::absent", skip_serializing_if = "Slot::is_absent")]
    content: Slot<T>,
    #[serde(default = "Slot::absent", skip_serializing_if = "Slot::is_absent")]
    data: Slot<T>,
    #[serde(default = "Slot::absent", skip_serializing_if = "Slot::is_absent")]
    success: Slot<S>,
}

/// A JSON property that may be absent, `null` or a value: Gson drops null properties, Jackson writes them.
enum Slot<T> {
    Absent,
    Null,
    Value(T),
}

impl<T> Slot<T> {
    fn absent() -> Self {
        Slot::Absent
    }

    fn is_absent(&self) -> bool {
        matches!(self, Slot::Absent)
    }

    /// How `side`'s serializer writes an optional property.
    fn written_by(side: Side, value: Option<T>) -> Self {
        match (value, side) {
            (Some(value), _) => Slot::Value(value),
            (None, Side::Executor) => Slot::Absent,
            (None, Side::Admin) => Slot::Null,
        }
    }

    fn into_option(self) -> Option<T> {
        match self {
            Slot::Value(value) => Some(value),
            Slot::Absent | Slot::Null => None,
        }
    }
}

impl<T: Serialize> Serialize for Slot<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Slot::Value(value) => value.serialize(serializer),
            Slot::Absent | Slot::Null => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Slot<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(deserializer)?.map_or(Slot::Null, Slot::Value))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::LogResult;

    fn decode<T: for<'de> Deserialize<'de>>(json: &str) -> Envelope<T> {
        serde_json::from_str(json).unwrap_or_else(|error| panic!("{json}: {error}"))
    }

    fn encode<T: Serialize>(envelope: &Envelope<T>, side: Side, dialect: Dialect) -> String {
        serde_json::to_string(&envelope.encode(side, dialect)).unwrap()
    }

    #[test]
    fn decoding_is_lenient() {
        fn check(input: &str, code: i32, msg: Option<&str>, payload: Option<&str>) {
            let envelope: Envelope<String> = decode(input);
            assert_eq!(envelope.code, code, "{input}");
            assert_eq!(envelope.msg.as_deref(), msg, "{input}");
            assert_eq!(envelope.data.as_deref(), payload, "{input}");
        }
        check(r#"{"code":200}"#, 200, None, None);
        check(r#"{"code":200,"msg":null,"content":null}"#, 200, None, None);
        check(
            r#"{"code":200,"msg":"Success","data":null,"success":true}"#,
            200,
            Some("Success"),
            None,
        );
        check(
            r#"{"code":200,"msg":"Success","content":null,"success":true}"#,
            200,
            Some("Success"),
            None,
        );
        check(r#"{"code":200,"content":"a"}"#, 200, None, Some("a"));
        check(r#"{"code":200,"data":"b"}"#, 200, None, Some("b"));
        // `data` wins when both are present, `content` fills in when `data` is null.
        check(r#"{"code":200,"content":"a","data":"b"}"#, 200, None, Some("b"));
        check(r#"{"code":200,"content":"a","data":null}"#, 200, None, Some("a"));
        // Unknown properties of any type are ignored, including a `success` that contradicts `code`.
        check(
            r#"{"success":"yes","code":500,"msg":"x","extra":{"a":[1,2]},"ts":1}"#,
            500,
            Some("x"),
            None,
        );
        check(
            r#"{"code":500,"msg":"Fail","success":true}"#,
            500,
            Some("Fail"),
            None,
        );
        check(
            r#"{"code":502,"msg":"Too many requests"}"#,
            502,
            Some("Too many requests"),
            None,
        );
        // Gson before 3.2.0 HTML-escapes `<`, `>`, `&`, `=` and `'`.
        check(
            r#"{"code":500,"msg":"a\u003cbr\u003eb \u0026 c\u003dd\u0027"}"#,
            500,
            Some("a<br>b & c=d'"),
            None,
        );
        check(" \n{ \"code\" : 200 , \"msg\" : \"\" }\n", 200, Some(""), None);
    }

    #[test]
    fn decoding_rejects_what_is_not_an_envelope() {
        for input in [
            r#"{"msg":"no code"}"#,
            r#"{"code":null}"#,
            r#"{"code":"200"}"#,
            "[]",
            "[200]",
            r#""""#,
            "<html>",
        ] {
            assert!(
                serde_json::from_str::<Envelope<String>>(input).is_err(),
                "{input}"
            );
        }
        // A payload of the wrong type is an error, not a silent `None`.
        assert!(serde_json::from_str::<Envelope<String>>(r#"{"code":200,"data":{"a":1}}"#).is_err());
    }

    #[test]
    fn typed_payload_through_content_or_data() {
        let expected = LogResult {
            from_line_num: 4,
            to_line_num: 3,
            log_content: String::new(),
            is_end: false,
        };
        for key in ["content", "data"] {
            let input =
                json!({"code": 200, key: {"fromLineNum":4,"toLineNum":3,"logContent":"","isEnd":false}});
            let envelope: Envelope<LogResult> = serde_json::from_value(input).unwrap();
            assert_eq!(envelope, Envelope::success_with(expected.clone()));
        }
    }

    #[test]
    fn encoding_per_side_and_dialect() {
        use Dialect::*;
        use Side::*;
        fn check(envelope: &Envelope<String>, side: Side, dialect: Dialect, expected: &str) {
            assert_eq!(encode(envelope, side, dialect), expected, "{side:?} {dialect:?}");
        }
        let success = Envelope::<String>::success();
        let failure = Envelope::<String>::failure("boom");
        let payload = Envelope::success_with("p".to_owned());
        let limited = Envelope::<String>::with_code(code::TOO_MANY_REQUESTS, "slow down");

        check(&success, Executor, G1, r#"{"code":200}"#);
        check(
            &success,
            Executor,
            G1Release320,
            r#"{"code":200,"msg":"Success"}"#,
        );
        check(&success, Executor, G2, r#"{"code":200,"msg":"Success"}"#);
        check(&success, Executor, Peer, r#"{"code":200,"msg":"Success"}"#);
        check(&payload, Executor, G1, r#"{"code":200,"content":"p"}"#);
        check(
            &payload,
            Executor,
            G3,
            r#"{"code":200,"msg":"Success","data":"p"}"#,
        );
        check(
            &payload,
            Executor,
            Peer,
            r#"{"code":200,"msg":"Success","content":"p","data":"p"}"#,
        );
        check(&failure, Executor, G1, r#"{"code":500,"msg":"boom"}"#);
        check(&failure, Executor, G3, r#"{"code":500,"msg":"boom"}"#);

        check(&success, Admin, G1, r#"{"code":200,"msg":null,"content":null}"#);
        check(
            &success,
            Admin,
            G1Release320,
            r#"{"code":200,"msg":"Success","content":null,"success":true}"#,
        );
        check(
            &success,
            Admin,
            G2,
            r#"{"code":200,"msg":"Success","data":null,"success":true}"#,
        );
        check(
            &success,
            Admin,
            Peer,
            r#"{"code":200,"msg":"Success","content":null,"data":null,"success":true}"#,
        );
        check(&failure, Admin, G1, r#"{"code":500,"msg":"boom","content":null}"#);
        check(
            &failure,
            Admin,
            G3,
            r#"{"code":500,"msg":"boom","data":null,"success":false}"#,
        );
        check(
            &limited,
            Admin,
            G3,
            r#"{"code":502,"msg":"slow down","data":null,"success":false}"#,
        );
        check(
            &payload,
            Admin,
            G3,
            r#"{"code":200,"msg":"Success","data":"p","success":true}"#,
        );
    }

    #[test]
    fn every_encoding_decodes_back() {
        let envelopes = [
            Envelope::success_with("p".to_owned()),
            Envelope::failure("boom"),
            Envelope::with_code(code::TIMEOUT, "late"),
        ];
        let dialects = [
            Dialect::G1,
            Dialect::G1Release320,
            Dialect::G2,
            Dialect::G3,
            Dialect::Peer,
        ];
        for envelope in &envelopes {
            for side in [Side::Executor, Side::Admin] {
                for dialect in dialects {
                    let decoded: Envelope<String> = decode(&encode(envelope, side, dialect));
                    assert_eq!(decoded.code, envelope.code);
                    assert_eq!(decoded.data, envelope.data);
                    if envelope.msg.is_some() {
                        assert_eq!(decoded.msg, envelope.msg);
                    }
                }
            }
        }
    }
}
