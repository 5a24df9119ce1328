//! Bodies an executor posts to the admin: `/api/registry` and `/api/registryRemove` ([`RegistryRequest`]) and
//! `/api/callback` ([`CallbackBody`] of [`CallbackItem`]s). The admin answers all three with a plain
//! [`crate::Envelope`].
//!
//! The job-management API that shares the admin's `/api/` dispatcher is in [`crate::job_api`].

use std::fmt;
use std::time::Duration;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::java::{from_object, is_blank, null_as_default, wire_struct};
use crate::wire_enum::wire_enum;
use crate::{Dialect, Generation, Lenient, LogId};

/// How often executors send `/api/registry` (upstream `Const.BEAT_TIMEOUT`).
pub const REGISTRY_BEAT_INTERVAL: Duration = Duration::from_secs(30);

/// How long after its last heartbeat an executor counts as gone: three missed beats (upstream
/// `Const.DEAD_TIMEOUT`).
pub const REGISTRY_DEAD_TIMEOUT: Duration = Duration::from_secs(3 * REGISTRY_BEAT_INTERVAL.as_secs());

wire_enum! {
    /// The `registryGroup` of a registration (upstream `RegistType`).
    pub enum RegistryGroup ("registry group") {
        /// An executor announcing its address; the only value executors send.
        Executor = "EXECUTOR",
        /// Declared upstream, never sent.
        Admin = "ADMIN",
    }
}

wire_struct! {
    /// Body of `/api/registry` (heartbeat) and `/api/registryRemove` (shutdown). Identical in every
    /// generation.
    ///
    /// The admin accepts any non-blank group spelling and stores it as received, hence [`Lenient`].
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[serde(rename_all = "camelCase")]
    pub struct RegistryRequest {
        /// Always `EXECUTOR` from executors.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub registry_group: Option<Lenient<RegistryGroup>>,
        /// The executor's AppName.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub registry_key: Option<String>,
        /// The executor's address, e.g. `http://10.0.0.5:9999/`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub registry_value: Option<String>,
    }
}

/// One execution result reported through `/api/callback`.
///
/// The trigger time is spelled `logDateTim` up to G2 and `logDateTime` in G3; decoding accepts either
/// (preferring `logDateTime` when a peer sends both), encoding follows the dialect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallbackItem {
    /// The execution's log row.
    pub log_id: LogId,
    /// Trigger time in epoch milliseconds (the admin does not use it).
    pub log_date_time: i64,
    /// 200 success, 500 failure, 502 timeout; the admin stores any value as sent.
    pub handle_code: i32,
    /// The result message.
    pub handle_msg: Option<String>,
}

/// Body of `/api/callback`: a batch of results, and the shape it travels in.
///
/// Decoding accepts both shapes and records which one arrived; a G3 object whose `callbackList` is missing or
/// `null` decodes as an empty batch (upstream answers it with success and processes nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallbackBody {
    /// The outer shape: bare array (G1/G2) or `{"callbackList":[…]}` (G3).
    pub shape: CallbackShape,
    /// The results, in the order sent.
    pub items: Vec<CallbackItem>,
}

/// The outer shape of a callback body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CallbackShape {
    /// A bare JSON array of items, as G1 and G2 executors send.
    #[default]
    Array,
    /// `{"callbackList":[…]}`, as G3 executors send.
    CallbackList,
}

impl RegistryRequest {
    /// The registration an executor sends: group `EXECUTOR`, its AppName and its address.
    pub fn executor(app_name: impl Into<String>, address: impl Into<String>) -> Self {
        RegistryRequest {
            registry_group: Some(Lenient::Known(RegistryGroup::Executor)),
            registry_key: Some(app_name.into()),
            registry_value: Some(address.into()),
        }
    }

    /// Whether all three fields are non-blank; otherwise the admin answers
    /// [`crate::message::ILLEGAL_ARGUMENT`].
    pub fn is_complete(&self) -> bool {
        !is_blank(self.registry_group.as_ref().map(Lenient::as_str))
            && !is_blank(self.registry_key.as_deref())
            && !is_blank(self.registry_value.as_deref())
    }
}

impl CallbackItem {
    /// A serializable view that writes this item as `dialect` spells it: `logId, logDateTim, handleCode,
    /// handleMsg` up to G2, `logDateTime` in G3, both for a peer. A `None` message is omitted, as Gson does.
    pub fn encode(&self, dialect: Dialect) -> impl Serialize + '_ {
        CallbackItemWire {
            log_id: self.log_id,
            log_date_tim: dialect.writes_log_date_tim().then_some(self.log_date_time),
            log_date_time: dialect.writes_log_date_time().then_some(self.log_date_time),
            handle_code: self.handle_code,
            handle_msg: self.handle_msg.as_deref(),
        }
    }
}

impl CallbackBody {
    /// A batch in the shape `generation` expects.
    pub fn new(generation: Generation, items: Vec<CallbackItem>) -> Self {
        CallbackBody {
            shape: CallbackShape::of(generation),
            items,
        }
    }

    /// A serializable view that writes the body in its [`shape`](Self::shape), each item spelled as
    /// `dialect` says (see [`CallbackItem::encode`]).
    pub fn encode(&self, dialect: Dialect) -> impl Serialize + '_ {
        let items = ItemsWire {
            items: &self.items,
            dialect,
        };
        match self.shape {
            CallbackShape::Array => CallbackBodyWire::Array(items),
            CallbackShape::CallbackList => {
                CallbackBodyWire::CallbackList(CallbackListWire { callback_list: items })
            }
        }
    }
}

impl CallbackShape {
    /// The shape executors of `generation` send.
    pub fn of(generation: Generation) -> Self {
        match generation {
            Generation::G1 | Generation::G2 => CallbackShape::Array,
            Generation::G3 => CallbackShape::CallbackList,
        }
    }

    /// The generations that send this shape: a received shape tells an admin what the executor speaks.
    pub fn generations(self) -> &'static [Generation] {
        match self {
            CallbackShape::Array => &[Generation::G1, Generation::G2],
            CallbackShape::CallbackList => &[Generation::G3],
        }
    }
}

impl<'de> Deserialize<'de> for CallbackItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_object::<_, CallbackItemWire<String>>(deserializer).map(CallbackItem::from)
    }
}

impl<'de> Deserialize<'de> for CallbackBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CallbackBodyVisitor)
    }
}

/// [`CallbackItem`] as it travels; the field order covers both upstream orders.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallbackItemWire<M> {
    #[serde(default, deserialize_with = "null_as_default")]
    log_id: LogId,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_date_tim: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_date_time: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    handle_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    handle_msg: Option<M>,
}

impl From<CallbackItemWire<String>> for CallbackItem {
    fn from(wire: CallbackItemWire<String>) -> Self {
        CallbackItem {
            log_id: wire.log_id,
            log_date_time: wire.log_date_time.or(wire.log_date_tim).unwrap_or_default(),
            handle_code: wire.handle_code,
            handle_msg: wire.handle_msg,
        }
    }
}

/// The G3 wrapper object.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallbackListWire<I> {
    callback_list: I,
}

#[derive(Serialize)]
#[serde(untagged)]
enum CallbackBodyWire<'a> {
    Array(ItemsWire<'a>),
    CallbackList(CallbackListWire<ItemsWire<'a>>),
}

struct ItemsWire<'a> {
    items: &'a [CallbackItem],
    dialect: Dialect,
}

impl Serialize for ItemsWire<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.items.iter().map(|item| item.encode(self.dialect)))
    }
}

struct CallbackBodyVisitor;

impl<'de> Visitor<'de> for CallbackBodyVisitor {
    type Value = CallbackBody;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON array of callback items or an object with `callbackList`")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(CallbackBody {
            shape: CallbackShape::Array,
            items,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let wrapper =
            CallbackListWire::<Option<Vec<CallbackItem>>>::deserialize(MapAccessDeserializer::new(map))?;
        Ok(CallbackBody {
            shape: CallbackShape::CallbackList,
            items: wrapper.callback_list.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode<T: for<'de> Deserialize<'de>>(json: &str) -> T {
        serde_json::from_str(json).unwrap_or_else(|error| panic!("{json}: {error}"))
    }

    fn item(log_id: i64, log_date_time: i64, handle_code: i32, handle_msg: Option<&str>) -> CallbackItem {
        CallbackItem {
            log_id: LogId(log_id),
            log_date_time,
            handle_code,
            handle_msg: handle_msg.map(str::to_owned),
        }
    }

    #[test]
    fn callback_body_accepts_both_shapes_and_spellings() {
        use CallbackShape::*;
        fn check(input: &str, shape: CallbackShape, items: &[CallbackItem]) {
            let expected = CallbackBody {
                shape,
                items: items.to_vec(),
            };
            assert_eq!(decode::<CallbackBody>(input), expected, "{input}");
        }
        let both = [item(1, 10, 200, None), item(2, 20, 502, Some("t"))];
        check("[]", Array, &[]);
        check(
            r#"[{"logId":1,"logDateTim":10,"handleCode":200},{"logId":2,"logDateTime":20,"handleCode":502,"handleMsg":"t"}]"#,
            Array,
            &both,
        );
        check(
            r#"{"callbackList":[{"logId":1,"logDateTime":10,"handleCode":500,"handleMsg":null,"x":1}],"y":true}"#,
            CallbackList,
            &[item(1, 10, 500, None)],
        );
        check(
            r#"{"callbackList":[{"logId":1,"logDateTim":9,"logDateTime":10,"handleCode":200}]}"#,
            CallbackList,
            &[item(1, 10, 200, None)],
        );
        check(r#"{"callbackList":null}"#, CallbackList, &[]);
        check("{}", CallbackList, &[]);
        check(
            r#"[{"logId":null,"logDateTim":null,"handleCode":null,"handleMsg":"a\u003cb"}]"#,
            Array,
            &[item(0, 0, 0, Some("a<b"))],
        );
    }

    #[test]
    fn callback_body_rejects_other_json() {
        for input in [
            r#""""#,
            "1",
            "null",
            r#"{"callbackList":{}}"#,
            r#"[{"logId":"x"}]"#,
            "[[1,2,200]]",
        ] {
            assert!(serde_json::from_str::<CallbackBody>(input).is_err(), "{input}");
        }
    }

    #[test]
    fn callback_encoding_per_dialect() {
        use CallbackShape::*;
        fn check(shape: CallbackShape, dialect: Dialect, expected: &str) {
            let items = vec![item(1, 10, 200, None), item(2, 20, 502, Some("t"))];
            let body = CallbackBody { shape, items };
            let json = serde_json::to_string(&body.encode(dialect)).unwrap();
            assert_eq!(json, expected, "{shape:?} {dialect:?}");
            assert_eq!(decode::<CallbackBody>(&json), body);
        }
        check(
            Array,
            Dialect::G2,
            r#"[{"logId":1,"logDateTim":10,"handleCode":200},{"logId":2,"logDateTim":20,"handleCode":502,"handleMsg":"t"}]"#,
        );
        check(
            CallbackList,
            Dialect::G3,
            r#"{"callbackList":[{"logId":1,"logDateTime":10,"handleCode":200},{"logId":2,"logDateTime":20,"handleCode":502,"handleMsg":"t"}]}"#,
        );
        check(
            Array,
            Dialect::Peer,
            r#"[{"logId":1,"logDateTim":10,"logDateTime":10,"handleCode":200},{"logId":2,"logDateTim":20,"logDateTime":20,"handleCode":502,"handleMsg":"t"}]"#,
        );
    }

    #[test]
    fn shapes_and_generations() {
        for generation in Generation::ALL {
            assert!(CallbackShape::of(generation).generations().contains(&generation));
            assert_eq!(
                CallbackBody::new(generation, vec![]).shape,
                CallbackShape::of(generation)
            );
        }
    }

    #[test]
    fn registry_request_completeness() {
        let complete = RegistryRequest::executor("app", "http://10.0.0.5:9999/");
        assert!(complete.is_complete());
        assert_eq!(
            serde_json::to_string(&complete).unwrap(),
            r#"{"registryGroup":"EXECUTOR","registryKey":"app","registryValue":"http://10.0.0.5:9999/"}"#
        );
        assert!(serde_json::from_str::<RegistryRequest>(r#"["EXECUTOR","a","b"]"#).is_err());
        let odd_group: RegistryRequest =
            decode(r#"{"registryGroup":"WORKER","registryKey":"a","registryValue":"b"}"#);
        assert!(odd_group.is_complete());
        assert_eq!(
            odd_group.registry_group,
            Some(Lenient::Unknown("WORKER".to_owned()))
        );
        for input in [
            r#"{"registryKey":"a","registryValue":"b"}"#,
            r#"{"registryGroup":" ","registryKey":"a","registryValue":"b"}"#,
            r#"{"registryGroup":"EXECUTOR","registryKey":"\t","registryValue":"b"}"#,
            r#"{"registryGroup":"EXECUTOR","registryKey":"a","registryValue":null}"#,
        ] {
            assert!(!decode::<RegistryRequest>(input).is_complete(), "{input}");
        }
    }
}
