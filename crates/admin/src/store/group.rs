//! `xxl_job_group`: executor groups and their address lists.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::model::{AddressType, JobGroup, JobGroupId, NewJobGroup};
use crate::store::dialect::contains_pattern;
use crate::store::job::placeholders;
use crate::store::{Page, Paged, Param, Result, Store, StoreError, insert_id, on_write_pool, time};

const COLUMNS: &str =
    "id, app_name, {group_name} AS name, address_type, address_list, access_token, update_time";

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: i32,
    app_name: String,
    name: String,
    address_type: i16,
    address_list: Option<String>,
    access_token: Option<String>,
    update_time: Option<NaiveDateTime>,
}

impl Store {
    /// Creates a group; [`StoreError::Duplicate`] when the AppName exists and the database enforces it.
    pub async fn insert_group(&self, group: &NewJobGroup, now: DateTime<Utc>) -> Result<JobGroupId> {
        let sql = self.dialect.sql(format!(
            "INSERT INTO xxl_job_group (app_name, {{group_name}}, address_type, address_list, access_token, update_time) \
             VALUES (?, ?, ?, ?, ?, ?){}",
            self.dialect.returning_id()
        ));
        let now = time::to_db(self.zone, now);
        let id = on_write_pool!(self, |pool| {
            let mut connection = pool.acquire().await?;
            insert_id!(
                self.dialect,
                connection,
                sqlx::query(&sql)
                    .bind(group.app_name.as_str())
                    .bind(&group.name)
                    .bind(group.address_type.code())
                    .bind(&group.address_list)
                    .bind(&group.access_token)
                    .bind(now)
            )
        });
        narrow_id(id).map(JobGroupId)
    }

    /// Rewrites a group's name, address type, address list and token (never its AppName); false when
    /// no such group exists.
    pub async fn update_group(
        &self,
        id: JobGroupId,
        group: &NewJobGroup,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = self.dialect.sql(
            "UPDATE xxl_job_group SET {group_name} = ?, address_type = ?, address_list = ?, access_token = ?, \
             update_time = ? WHERE id = ?",
        );
        let now = time::to_db(self.zone, now);
        let result = on_write_pool!(self, |pool| sqlx::query(&sql)
            .bind(&group.name)
            .bind(group.address_type.code())
            .bind(&group.address_list)
            .bind(&group.access_token)
            .bind(now)
            .bind(id.0)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(result > 0)
    }

    /// Writes the address list the registry monitor computed (`None` when no executor is alive).
    pub async fn set_group_addresses(
        &self,
        id: JobGroupId,
        addresses: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let sql = self
            .dialect
            .sql("UPDATE xxl_job_group SET address_list = ?, update_time = ? WHERE id = ?");
        let now = time::to_db(self.zone, now);
        on_write_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(addresses)
                .bind(now)
                .bind(id.0)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Deletes a group and the `EXECUTOR` registrations of its AppName; false when it did not exist.
    /// Whether deletion is allowed (jobs use it, last group) is the caller's decision.
    pub async fn delete_group(&self, id: JobGroupId) -> Result<bool> {
        let Some(group) = self.group(id).await? else {
            return Ok(false);
        };
        let delete_group = self.dialect.sql("DELETE FROM xxl_job_group WHERE id = ?");
        let delete_registry = self
            .dialect
            .sql("DELETE FROM xxl_job_registry WHERE registry_group = ? AND registry_key = ?");
        on_write_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            sqlx::query(&delete_group)
                .bind(id.0)
                .execute(&mut *transaction)
                .await?;
            sqlx::query(&delete_registry)
                .bind("EXECUTOR")
                .bind(&group.app_name)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
        });
        Ok(true)
    }

    /// One group.
    pub async fn group(&self, id: JobGroupId) -> Result<Option<JobGroup>> {
        let sql = format!("SELECT {COLUMNS} FROM xxl_job_group WHERE id = ?");
        let row: Option<GroupRow> = self.fetch_optional(&sql, &[Param::Int(id.0)]).await?;
        row.map(|row| self.group_from_row(row)).transpose()
    }

    /// The groups among `ids` that exist, by id: one query for a batch of triggers.
    pub async fn groups_by_ids(&self, ids: &[JobGroupId]) -> Result<Vec<JobGroup>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM xxl_job_group WHERE id IN ({}) ORDER BY id",
            placeholders(ids.len())
        );
        let params: Vec<Param> = ids.iter().map(|id| Param::Int(id.0)).collect();
        let rows: Vec<GroupRow> = self.fetch_all(&sql, &params).await?;
        rows.into_iter().map(|row| self.group_from_row(row)).collect()
    }

    /// The group with an AppName (the lowest id if an upstream 2.4.x database holds duplicates).
    pub async fn group_by_app_name(&self, app_name: &str) -> Result<Option<JobGroup>> {
        let sql = format!("SELECT {COLUMNS} FROM xxl_job_group WHERE app_name = ? ORDER BY id LIMIT 1");
        let row: Option<GroupRow> = self
            .fetch_optional(&sql, &[Param::Text(app_name.to_owned())])
            .await?;
        row.map(|row| self.group_from_row(row)).transpose()
    }

    /// Every group, ordered by AppName, name and id as upstream lists them.
    pub async fn groups(&self) -> Result<Vec<JobGroup>> {
        let sql = format!("SELECT {COLUMNS} FROM xxl_job_group ORDER BY app_name, {{group_name}}, id");
        let rows: Vec<GroupRow> = self.fetch_all(&sql, &[]).await?;
        rows.into_iter().map(|row| self.group_from_row(row)).collect()
    }

    /// Groups of one address type, by id.
    pub async fn groups_by_address_type(&self, address_type: AddressType) -> Result<Vec<JobGroup>> {
        let sql = format!("SELECT {COLUMNS} FROM xxl_job_group WHERE address_type = ? ORDER BY id");
        let rows: Vec<GroupRow> = self
            .fetch_all(&sql, &[Param::SmallInt(address_type.code())])
            .await?;
        rows.into_iter().map(|row| self.group_from_row(row)).collect()
    }

    /// A page of groups whose AppName and name contain the given texts (case-insensitive; empty
    /// matches all), ordered as [`Store::groups`].
    pub async fn groups_page(&self, app_name: &str, name: &str, page: Page) -> Result<Paged<JobGroup>> {
        let from_where = format!(
            " FROM xxl_job_group WHERE {} AND {}",
            self.dialect.contains("app_name"),
            self.dialect.contains("{group_name}")
        );
        let params = [
            Param::Text(contains_pattern(app_name)),
            Param::Text(contains_pattern(name)),
        ];
        let (rows, total) = self
            .fetch_page::<GroupRow>(COLUMNS, &from_where, "app_name, {group_name}, id", &params, page)
            .await?;
        let rows = rows
            .into_iter()
            .map(|row| self.group_from_row(row))
            .collect::<Result<_>>()?;
        Ok(Paged { rows, total })
    }

    /// Number of groups (upstream keeps at least one).
    pub async fn count_groups(&self) -> Result<i64> {
        self.count("SELECT COUNT(*) FROM xxl_job_group", &[]).await
    }

    fn group_from_row(&self, row: GroupRow) -> Result<JobGroup> {
        let address_type = AddressType::from_code(row.address_type).ok_or_else(|| {
            StoreError::corrupt("xxl_job_group", "address_type", row.address_type.to_string())
        })?;
        Ok(JobGroup {
            id: JobGroupId(row.id),
            app_name: row.app_name,
            name: row.name,
            address_type,
            address_list: row.address_list,
            access_token: row.access_token,
            update_time: time::from_db_opt(self.zone, row.update_time),
        })
    }
}

/// Narrows a generated id of an INT column.
pub(crate) fn narrow_id(id: i64) -> Result<i32> {
    i32::try_from(id)
        .map_err(|_| StoreError::corrupt("(insert)", "id", format!("generated id {id} exceeds INT")))
}
