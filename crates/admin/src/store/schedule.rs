//! The scheduler's transaction: the cluster lock (`xxl_job_lock`), the due-job scan and the batched
//! next-time writes, the claim of due planned triggers and their hand-back, all on one connection
//! inside one transaction.

use sqlx::{MySql, Postgres, Sqlite, Transaction};
use xjob_protocol::JobId;

use crate::model::{Job, PlannedTrigger, TriggerStatus};
use crate::store::gate::{Turn, Urgency};
use crate::store::job::{COLUMNS, JobRow, placeholders};
use crate::store::planned::{self, PlannedRow, stored_addresses};
use crate::store::{Result, Store, StoreError, time};

/// The cluster lock row upstream seeds and every admin locks.
const SCHEDULE_LOCK: &str = "schedule_lock";

/// At most this many jobs go into one multi-row UPDATE (upstream's `xxl.job.schedule.batchsize`
/// default); three CASE lists per job keep statements well under every engine's parameter limit.
pub const UPDATE_BATCH: usize = 100;

/// A transaction of the scheduler. Dropping it without [`StoreTx::commit`] rolls back (and releases the
/// lock).
pub struct StoreTx<'s> {
    store: &'s Store,
    transaction: Tx,
    /// SQLite: this transaction's turn on the writer connection, held until it ends.
    _turn: Turn,
}

/// The new schedule of one job after a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleUpdate {
    /// The job.
    pub id: JobId,
    /// New `trigger_last_time` (epoch ms).
    pub last_time: i64,
    /// New `trigger_next_time` (epoch ms).
    pub next_time: i64,
    /// New status: `Running` keeps the job scheduled, `Stopped` disables it (no future fire time).
    pub status: TriggerStatus,
}

/// Claimed fires given back unfired (a scheduler shutting down): the job's schedule rewinds to its
/// earliest unfired time so whichever admin scans next fires it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleRewind {
    /// The job.
    pub id: JobId,
    /// The `trigger_next_time` the claiming scan stored; the rewind applies only while the row still
    /// holds it (an edit, a stop or another admin's scan since then wins).
    pub claimed_next: i64,
    /// The earliest unfired time, the new `trigger_next_time`.
    pub next_time: i64,
    /// The last time fired before it, the new `trigger_last_time`.
    pub last_time: i64,
}

enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    MySql(Transaction<'static, MySql>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$connection` bound to the transaction's connection of whichever engine.
macro_rules! on_tx {
    ($tx:expr, |$connection:ident| $body:expr) => {
        match &mut $tx.transaction {
            Tx::Sqlite(transaction) => {
                let $connection = &mut **transaction;
                $body
            }
            Tx::MySql(transaction) => {
                let $connection = &mut **transaction;
                $body
            }
            Tx::Postgres(transaction) => {
                let $connection = &mut **transaction;
                $body
            }
        }
    };
}

impl Store {
    /// Begins a transaction without the cluster lock.
    ///
    /// On SQLite a transaction that reads before it writes can fail with "database is locked" when
    /// another connection wrote in between; scans that go on to write should use
    /// [`Store::lock_schedule`], whose first statement is a write.
    pub async fn begin(&self) -> Result<StoreTx<'_>> {
        let (transaction, turn) = match &self.pool {
            super::Pool::Sqlite { writer, gate, .. } => {
                let turn = gate.enter(Urgency::Normal).await;
                (Tx::Sqlite(writer.begin().await?), turn)
            }
            super::Pool::MySql(pool) => (Tx::MySql(pool.begin().await?), None),
            super::Pool::Postgres(pool) => (Tx::Postgres(pool.begin().await?), None),
        };
        Ok(StoreTx {
            store: self,
            transaction,
            _turn: turn,
        })
    }

    /// Begins a transaction holding the cluster lock: every other admin on the database waits in this
    /// call until the returned transaction commits or is dropped.
    pub async fn lock_schedule(&self) -> Result<StoreTx<'_>> {
        let mut tx = self.begin().await?;
        let sql = self.dialect.sql(self.dialect.lock_statement());
        let row = on_tx!(tx, |connection| sqlx::query(&sql)
            .bind(SCHEDULE_LOCK)
            .fetch_optional(connection)
            .await?
            .is_some());
        if !row {
            return Err(StoreError::LockRowMissing);
        }
        Ok(tx)
    }

    /// Applies schedule updates in their own transaction (see [`StoreTx::update_schedules`]).
    pub async fn update_schedules(&self, updates: &[ScheduleUpdate]) -> Result<u64> {
        let mut tx = self.begin().await?;
        let updated = tx.update_schedules(updates).await?;
        tx.commit().await?;
        Ok(updated)
    }
}

impl StoreTx<'_> {
    /// Running jobs with `trigger_next_time <= max_next_time`, by id, at most `limit`.
    pub async fn due_jobs(&mut self, max_next_time: i64, limit: u32) -> Result<Vec<Job>> {
        let sql = self.store.dialect.sql(format!(
            "SELECT {COLUMNS} FROM xxl_job_info WHERE trigger_status = 1 AND trigger_next_time <= ? ORDER BY id LIMIT ?"
        ));
        let rows: Vec<JobRow> = on_tx!(self, |connection| sqlx::query_as(&sql)
            .bind(max_next_time)
            .bind(i64::from(limit))
            .fetch_all(connection)
            .await?);
        rows.into_iter().map(|row| self.store.job_from_row(row)).collect()
    }

    /// Writes new fire times and statuses, [`UPDATE_BATCH`] jobs per statement. Only rows still running
    /// are touched, so a job stopped from the console during the scan stays stopped. Returns the number
    /// of rows written.
    pub async fn update_schedules(&mut self, updates: &[ScheduleUpdate]) -> Result<u64> {
        let mut written = 0;
        for chunk in updates.chunks(UPDATE_BATCH) {
            let cases = vec!["WHEN ? THEN ?"; chunk.len()].join(" ");
            let sql = self.store.dialect.sql(format!(
                "UPDATE xxl_job_info SET trigger_last_time = CASE id {cases} ELSE trigger_last_time END, \
                 trigger_next_time = CASE id {cases} ELSE trigger_next_time END, \
                 trigger_status = CASE id {cases} ELSE trigger_status END \
                 WHERE id IN ({}) AND trigger_status = 1",
                placeholders(chunk.len())
            ));
            written += on_tx!(self, |connection| {
                let mut query = sqlx::query(&sql);
                for update in chunk {
                    query = query.bind(update.id.0).bind(update.last_time);
                }
                for update in chunk {
                    query = query.bind(update.id.0).bind(update.next_time);
                }
                for update in chunk {
                    query = query.bind(update.id.0).bind(update.status.code());
                }
                for update in chunk {
                    query = query.bind(update.id.0);
                }
                query.execute(connection).await?.rows_affected()
            });
        }
        Ok(written)
    }

    /// Rewinds the schedules of jobs whose claimed fires were not handed out, [`UPDATE_BATCH`] jobs per
    /// statement, each only while the job is running and still holds its `claimed_next`. Returns the
    /// ids whose row now holds the requested next time: their fires belong to the database again.
    pub async fn rewind_schedules(&mut self, rewinds: &[ScheduleRewind]) -> Result<Vec<JobId>> {
        let mut rewound = Vec::with_capacity(rewinds.len());
        for chunk in rewinds.chunks(UPDATE_BATCH) {
            let cases = vec!["WHEN ? THEN ?"; chunk.len()].join(" ");
            let guards = vec!["(id = ? AND trigger_next_time = ?)"; chunk.len()].join(" OR ");
            let update = self.store.dialect.sql(format!(
                "UPDATE xxl_job_info SET trigger_last_time = CASE id {cases} ELSE trigger_last_time END, \
                 trigger_next_time = CASE id {cases} ELSE trigger_next_time END \
                 WHERE trigger_status = 1 AND ({guards})"
            ));
            let check = self.store.dialect.sql(format!(
                "SELECT id, trigger_next_time FROM xxl_job_info WHERE trigger_status = 1 AND id IN ({})",
                placeholders(chunk.len())
            ));
            let rows: Vec<(i32, i64)> = on_tx!(self, |connection| {
                let mut query = sqlx::query(&update);
                for rewind in chunk {
                    query = query.bind(rewind.id.0).bind(rewind.last_time);
                }
                for rewind in chunk {
                    query = query.bind(rewind.id.0).bind(rewind.next_time);
                }
                for rewind in chunk {
                    query = query.bind(rewind.id.0).bind(rewind.claimed_next);
                }
                query.execute(&mut *connection).await?;
                let mut query = sqlx::query_as(&check);
                for rewind in chunk {
                    query = query.bind(rewind.id.0);
                }
                query.fetch_all(&mut *connection).await?
            });
            rewound.extend(chunk.iter().filter_map(|rewind| {
                rows.iter()
                    .any(|(id, next_time)| *id == rewind.id.0 && *next_time == rewind.next_time)
                    .then_some(rewind.id)
            }));
        }
        Ok(rewound)
    }

    /// Claims the planned triggers due by `max_trigger_time`, earliest first, at most `limit`: they are
    /// read and deleted, so once this transaction commits no other pass of any admin sees them again.
    pub async fn claim_planned_triggers(
        &mut self,
        max_trigger_time: i64,
        limit: u32,
    ) -> Result<Vec<PlannedTrigger>> {
        let select = self.store.dialect.sql(format!(
            "SELECT {} FROM xjob_planned_trigger WHERE trigger_time <= ? ORDER BY trigger_time, id LIMIT ?",
            planned::COLUMNS
        ));
        let rows: Vec<PlannedRow> = on_tx!(self, |connection| sqlx::query_as(&select)
            .bind(max_trigger_time)
            .bind(i64::from(limit))
            .fetch_all(connection)
            .await?);
        let claimed: Vec<PlannedTrigger> = rows
            .into_iter()
            .map(|row| self.store.planned_from_row(row))
            .collect();
        for chunk in claimed.chunks(UPDATE_BATCH) {
            let delete = self.store.dialect.sql(format!(
                "DELETE FROM xjob_planned_trigger WHERE id IN ({})",
                placeholders(chunk.len())
            ));
            on_tx!(self, |connection| {
                let mut query = sqlx::query(&delete);
                for planned in chunk {
                    query = query.bind(planned.id.0);
                }
                query.execute(connection).await?;
            });
        }
        Ok(claimed)
    }

    /// Puts claimed planned triggers back unfired (a scheduler shutting down), with their ids, so any
    /// admin's next pass claims them again and a caller can still cancel them by id.
    pub async fn restore_planned_triggers(&mut self, triggers: &[PlannedTrigger]) -> Result<()> {
        let insert = self.store.dialect.sql(
            "INSERT INTO xjob_planned_trigger (id, job_id, trigger_time, executor_param, address_list, \
             created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
        );
        let zone = self.store.zone;
        for planned in triggers {
            let addresses = stored_addresses(&planned.address_list);
            on_tx!(self, |connection| {
                sqlx::query(&insert)
                    .bind(planned.id.0)
                    .bind(planned.job_id.0)
                    .bind(planned.trigger_time)
                    .bind(planned.executor_param.as_deref())
                    .bind(addresses.as_deref())
                    .bind(time::to_db(zone, planned.created_at))
                    .bind(&planned.created_by)
                    .execute(connection)
                    .await?;
            });
        }
        Ok(())
    }

    /// Commits (and releases the lock).
    pub async fn commit(self) -> Result<()> {
        match self.transaction {
            Tx::Sqlite(transaction) => transaction.commit().await?,
            Tx::MySql(transaction) => transaction.commit().await?,
            Tx::Postgres(transaction) => transaction.commit().await?,
        }
        Ok(())
    }
}
