//! The first administrator. A database without users gets `admin` with a generated password, handed back
//! once so the caller can show it; no default password exists. Users adopted from upstream that still have
//! upstream's public default password are reported, and [`reset_password`] gives any user a new generated one.

use std::fmt;

use crate::auth::password::{self, HashError};
use crate::model::{NewUser, UserRole};
use crate::store::{Page, Store, StoreError};

/// The login name of the administrator created on first start.
pub const FIRST_ADMIN: &str = "admin";

/// What [`ensure_admin`] found or did.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstStart {
    /// The database had no user: [`FIRST_ADMIN`] was created with this password, which exists nowhere else.
    Created(Credentials),
    /// These users still have upstream's default password; they cannot log in until reset.
    DefaultPasswords(Vec<String>),
    /// Users exist and none has the default password.
    Ready,
}

/// A login name and its clear-text password; `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Login name.
    pub username: String,
    /// The password, to be shown once.
    pub password: String,
}

/// Why a password could not be set.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// No user has this name.
    #[error("no user named `{0}`")]
    NoSuchUser(String),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Users read per page while looking for default passwords.
const PAGE: u32 = 500;

/// Creates the first administrator on an empty user table, or reports users with upstream's default
/// password.
pub async fn ensure_admin(store: &Store) -> Result<FirstStart, ResetError> {
    if store.count_users().await? == 0 {
        let credentials = Credentials {
            username: FIRST_ADMIN.to_owned(),
            password: password::generate(),
        };
        let user = NewUser {
            username: credentials.username.clone(),
            password_hash: password::hash(&credentials.password)?,
            role: UserRole::Admin,
            permission: Vec::new(),
        };
        return match store.insert_user(&user).await {
            Ok(_) => Ok(FirstStart::Created(credentials)),
            // Another admin of the cluster created it at the same moment; its start shows the password.
            Err(StoreError::Duplicate) => Ok(FirstStart::Ready),
            Err(error) => Err(error.into()),
        };
    }
    let mut defaults = Vec::new();
    let mut offset = 0;
    loop {
        let page = store.users_page("", None, Page { offset, limit: PAGE }).await?;
        defaults.extend(
            page.rows
                .iter()
                .filter(|user| password::is_upstream_default(&user.password_hash))
                .map(|user| user.username.clone()),
        );
        offset += PAGE;
        if page.rows.len() < PAGE as usize || i64::from(offset) >= page.total {
            break;
        }
    }
    Ok(if defaults.is_empty() {
        FirstStart::Ready
    } else {
        FirstStart::DefaultPasswords(defaults)
    })
}

/// Gives `username` a new generated password, stores its hash and returns it.
pub async fn reset_password(store: &Store, username: &str) -> Result<Credentials, ResetError> {
    let user = store
        .user_by_name(username)
        .await?
        .ok_or_else(|| ResetError::NoSuchUser(username.to_owned()))?;
    let credentials = Credentials {
        username: user.username,
        password: password::generate(),
    };
    if !store
        .update_password(user.id, &password::hash(&credentials.password)?)
        .await?
    {
        // Deleted between the two statements.
        return Err(ResetError::NoSuchUser(username.to_owned()));
    }
    // The old session may have been opened with the old password.
    store.set_user_token(user.id, None).await?;
    Ok(credentials)
}

impl fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}
