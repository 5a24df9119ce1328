//! The access check both sides apply to incoming requests, as a pure function over the received header
//! values: the G1/G2 global-token rule and the G3 token-plus-AppName rule, each failing with upstream's exact
//! reply text.
//!
//! Where the expected values come from (configuration, the admin's AppName → group cache) is the caller's
//! business. Token comparisons run in constant time for equal lengths.

use std::fmt;

use subtle::ConstantTimeEq;

use crate::Envelope;
use crate::java::is_blank;

/// Header values a request arrived with (`None` when the header was absent or not valid text).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// The `XXL-JOB-ACCESS-TOKEN` header.
    pub access_token: Option<&'a str>,
    /// The `XXL-JOB-APPNAME` header.
    pub app_name: Option<&'a str>,
}

/// What the receiving side expects.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AccessRule<'a> {
    /// G1/G2: one global token. A blank (or absent) configured token disables the check; otherwise the
    /// token header must be present and equal byte for byte.
    GlobalToken(Option<&'a str>),
    /// G3: both headers must be present and non-blank, and equal the group's token and AppName.
    GroupCredentials {
        /// The executor group's access token.
        access_token: &'a str,
        /// The executor group's AppName.
        app_name: &'a str,
    },
}

/// Why a request was refused; [`AuthFailure::message`] is the exact upstream reply text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthFailure {
    /// G1/G2: the token did not match.
    TokenWrong,
    /// G3: a header was absent or blank.
    CredentialsEmpty,
    /// G3: the token or AppName did not match (or the admin knows no such AppName).
    CredentialsInvalid,
}

/// Checks `presented` against `rule`.
///
/// ```
/// use xjob_protocol::{AccessRule, AuthFailure, Credentials, authorize};
///
/// let rule = AccessRule::GroupCredentials { access_token: "t0ken", app_name: "demo" };
/// let presented = Credentials { access_token: Some("t0ken"), app_name: Some("other") };
/// assert_eq!(authorize(rule, presented), Err(AuthFailure::CredentialsInvalid));
/// ```
pub fn authorize(rule: AccessRule<'_>, presented: Credentials<'_>) -> Result<(), AuthFailure> {
    match rule {
        AccessRule::GlobalToken(configured) => {
            let Some(configured) = configured.filter(|token| !is_blank(Some(token))) else {
                return Ok(());
            };
            match presented.access_token {
                Some(token) if constant_time_eq(token, configured) => Ok(()),
                _ => Err(AuthFailure::TokenWrong),
            }
        }
        AccessRule::GroupCredentials {
            access_token,
            app_name,
        } => {
            let (token, presented_app_name) = presented.require()?;
            // Both comparisons always run, so timing does not tell which one failed.
            let token_ok = constant_time_eq(token, access_token);
            let app_name_ok = presented_app_name == app_name;
            if token_ok & app_name_ok {
                Ok(())
            } else {
                Err(AuthFailure::CredentialsInvalid)
            }
        }
    }
}

impl<'a> Credentials<'a> {
    /// The G3 first step: both headers non-blank, returned as `(access_token, app_name)`. The admin uses the
    /// AppName to find the group whose token it then checks with [`authorize`]; an unknown AppName is
    /// [`AuthFailure::CredentialsInvalid`].
    pub fn require(self) -> Result<(&'a str, &'a str), AuthFailure> {
        match (self.access_token, self.app_name) {
            (Some(token), Some(app_name)) if !is_blank(Some(token)) && !is_blank(Some(app_name)) => {
                Ok((token, app_name))
            }
            _ => Err(AuthFailure::CredentialsEmpty),
        }
    }
}

impl AuthFailure {
    /// The exact reply text upstream sends.
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::TokenWrong => "The access token is wrong.",
            AuthFailure::CredentialsEmpty => "invalid request, accessToken or appname is empty.",
            AuthFailure::CredentialsInvalid => "invalid request, accessToken or appname invalid.",
        }
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for AuthFailure {}

impl<T> From<AuthFailure> for Envelope<T> {
    fn from(failure: AuthFailure) -> Self {
        Envelope::failure(failure.message())
    }
}

// Tokens are secrets: Debug shows whether one is there, never its value.
impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_token", &self.access_token.map(|_| "<redacted>"))
            .field("app_name", &self.app_name)
            .finish()
    }
}

impl fmt::Debug for AccessRule<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessRule::GlobalToken(token) => f
                .debug_tuple("GlobalToken")
                .field(&token.map(|_| "<redacted>"))
                .finish(),
            AccessRule::GroupCredentials { app_name, .. } => f
                .debug_struct("GroupCredentials")
                .field("access_token", &"<redacted>")
                .field("app_name", app_name)
                .finish(),
        }
    }
}

/// Equality whose duration does not depend on where two equally long values differ. A length difference
/// returns early; a token's length is not the secret.
fn constant_time_eq(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (configured token or presented token, presented token or AppName, expected result)
    type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<(), AuthFailure>);

    fn credentials<'a>(access_token: Option<&'a str>, app_name: Option<&'a str>) -> Credentials<'a> {
        Credentials {
            access_token,
            app_name,
        }
    }

    #[test]
    fn global_token_rule() {
        use AuthFailure::TokenWrong;
        // (configured, presented, expected)
        let table: &[Case<'_>] = &[
            (None, None, Ok(())),
            (None, Some("anything"), Ok(())),
            (Some(""), None, Ok(())),
            (Some(" \t"), Some("x"), Ok(())),
            (Some("default_token"), Some("default_token"), Ok(())),
            (Some("default_token"), None, Err(TokenWrong)),
            (Some("default_token"), Some(""), Err(TokenWrong)),
            (Some("default_token"), Some("default_token "), Err(TokenWrong)),
            (Some("default_token"), Some("DEFAULT_TOKEN"), Err(TokenWrong)),
            (Some("default_token"), Some("default_tokeN"), Err(TokenWrong)),
            // The configured value is compared as configured, surrounding blanks included.
            (Some(" t "), Some("t"), Err(TokenWrong)),
            (Some(" t "), Some(" t "), Ok(())),
        ];
        for (configured, presented, expected) in table {
            // G1/G2 peers ignore the AppName header entirely.
            for app_name in [None, Some("demo")] {
                let result = authorize(
                    AccessRule::GlobalToken(*configured),
                    credentials(*presented, app_name),
                );
                assert_eq!(result, *expected, "{configured:?} {presented:?}");
            }
        }
    }

    #[test]
    fn group_credentials_rule() {
        use AuthFailure::{CredentialsEmpty, CredentialsInvalid};
        let rule = AccessRule::GroupCredentials {
            access_token: "t0ken",
            app_name: "demo",
        };
        // (token, app name, expected)
        let table: &[Case<'_>] = &[
            (Some("t0ken"), Some("demo"), Ok(())),
            (None, Some("demo"), Err(CredentialsEmpty)),
            (Some("t0ken"), None, Err(CredentialsEmpty)),
            (Some(" "), Some("demo"), Err(CredentialsEmpty)),
            (Some("t0ken"), Some("\n"), Err(CredentialsEmpty)),
            (None, None, Err(CredentialsEmpty)),
            (Some("t0ken"), Some("Demo"), Err(CredentialsInvalid)),
            (Some("T0KEN"), Some("demo"), Err(CredentialsInvalid)),
            (Some("t0ken "), Some("demo"), Err(CredentialsInvalid)),
            (Some("t0ke"), Some("demo"), Err(CredentialsInvalid)),
            (Some("wrong"), Some("other"), Err(CredentialsInvalid)),
        ];
        for (token, app_name, expected) in table {
            assert_eq!(
                authorize(rule, credentials(*token, *app_name)),
                *expected,
                "{token:?} {app_name:?}"
            );
        }
    }

    #[test]
    fn require_returns_both_values() {
        assert_eq!(credentials(Some("t"), Some("a")).require(), Ok(("t", "a")));
        assert_eq!(
            credentials(Some("t"), Some("")).require(),
            Err(AuthFailure::CredentialsEmpty)
        );
    }

    #[test]
    fn failure_replies() {
        // (failure, text)
        let table = [
            (AuthFailure::TokenWrong, "The access token is wrong."),
            (
                AuthFailure::CredentialsEmpty,
                "invalid request, accessToken or appname is empty.",
            ),
            (
                AuthFailure::CredentialsInvalid,
                "invalid request, accessToken or appname invalid.",
            ),
        ];
        for (failure, text) in table {
            assert_eq!(failure.message(), text);
            assert_eq!(failure.to_string(), text);
            assert_eq!(Envelope::<String>::from(failure), Envelope::failure(text));
        }
    }

    #[test]
    fn debug_output_hides_tokens() {
        let shown = format!(
            "{:?} {:?} {:?}",
            credentials(Some("s3cret"), Some("demo")),
            AccessRule::GlobalToken(Some("s3cret")),
            AccessRule::GroupCredentials {
                access_token: "s3cret",
                app_name: "demo"
            }
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("demo"), "{shown}");
    }
}
