//! Console users (`xxl_job_user`). The password is stored as a hash string the caller computed; this
//! layer never sees a clear-text password and never prints a hash or session signature.

use std::fmt;

use crate::model::{JobGroupId, UserId, UserRole};

/// A stored user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// The password hash as the caller stored it (upstream rows hold unsalted SHA-256 or, in 2.4.x, MD5
    /// hex; the caller decides how to verify and upgrade them).
    pub password_hash: String,
    /// Signature of the current login session; `None` or empty when logged out.
    pub token: Option<String>,
    /// Role.
    pub role: UserRole,
    /// Groups a normal user may manage (ignored for administrators).
    pub permission: Vec<JobGroupId>,
}

/// The fields of a user to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login name (unique).
    pub username: String,
    /// Password hash computed by the caller.
    pub password_hash: String,
    /// Role.
    pub role: UserRole,
    /// Groups a normal user may manage.
    pub permission: Vec<JobGroupId>,
}

impl User {
    /// Whether the user may manage a group: administrators always, others when it is listed.
    pub fn may_manage(&self, group: JobGroupId) -> bool {
        self.role == UserRole::Admin || self.permission.contains(&group)
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("role", &self.role)
            .field("permission", &self.permission)
            .finish()
    }
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .field("role", &self.role)
            .field("permission", &self.permission)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let user = User {
            id: UserId(1),
            username: "alice".into(),
            password_hash: "secret-hash".into(),
            token: Some("secret-token".into()),
            role: UserRole::Normal,
            permission: vec![JobGroupId(2)],
        };
        let text = format!("{user:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(user.may_manage(JobGroupId(2)));
        assert!(!user.may_manage(JobGroupId(3)));
    }
}
