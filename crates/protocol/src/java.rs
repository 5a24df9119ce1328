//! Java semantics upstream peers rely on and this crate reproduces: `String.trim()`/`isBlank`, how string
//! concatenation prints `null`, and two Gson habits: a primitive field stays at its default when the JSON
//! value is `null` or missing, and a class is read only from a JSON object.
//!
//! Private: callers see the effects through the body types, the token check and the address helpers.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Java's `String.trim()`: strips every char up to U+0020 from both ends (control characters included,
/// Unicode spaces such as U+00A0 not).
pub(crate) fn trim(text: &str) -> &str {
    text.trim_matches(|c: char| c <= ' ')
}

/// Upstream's `StringTool.isBlank`: absent, or nothing left after Java's `trim()`.
pub(crate) fn is_blank(text: Option<&str>) -> bool {
    text.is_none_or(|text| trim(text).is_empty())
}

/// How Java's string concatenation prints a possibly-null `String`: `null` becomes the text `null`, which
/// upstream replies such as `job handler [null] not found.` show.
pub(crate) fn concat_text(text: Option<&str>) -> &str {
    text.unwrap_or("null")
}

/// Reads a primitive the way Gson fills a Java `int`/`long`/`boolean` field: `null` leaves the default.
/// Combine with `#[serde(default)]` so a missing field does the same.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// Reads `T` from a JSON object only. Serde's derived struct decoding also accepts an array, matched to the
/// fields by position; no upstream peer sends that, and Gson rejects it.
pub(crate) fn from_object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_map(ObjectVisitor(PhantomData))
}

/// Declares a wire body: the public struct with its documentation and derives, plus `Serialize` and an
/// object-only `Deserialize` (see [`from_object`]) generated from the same field list.
///
/// The `#[serde(...)]` attributes go on a private template struct that serde's `remote` derive turns into
/// functions for the public type; deriving on the public struct itself would either accept arrays or, with
/// `remote = "Self"`, add public `serialize`/`deserialize` methods to it. Within each field, doc comments
/// come before `#[serde(...)]` attributes.
macro_rules! wire_struct {
    (
        $(#[doc = $doc:literal])*
        #[derive($($derive:path),* $(,)?)]
        $(#[serde($($container:tt)*)])?
        pub struct $name:ident {
            $(
                $(#[doc = $field_doc:literal])*
                $(#[serde($($field_serde:tt)*)])*
                pub $field:ident: $ty:ty,
            )*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive($($derive),*)]
        pub struct $name {
            $(
                $(#[doc = $field_doc])*
                pub $field: $ty,
            )*
        }

        const _: () = {
            type Remote = $name;

            // Never built: only the template from which serde derives the functions below.
            #[allow(dead_code)]
            #[derive(::serde::Serialize, ::serde::Deserialize)]
            #[serde(remote = "Remote")]
            $(#[serde($($container)*)])?
            struct Template {
                $(
                    $(#[serde($($field_serde)*)])*
                    $field: $ty,
                )*
            }

            impl ::serde::Serialize for $name {
                fn serialize<S: ::serde::Serializer>(
                    &self,
                    serializer: S,
                ) -> ::std::result::Result<S::Ok, S::Error> {
                    Template::serialize(self, serializer)
                }
            }

            /// The derived decoding, which would also take an array; reached only through `from_object`.
            struct Derived($name);

            impl<'de> ::serde::Deserialize<'de> for Derived {
                fn deserialize<D: ::serde::Deserializer<'de>>(
                    deserializer: D,
                ) -> ::std::result::Result<Self, D::Error> {
                    Template::deserialize(deserializer).map(Derived)
                }
            }

            impl<'de> ::serde::Deserialize<'de> for $name {
                fn deserialize<D: ::serde::Deserializer<'de>>(
                    deserializer: D,
                ) -> ::std::result::Result<Self, D::Error> {
                    $crate::java::from_object::<_, Derived>(deserializer).map(|derived| derived.0)
                }
            }
        };
    };
}

pub(crate) use wire_struct;

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_trim_and_blank() {
        // (input, trimmed, blank)
        let table = [
            ("", "", true),
            ("   ", "", true),
            ("\t\r\n\u{1}", "", true),
            (" a b ", "a b", false),
            ("\u{a0}", "\u{a0}", false),
            ("\u{3000}x", "\u{3000}x", false),
        ];
        for (input, trimmed, blank) in table {
            assert_eq!(trim(input), trimmed, "{input:?}");
            assert_eq!(is_blank(Some(input)), blank, "{input:?}");
        }
        assert!(is_blank(None));
    }

    #[test]
    fn java_concatenation_of_null() {
        assert_eq!(concat_text(None), "null");
        assert_eq!(concat_text(Some("")), "");
    }
}
