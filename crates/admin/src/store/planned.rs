//! `xjob_planned_trigger`: triggers planned for a later instant through the job API. Creating, listing
//! and cancelling them is here; the scheduler's claim and hand-back of them belong to its transaction
//! ([`crate::store::StoreTx`]), beside the due-job scan they share the cluster lock with.

use chrono::{DateTime, NaiveDateTime, Utc};
use xjob_protocol::JobId;

use crate::model::{NewPlannedTrigger, PlannedTrigger, PlannedTriggerId, address_tokens};
use crate::store::{Param, Result, Store, insert_id, on_write_pool, time};

pub(crate) const COLUMNS: &str =
    "id, job_id, trigger_time, executor_param, address_list, created_at, created_by";

#[derive(sqlx::FromRow)]
pub(crate) struct PlannedRow {
    id: i64,
    job_id: i32,
    trigger_time: i64,
    executor_param: Option<String>,
    address_list: Option<String>,
    created_at: NaiveDateTime,
    created_by: String,
}

impl Store {
    /// Stores a planned trigger.
    pub async fn insert_planned_trigger(
        &self,
        planned: &NewPlannedTrigger,
        now: DateTime<Utc>,
    ) -> Result<PlannedTriggerId> {
        let sql = self.dialect.sql(format!(
            "INSERT INTO xjob_planned_trigger (job_id, trigger_time, executor_param, address_list, created_at, \
             created_by) VALUES (?, ?, ?, ?, ?, ?){}",
            self.dialect.returning_id()
        ));
        let now = time::to_db(self.zone, now);
        let addresses = stored_addresses(&planned.address_list);
        let id = on_write_pool!(self, |pool| {
            let mut connection = pool.acquire().await?;
            insert_id!(
                self.dialect,
                connection,
                sqlx::query(&sql)
                    .bind(planned.job_id.0)
                    .bind(planned.trigger_time)
                    .bind(planned.executor_param.as_deref())
                    .bind(addresses.as_deref())
                    .bind(now)
                    .bind(&planned.created_by)
            )
        });
        Ok(PlannedTriggerId(id))
    }

    /// The job's planned triggers not yet claimed for firing, earliest first.
    pub async fn planned_triggers(&self, job: JobId) -> Result<Vec<PlannedTrigger>> {
        let sql =
            format!("SELECT {COLUMNS} FROM xjob_planned_trigger WHERE job_id = ? ORDER BY trigger_time, id");
        let rows: Vec<PlannedRow> = self.fetch_all(&sql, &[Param::Int(job.0)]).await?;
        Ok(rows.into_iter().map(|row| self.planned_from_row(row)).collect())
    }

    /// One planned trigger, unless it was claimed for firing or cancelled.
    pub async fn planned_trigger(&self, id: PlannedTriggerId) -> Result<Option<PlannedTrigger>> {
        let sql = format!("SELECT {COLUMNS} FROM xjob_planned_trigger WHERE id = ?");
        let row: Option<PlannedRow> = self.fetch_optional(&sql, &[Param::BigInt(id.0)]).await?;
        Ok(row.map(|row| self.planned_from_row(row)))
    }

    /// Cancels a planned trigger; false when it no longer exists (claimed for firing, or cancelled).
    pub async fn delete_planned_trigger(&self, id: PlannedTriggerId) -> Result<bool> {
        let deleted = self
            .execute(
                "DELETE FROM xjob_planned_trigger WHERE id = ?",
                &[Param::BigInt(id.0)],
            )
            .await?;
        Ok(deleted > 0)
    }

    pub(crate) fn planned_from_row(&self, row: PlannedRow) -> PlannedTrigger {
        PlannedTrigger {
            id: PlannedTriggerId(row.id),
            job_id: JobId(row.job_id),
            trigger_time: row.trigger_time,
            executor_param: row.executor_param,
            address_list: address_tokens(row.address_list.as_deref())
                .into_iter()
                .map(str::to_owned)
                .collect(),
            created_at: time::from_db(self.zone, row.created_at),
            created_by: row.created_by,
        }
    }
}

/// The stored form of an address list: comma-separated, NULL when empty (as `xxl_job_group`).
pub(crate) fn stored_addresses(addresses: &[String]) -> Option<String> {
    (!addresses.is_empty()).then(|| addresses.join(","))
}
