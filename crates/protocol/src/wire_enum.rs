//! Upstream string enums: the [`WireEnum`] trait, the macro that declares each enum with its upstream
//! spellings (every literal once), and [`Lenient`], which keeps a spelling this crate does not know.
//!
//! The enums themselves live next to their domain ([`crate::GlueType`], [`crate::BlockStrategy`],
//! [`crate::RegistryGroup`]).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An enum whose values travel as upstream's Java enum constant names (`GLUE_SHELL`, `DISCARD_LATER`, …).
///
/// Strict serde decoding of the enum itself rejects unknown names; wrap it in [`Lenient`] where upstream
/// tolerates them.
pub trait WireEnum: Copy + Eq + 'static {
    /// Every value, in upstream declaration order.
    const ALL: &'static [Self];

    /// The upstream spelling.
    fn wire_name(self) -> &'static str;

    /// The value with exactly this spelling (case-sensitive, as upstream's `match(name)` helpers are).
    fn from_wire_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|value| value.wire_name() == name)
    }
}

/// A value of a [`WireEnum`] as it arrived: either known, or the unknown spelling kept verbatim.
///
/// Upstream stores these fields as plain strings and only interprets them late, so an unknown value must
/// not fail the whole body: an unknown glue type becomes the executor's `glueType[<x>] is not valid.` reply,
/// an unknown block strategy behaves like serial execution. Encoding writes the original spelling back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Lenient<T> {
    /// A spelling this crate knows.
    Known(T),
    /// Any other string, exactly as received.
    Unknown(String),
}

/// A name that matches no value of a [`WireEnum`] or of [`crate::Generation`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`")]
pub struct UnknownName {
    kind: &'static str,
    name: String,
}

impl<T: WireEnum> Lenient<T> {
    /// Classifies a received spelling.
    pub fn parse(name: &str) -> Self {
        T::from_wire_name(name).map_or_else(|| Lenient::Unknown(name.to_owned()), Lenient::Known)
    }

    /// The known value, if any.
    pub fn known(&self) -> Option<T> {
        match self {
            Lenient::Known(value) => Some(*value),
            Lenient::Unknown(_) => None,
        }
    }

    /// The spelling, as it travels.
    pub fn as_str(&self) -> &str {
        match self {
            Lenient::Known(value) => value.wire_name(),
            Lenient::Unknown(name) => name,
        }
    }
}

impl<T> From<T> for Lenient<T> {
    fn from(value: T) -> Self {
        Lenient::Known(value)
    }
}

impl<T: WireEnum> fmt::Display for Lenient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<T: WireEnum> Serialize for Lenient<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de, T: WireEnum> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(T::from_wire_name(&name).map_or(Lenient::Unknown(name), Lenient::Known))
    }
}

impl UnknownName {
    pub(crate) fn new(kind: &'static str, name: &str) -> Self {
        UnknownName {
            kind,
            name: name.to_owned(),
        }
    }

    /// The name that was not recognised.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Declares a [`WireEnum`] with its upstream spellings and derives `Display`, `FromStr`, `Serialize` and a
/// strict `Deserialize` from them, so each spelling is written exactly once.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($kind:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $crate::WireEnum for $name {
            const ALL: &'static [Self] = &[$( $name::$variant, )+];

            fn wire_name(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::WireEnum::wire_name(*self))
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownName;

            fn from_str(name: &str) -> ::std::result::Result<Self, Self::Err> {
                <$name as $crate::WireEnum>::from_wire_name(name)
                    .ok_or_else(|| $crate::UnknownName::new($kind, name))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str($crate::WireEnum::wire_name(*self))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let name = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(deserializer)?;
                name.parse().map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}

pub(crate) use wire_enum;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockStrategy, GlueType, RegistryGroup};

    fn check_names<T: WireEnum + fmt::Debug + fmt::Display>(expected: &[&str]) {
        let names: Vec<&str> = T::ALL.iter().map(|value| value.wire_name()).collect();
        assert_eq!(names, expected);
        for value in T::ALL {
            assert_eq!(T::from_wire_name(&value.to_string()), Some(*value));
            assert_eq!(Lenient::<T>::parse(value.wire_name()), Lenient::Known(*value));
        }
    }

    #[test]
    fn upstream_spellings() {
        check_names::<GlueType>(&[
            "BEAN",
            "GLUE_GROOVY",
            "GLUE_SHELL",
            "GLUE_PYTHON",
            "GLUE_PYTHON2",
            "GLUE_NODEJS",
            "GLUE_POWERSHELL",
            "GLUE_PHP",
        ]);
        check_names::<BlockStrategy>(&["SERIAL_EXECUTION", "DISCARD_LATER", "COVER_EARLY"]);
        check_names::<RegistryGroup>(&["EXECUTOR", "ADMIN"]);
    }

    #[test]
    fn lenient_keeps_unknown_spellings() {
        // Matching is exact and case-sensitive, as upstream's `match(name)`.
        for raw in ["GLUE_RUBY", "bean", " BEAN", "", "CONCURRENT_EXECUTION"] {
            let lenient = Lenient::<GlueType>::parse(raw);
            assert_eq!(lenient, Lenient::Unknown(raw.to_owned()));
            assert_eq!(lenient.as_str(), raw);
            assert_eq!(lenient.known(), None);
        }
    }

    #[test]
    fn strict_decoding_names_the_bad_value() {
        let error = "GLUE_RUBY".parse::<GlueType>().unwrap_err();
        assert_eq!(error.to_string(), "unknown glue type `GLUE_RUBY`");
        assert_eq!(error.name(), "GLUE_RUBY");
    }
}
