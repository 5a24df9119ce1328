//! API tokens (`xjob_api_token`, a table of this product): long-lived credentials for scripts calling the
//! job API, stored only as a hash and limited to some executor groups.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::model::{ApiTokenId, JobGroupId, UserId};

/// A stored API token.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Token id.
    pub id: ApiTokenId,
    /// A label for people.
    pub name: String,
    /// Hash of the token computed by the caller; the token itself is shown once and never stored.
    pub token_hash: String,
    /// The groups whose jobs the token may manage.
    pub scope: GroupScope,
    /// The user who created it, if known.
    pub created_by: Option<UserId>,
    /// Creation time.
    pub add_time: DateTime<Utc>,
    /// Last successful use.
    pub last_used_time: Option<DateTime<Utc>>,
}

/// The fields of a token to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewApiToken {
    /// A label for people.
    pub name: String,
    /// Hash of the token computed by the caller (unique).
    pub token_hash: String,
    /// The groups it may manage.
    pub scope: GroupScope,
    /// The creating user.
    pub created_by: Option<UserId>,
}

/// Which executor groups a token may act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupScope {
    /// Every group, present and future (stored as `*`).
    All,
    /// Exactly these groups (stored as a comma-separated id list; never empty).
    Groups(BTreeSet<JobGroupId>),
}

impl GroupScope {
    /// Whether a group is in scope.
    pub fn allows(&self, group: JobGroupId) -> bool {
        match self {
            GroupScope::All => true,
            GroupScope::Groups(groups) => groups.contains(&group),
        }
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        match self {
            GroupScope::All => "*".to_owned(),
            GroupScope::Groups(groups) => groups
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// Parses the stored form; `None` when it is neither `*` nor a non-empty list of ids.
    pub fn from_stored(stored: &str) -> Option<Self> {
        if stored.trim() == "*" {
            return Some(GroupScope::All);
        }
        let groups = stored
            .split(',')
            .map(|token| token.trim().parse::<i32>().ok().map(JobGroupId))
            .collect::<Option<BTreeSet<_>>>()?;
        (!groups.is_empty()).then_some(GroupScope::Groups(groups))
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("token_hash", &"<redacted>")
            .field("scope", &self.scope)
            .field("created_by", &self.created_by)
            .field("add_time", &self.add_time)
            .field("last_used_time", &self.last_used_time)
            .finish()
    }
}

impl fmt::Debug for NewApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiToken")
            .field("name", &self.name)
            .field("token_hash", &"<redacted>")
            .field("scope", &self.scope)
            .field("created_by", &self.created_by)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_stored_form() {
        fn check(stored: &str, expected: Option<GroupScope>) {
            assert_eq!(GroupScope::from_stored(stored), expected, "{stored:?}");
        }
        let groups = |ids: &[i32]| GroupScope::Groups(ids.iter().copied().map(JobGroupId).collect());
        check("*", Some(GroupScope::All));
        check("3,1", Some(groups(&[1, 3])));
        check("", None);
        check("1,x", None);
        assert_eq!(groups(&[3, 1]).to_stored(), "1,3");
        assert!(groups(&[3]).allows(JobGroupId(3)));
        assert!(!groups(&[3]).allows(JobGroupId(1)));
    }
}
