//! Timestamps in the spellings the API uses: `metav1.Time` (whole seconds) and the kubelet's fixed-width
//! nanosecond log prefix.

use chrono::{DateTime, SecondsFormat, Utc};

/// `metav1.Time`: RFC 3339 in whole seconds, `Z` suffix.
pub(crate) fn seconds(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn now_seconds() -> String {
    seconds(Utc::now())
}

/// The kubelet's log timestamp: always nine fractional digits (`RFC3339NanoFixed`), so prefixes line up.
pub(crate) fn log_prefix(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Parses any RFC 3339 timestamp (the forms clients send in `sinceTime`).
pub(crate) fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn spellings() {
        let at = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap() + chrono::Duration::nanoseconds(120);
        assert_eq!(seconds(at), "2024-05-06T07:08:09Z");
        assert_eq!(log_prefix(at), "2024-05-06T07:08:09.000000120Z");
        assert_eq!(parse("2024-05-06T07:08:09.000000120Z"), Some(at));
        assert_eq!(
            parse("2024-05-06T09:08:09+02:00"),
            Some(Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap())
        );
        assert_eq!(parse("yesterday"), None);
    }
}
