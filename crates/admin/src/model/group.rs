//! Executor groups (`xxl_job_group`): the AppName executors register under, and the address list the
//! trigger routes over.

use chrono::{DateTime, Utc};

use crate::model::{AddressType, JobGroupId};

/// A stored executor group.
#[derive(Clone, PartialEq, Eq)]
pub struct JobGroup {
    /// Group id.
    pub id: JobGroupId,
    /// The AppName; fixed after creation.
    pub app_name: String,
    /// Display name (`name`; `title` in databases older than upstream 3.5).
    pub name: String,
    /// Whether `address_list` follows registrations or was typed.
    pub address_type: AddressType,
    /// Comma-separated executor addresses; `None` when no executor is alive.
    pub address_list: Option<String>,
    /// The token both directions of the executor protocol carry; `None` until one is set.
    pub access_token: Option<String>,
    /// Last write.
    pub update_time: Option<DateTime<Utc>>,
}

/// The fields of a group to create or edit.
#[derive(Clone, PartialEq, Eq)]
pub struct NewJobGroup {
    /// The AppName (ignored by updates, which never change it).
    pub app_name: AppName,
    /// Display name.
    pub name: String,
    /// Address maintenance.
    pub address_type: AddressType,
    /// Addresses as stored (see [`address_tokens`]).
    pub address_list: Option<String>,
    /// The group's access token.
    pub access_token: Option<String>,
}

/// An AppName: 4 to 64 characters, the bounds upstream's group form enforces (the column is
/// VARCHAR(64)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppName(String);

/// An AppName outside the allowed length.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("AppName must be 4 to 64 characters long, got {0}")]
pub struct InvalidAppName(usize);

impl AppName {
    /// Checks the length of an AppName.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidAppName> {
        let name = name.into();
        let length = name.chars().count();
        if (4..=64).contains(&length) {
            Ok(AppName(name))
        } else {
            Err(InvalidAppName(length))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl JobGroup {
    /// The addresses of the group in stored order (see [`address_tokens`]).
    pub fn addresses(&self) -> Vec<&str> {
        address_tokens(self.address_list.as_deref())
    }
}

/// Splits a stored address list on `,`, trims each token and drops empty ones, as the trigger does
/// before routing.
pub fn address_tokens(list: Option<&str>) -> Vec<&str> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .collect()
}

// The access token is a secret; it never appears in debug output.
impl std::fmt::Debug for JobGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobGroup")
            .field("id", &self.id)
            .field("app_name", &self.app_name)
            .field("name", &self.name)
            .field("address_type", &self.address_type)
            .field("address_list", &self.address_list)
            .field("access_token", &self.access_token.as_ref().map(|_| "<redacted>"))
            .field("update_time", &self.update_time)
            .finish()
    }
}

impl std::fmt::Debug for NewJobGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewJobGroup")
            .field("app_name", &self.app_name)
            .field("name", &self.name)
            .field("address_type", &self.address_type)
            .field("address_list", &self.address_list)
            .field("access_token", &self.access_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_tokens_trim_and_drop_empty() {
        fn check(list: Option<&str>, expected: &[&str]) {
            assert_eq!(address_tokens(list), expected, "{list:?}");
        }
        check(None, &[]);
        check(Some(""), &[]);
        check(Some("http://a:1/"), &["http://a:1/"]);
        check(
            Some(" http://a:1/ ,, http://b:2/,"),
            &["http://a:1/", "http://b:2/"],
        );
    }

    #[test]
    fn app_name_length() {
        assert!(AppName::new("abc").is_err());
        assert_eq!(
            AppName::new("abcd").map(|name| name.as_str().to_owned()),
            Ok("abcd".to_owned())
        );
        assert!(AppName::new("a".repeat(64)).is_ok());
        assert_eq!(AppName::new("a".repeat(65)), Err(InvalidAppName(65)));
    }
}
