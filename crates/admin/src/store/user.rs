//! `xxl_job_user`: console users. Password hashes and session signatures are computed by the caller.

use crate::model::{JobGroupId, NewUser, User, UserId, UserRole};
use crate::store::dialect::contains_pattern;
use crate::store::group::narrow_id;
use crate::store::{Page, Paged, Param, Result, Store, StoreError, insert_id, on_write_pool};

const COLUMNS: &str = "id, username, password, token, role, permission";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i32,
    username: String,
    password: String,
    token: Option<String>,
    role: i16,
    permission: Option<String>,
}

impl Store {
    /// Creates a user; [`StoreError::Duplicate`] when the username is taken.
    pub async fn insert_user(&self, user: &NewUser) -> Result<UserId> {
        let sql = self.dialect.sql(format!(
            "INSERT INTO xxl_job_user (username, password, role, permission) VALUES (?, ?, ?, ?){}",
            self.dialect.returning_id()
        ));
        let permission = permission_to_stored(&user.permission);
        let id = on_write_pool!(self, |pool| {
            let mut connection = pool.acquire().await?;
            insert_id!(
                self.dialect,
                connection,
                sqlx::query(&sql)
                    .bind(&user.username)
                    .bind(&user.password_hash)
                    .bind(user.role.code())
                    .bind(&permission)
            )
        });
        narrow_id(id).map(UserId)
    }

    /// The user with a login name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {COLUMNS} FROM xxl_job_user WHERE username = ?");
        let row: Option<UserRow> = self
            .fetch_optional(&sql, &[Param::Text(username.to_owned())])
            .await?;
        row.map(user_from_row).transpose()
    }

    /// One user.
    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        let sql = format!("SELECT {COLUMNS} FROM xxl_job_user WHERE id = ?");
        let row: Option<UserRow> = self.fetch_optional(&sql, &[Param::Int(id.0)]).await?;
        row.map(user_from_row).transpose()
    }

    /// Replaces a user's password hash; false when no such user exists.
    pub async fn update_password(&self, id: UserId, password_hash: &str) -> Result<bool> {
        let updated = self
            .execute(
                "UPDATE xxl_job_user SET password = ? WHERE id = ?",
                &[Param::Text(password_hash.to_owned()), Param::Int(id.0)],
            )
            .await?;
        Ok(updated > 0)
    }

    /// Stores the current session signature (`None` at logout, stored as `''` like upstream).
    pub async fn set_user_token(&self, id: UserId, token: Option<&str>) -> Result<bool> {
        let updated = self
            .execute(
                "UPDATE xxl_job_user SET token = ? WHERE id = ?",
                &[Param::Text(token.unwrap_or("").to_owned()), Param::Int(id.0)],
            )
            .await?;
        Ok(updated > 0)
    }

    /// Changes a user's role and permitted groups; false when no such user exists.
    pub async fn update_user_role(
        &self,
        id: UserId,
        role: UserRole,
        permission: &[JobGroupId],
    ) -> Result<bool> {
        let sql = self
            .dialect
            .sql("UPDATE xxl_job_user SET role = ?, permission = ? WHERE id = ?");
        let permission = permission_to_stored(permission);
        let updated = on_write_pool!(self, |pool| sqlx::query(&sql)
            .bind(role.code())
            .bind(&permission)
            .bind(id.0)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(updated > 0)
    }

    /// Deletes a user; false when it did not exist.
    pub async fn delete_user(&self, id: UserId) -> Result<bool> {
        let deleted = self
            .execute("DELETE FROM xxl_job_user WHERE id = ?", &[Param::Int(id.0)])
            .await?;
        Ok(deleted > 0)
    }

    /// A page of users whose name contains `username` (case-insensitive), optionally of one role,
    /// ordered by username then id.
    pub async fn users_page(
        &self,
        username: &str,
        role: Option<UserRole>,
        page: Page,
    ) -> Result<Paged<User>> {
        let mut from_where = format!(" FROM xxl_job_user WHERE {}", self.dialect.contains("username"));
        let mut params = vec![Param::Text(contains_pattern(username))];
        if let Some(role) = role {
            from_where.push_str(" AND role = ?");
            params.push(Param::SmallInt(role.code()));
        }
        let (rows, total) = self
            .fetch_page::<UserRow>(COLUMNS, &from_where, "username, id", &params, page)
            .await?;
        let rows = rows.into_iter().map(user_from_row).collect::<Result<_>>()?;
        Ok(Paged { rows, total })
    }

    /// Number of users (zero on a fresh database, until the first administrator is created).
    pub async fn count_users(&self) -> Result<i64> {
        self.count("SELECT COUNT(*) FROM xxl_job_user", &[]).await
    }
}

fn user_from_row(row: UserRow) -> Result<User> {
    let role = UserRole::from_code(row.role)
        .ok_or_else(|| StoreError::corrupt("xxl_job_user", "role", row.role.to_string()))?;
    // Upstream stores whatever ids the form sent; tokens that are not ids grant nothing and are dropped.
    let permission = row
        .permission
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter_map(|token| token.trim().parse::<i32>().ok().map(JobGroupId))
        .collect();
    Ok(User {
        id: UserId(row.id),
        username: row.username,
        password_hash: row.password,
        token: row.token,
        role,
        permission,
    })
}

fn permission_to_stored(permission: &[JobGroupId]) -> Option<String> {
    (!permission.is_empty()).then(|| {
        permission
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    })
}
