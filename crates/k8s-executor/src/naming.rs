//! Kubernetes name rules: DNS-1123 labels and subdomains, label values, and the deterministic object name
//! `<base>-<logId>` that makes creation idempotent per execution.
//!
//! Nothing here knows about manifests; the callers decide which name or value goes where.

/// Longest DNS-1123 label, label value and (by this executor's choice) object name.
const MAX_LABEL: usize = 63;

/// Longest DNS-1123 subdomain.
const MAX_SUBDOMAIN: usize = 253;

/// The object name for one execution: `<base>-<logId>`, lower-cased, characters outside `[a-z0-9-]` replaced
/// by `-`, at most 63 characters, neither starting nor ending with `-`. An empty result of cleaning `base`
/// falls back to `fallback` (which is cleaned the same way).
///
/// The log id is never truncated: it is what keeps two executions apart, so only the base is shortened.
pub fn object_name(base: &str, fallback: &str, log_id: i64) -> String {
    let suffix = format!("-{log_id}");
    let budget = MAX_LABEL.saturating_sub(suffix.len());
    let mut stem = clean_name(base, budget);
    if stem.is_empty() {
        stem = clean_name(fallback, budget);
    }
    if stem.is_empty() {
        // A log id alone could start with `-` when negative; a fixed stem keeps the name valid.
        stem = "xxl-job".to_owned();
    }
    stem + &suffix
}

/// A valid Kubernetes label value for `text`: returned unchanged when it already is one, otherwise invalid
/// characters become `-`, the result is shortened, and a short hash of the original is appended so that two
/// different inputs never share a value.
pub fn label_value(text: &str) -> String {
    if is_label_value(text) {
        return text.to_owned();
    }
    let hash = format!("{:08x}", fnv1a(text.as_bytes()) as u32);
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let budget = MAX_LABEL - hash.len() - 1;
    let mut stem: String = cleaned.chars().take(budget).collect();
    while stem.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        stem.pop();
    }
    let stem = stem.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    if stem.is_empty() {
        hash
    } else {
        format!("{stem}-{hash}")
    }
}

/// Whether `text` is a valid label value: empty, or up to 63 of `[A-Za-z0-9._-]` with alphanumerics at both
/// ends.
pub(crate) fn is_label_value(text: &str) -> bool {
    text.is_empty()
        || (text.len() <= MAX_LABEL
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && text.starts_with(|c: char| c.is_ascii_alphanumeric())
            && text.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Whether `text` is a DNS-1123 label (namespace names, container names).
pub(crate) fn is_dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_LABEL
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// Whether `text` is a DNS-1123 subdomain (service account names, label prefixes).
pub(crate) fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= MAX_SUBDOMAIN && text.split('.').all(is_dns_label)
}

fn clean_name(text: &str, budget: usize) -> String {
    let lowered: String = text
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = lowered.trim_start_matches('-');
    let mut stem: String = trimmed.chars().take(budget).collect();
    while stem.ends_with('-') {
        stem.pop();
    }
    stem
}

/// FNV-1a (64 bit): small, and stable across Rust releases, unlike the standard library's hasher, so label
/// values stay the same after an upgrade and the janitor still recognises its objects.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_name(base: &str, log_id: i64, expected: &str) {
        let name = object_name(base, "xxl-job-7", log_id);
        assert_eq!(name, expected, "{base:?}");
        assert!(is_dns_label(&name), "{name:?} is not a DNS label");
    }

    #[test]
    fn object_names() {
        check_name("nightly-report", 42, "nightly-report-42");
        check_name("Nightly_Report.v2", 42, "nightly-report-v2-42");
        check_name("-leading-and-trailing-", 1, "leading-and-trailing-1");
        check_name("", 9, "xxl-job-7-9");
        check_name("___", 9, "xxl-job-7-9");
        check_name("ünïcode", 3, "n-code-3");
        check_name(
            &"a".repeat(80),
            123456789,
            &format!("{}-123456789", "a".repeat(53)),
        );
        check_name(
            &format!("{}-b", "a".repeat(53)),
            123456789,
            &format!("{}-123456789", "a".repeat(53)),
        );
        check_name(
            &"a".repeat(80),
            i64::MAX,
            &format!("{}-{}", "a".repeat(43), i64::MAX),
        );
        check_name("x", -5, "x--5");
    }

    #[test]
    fn label_values() {
        let check = |input: &str, expected: &str| {
            let value = label_value(input);
            assert_eq!(value, expected, "{input:?}");
            assert!(is_label_value(&value), "{value:?} is not a label value");
        };
        check("xxl-job-executor-kubernetes", "xxl-job-executor-kubernetes");
        check("My.App_1", "My.App_1");
        check("", "");
        check("my app", "my-app-23dfc298");
        check("my:app", "my-app-c680abce");
        check("-edge-", "edge-e93c8620");
        check("#", "86018332");
        check(&"x".repeat(70), &format!("{}-9147a8dd", "x".repeat(54)));
        assert_ne!(label_value("a b"), label_value("a:b"));
    }

    #[test]
    fn dns_rules() {
        for (text, label, subdomain) in [
            ("default", true, true),
            ("a.b", false, true),
            ("A", false, false),
            ("-a", false, false),
            ("", false, false),
            ("xxl-job", true, true),
        ] {
            assert_eq!(
                (is_dns_label(text), is_dns_subdomain(text)),
                (label, subdomain),
                "{text:?}"
            );
        }
    }
}
