//! Which upstream release family a peer belongs to ([`Generation`]), how outgoing JSON is spelled for it
//! ([`Dialect`]), and which upstream serializer an envelope imitates ([`Side`]).
//!
//! Nothing here reads or writes JSON; the body types take these values when they encode.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::UnknownName;

/// A generation of the admin↔executor protocol.
///
/// | generation | upstream releases | what distinguishes it |
/// |---|---|---|
/// | [`G1`](Self::G1) | 2.4.0 – 3.2.x | envelope payload under `content`; trigger path `/run`; optional global token; bare-array callback body; `logDateTim` in log and callback bodies |
/// | [`G2`](Self::G2) | 3.3.0 – 3.4.2 | as G1, but the envelope payload moved to `data` |
/// | [`G3`](Self::G3) | 3.5.0 (upstream HEAD) | `data`; trigger path `/trigger`; mandatory per-group token plus `XXL-JOB-APPNAME`; `{"callbackList":[…]}`; `logDateTime` |
///
/// Configuration files spell it `g1`, `g2`, `g3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generation {
    /// Upstream 2.4.0 – 3.2.x.
    G1,
    /// Upstream 3.3.0 – 3.4.2.
    G2,
    /// Upstream 3.5.0 (HEAD).
    G3,
}

/// How outgoing JSON is spelled: exactly as one upstream release family writes it, or in the
/// redundant form for a peer whose generation is unknown.
///
/// Decoding never needs a dialect: every decoder in this crate accepts all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// As upstream 2.4.0 – 3.1.x write it: payload under `content`, a success carries no message.
    G1,
    /// As upstream 3.2.0 writes it: the G1 wire, but a success says `"Success"` and admin replies carry
    /// the Jackson `success` property. Only envelopes differ from [`Dialect::G1`].
    G1Release320,
    /// As upstream 3.3.0 – 3.4.2 write it.
    G2,
    /// As upstream HEAD writes it.
    G3,
    /// For a peer of unknown generation (spec §1.1 and §9): envelopes carry the payload under both `content`
    /// and `data`, log and callback bodies carry both `logDateTim` and `logDateTime`, and a success says
    /// `"Success"`. Every upstream parser ignores the spelling it does not know.
    Peer,
}

/// Which upstream serializer an envelope imitates.
///
/// Upstream executors write replies with Gson (null properties omitted); upstream admins write them with
/// Spring's Jackson (null properties present and, from 3.2.0 on, a derived `success` boolean).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Gson, as upstream executors write their replies.
    Executor,
    /// Jackson, as upstream admins write their `/api/*` replies.
    Admin,
}

impl Generation {
    /// Every generation, oldest first.
    pub const ALL: [Generation; 3] = [Generation::G1, Generation::G2, Generation::G3];

    /// The configuration spelling: `g1`, `g2` or `g3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Generation::G1 => "g1",
            Generation::G2 => "g2",
            Generation::G3 => "g3",
        }
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Generation {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Generation::ALL
            .into_iter()
            .find(|generation| generation.as_str() == name)
            .ok_or_else(|| UnknownName::new("protocol generation", name))
    }
}

impl Dialect {
    /// The generation whose conventions this dialect follows, or `None` for [`Dialect::Peer`].
    pub fn generation(self) -> Option<Generation> {
        match self {
            Dialect::G1 | Dialect::G1Release320 => Some(Generation::G1),
            Dialect::G2 => Some(Generation::G2),
            Dialect::G3 => Some(Generation::G3),
            Dialect::Peer => None,
        }
    }

    /// Whether an envelope writes its payload under `content`.
    pub(crate) fn writes_content(self) -> bool {
        matches!(self, Dialect::G1 | Dialect::G1Release320 | Dialect::Peer)
    }

    /// Whether an envelope writes its payload under `data`.
    pub(crate) fn writes_data(self) -> bool {
        matches!(self, Dialect::G2 | Dialect::G3 | Dialect::Peer)
    }

    /// Whether a success without its own message is written as `"Success"` and an admin envelope carries
    /// `success`: both arrived with the 3.2.0 envelope helpers.
    pub(crate) fn has_320_envelope(self) -> bool {
        self != Dialect::G1
    }

    /// Whether log and callback bodies write the pre-G3 `logDateTim`.
    pub(crate) fn writes_log_date_tim(self) -> bool {
        self != Dialect::G3
    }

    /// Whether log and callback bodies write the G3 `logDateTime`.
    pub(crate) fn writes_log_date_time(self) -> bool {
        matches!(self, Dialect::G3 | Dialect::Peer)
    }
}

impl From<Generation> for Dialect {
    /// The exact dialect of a generation; for G1 that is the 2.4.0 – 3.1.x form.
    fn from(generation: Generation) -> Self {
        match generation {
            Generation::G1 => Dialect::G1,
            Generation::G2 => Dialect::G2,
            Generation::G3 => Dialect::G3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_names_round_trip() {
        for generation in Generation::ALL {
            assert_eq!(generation.to_string().parse::<Generation>(), Ok(generation));
        }
        let error = "G4".parse::<Generation>().unwrap_err();
        assert_eq!(error.to_string(), "unknown protocol generation `G4`");
    }

    #[test]
    fn dialect_spellings() {
        // (dialect, content, data, 3.2.0 envelope, logDateTim, logDateTime)
        let table = [
            (Dialect::G1, true, false, false, true, false),
            (Dialect::G1Release320, true, false, true, true, false),
            (Dialect::G2, false, true, true, true, false),
            (Dialect::G3, false, true, true, false, true),
            (Dialect::Peer, true, true, true, true, true),
        ];
        for (dialect, content, data, envelope_320, tim, time) in table {
            assert_eq!(dialect.writes_content(), content, "{dialect:?}");
            assert_eq!(dialect.writes_data(), data, "{dialect:?}");
            assert_eq!(dialect.has_320_envelope(), envelope_320, "{dialect:?}");
            assert_eq!(dialect.writes_log_date_tim(), tim, "{dialect:?}");
            assert_eq!(dialect.writes_log_date_time(), time, "{dialect:?}");
        }
    }

    #[test]
    fn dialect_generation() {
        for generation in Generation::ALL {
            assert_eq!(Dialect::from(generation).generation(), Some(generation));
        }
        assert_eq!(Dialect::G1Release320.generation(), Some(Generation::G1));
        assert_eq!(Dialect::Peer.generation(), None);
    }
}
