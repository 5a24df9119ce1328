//! The embeddable executor SDK.
