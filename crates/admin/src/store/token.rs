//! `xjob_api_token`: API tokens for the job API, stored as hashes with a group scope.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::model::{ApiToken, ApiTokenId, GroupScope, NewApiToken, UserId};
use crate::store::{Param, Result, Store, StoreError, insert_id, on_write_pool, time};

const COLUMNS: &str = "id, name, token_hash, group_scope, created_by, add_time, last_used_time";

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    name: String,
    token_hash: String,
    group_scope: String,
    created_by: Option<i32>,
    add_time: NaiveDateTime,
    last_used_time: Option<NaiveDateTime>,
}

impl Store {
    /// Stores a new token; [`StoreError::Duplicate`] when the hash exists.
    pub async fn insert_api_token(&self, token: &NewApiToken, now: DateTime<Utc>) -> Result<ApiTokenId> {
        let sql = self.dialect.sql(format!(
            "INSERT INTO xjob_api_token (name, token_hash, group_scope, created_by, add_time) VALUES (?, ?, ?, ?, ?){}",
            self.dialect.returning_id()
        ));
        let now = time::to_db(self.zone, now);
        let scope = token.scope.to_stored();
        let id = on_write_pool!(self, |pool| {
            let mut connection = pool.acquire().await?;
            insert_id!(
                self.dialect,
                connection,
                sqlx::query(&sql)
                    .bind(&token.name)
                    .bind(&token.token_hash)
                    .bind(&scope)
                    .bind(token.created_by.map(|user| user.0))
                    .bind(now)
            )
        });
        Ok(ApiTokenId(id))
    }

    /// The token with a hash (the lookup on every API call).
    pub async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        let sql = format!("SELECT {COLUMNS} FROM xjob_api_token WHERE token_hash = ?");
        let row: Option<TokenRow> = self
            .fetch_optional(&sql, &[Param::Text(token_hash.to_owned())])
            .await?;
        row.map(|row| self.token_from_row(row)).transpose()
    }

    /// Every token, by id.
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("SELECT {COLUMNS} FROM xjob_api_token ORDER BY id");
        let rows: Vec<TokenRow> = self.fetch_all(&sql, &[]).await?;
        rows.into_iter().map(|row| self.token_from_row(row)).collect()
    }

    /// Records a successful use.
    pub async fn touch_api_token(&self, id: ApiTokenId, now: DateTime<Utc>) -> Result<()> {
        let sql = self
            .dialect
            .sql("UPDATE xjob_api_token SET last_used_time = ? WHERE id = ?");
        let now = time::to_db(self.zone, now);
        on_write_pool!(self, |pool| {
            sqlx::query(&sql).bind(now).bind(id.0).execute(pool).await?;
        });
        Ok(())
    }

    /// Revokes (deletes) a token; false when it did not exist.
    pub async fn delete_api_token(&self, id: ApiTokenId) -> Result<bool> {
        let deleted = self
            .execute("DELETE FROM xjob_api_token WHERE id = ?", &[Param::BigInt(id.0)])
            .await?;
        Ok(deleted > 0)
    }

    fn token_from_row(&self, row: TokenRow) -> Result<ApiToken> {
        let scope = GroupScope::from_stored(&row.group_scope)
            .ok_or_else(|| StoreError::corrupt("xjob_api_token", "group_scope", row.group_scope.clone()))?;
        Ok(ApiToken {
            id: ApiTokenId(row.id),
            name: row.name,
            token_hash: row.token_hash,
            scope,
            created_by: row.created_by.map(UserId),
            add_time: time::from_db(self.zone, row.add_time),
            last_used_time: time::from_db_opt(self.zone, row.last_used_time),
        })
    }
}
