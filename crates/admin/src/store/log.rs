//! `xxl_job_log`: trigger logs — batch creation, trigger and result updates, the console's pages and
//! clearing, retention, the lost-result and fail-alarm queries, and the counts behind the daily report.

use chrono::{DateTime, NaiveDateTime, Utc};
use xjob_protocol::{JobId, LogId};

use crate::model::{
    AlarmStatus, ClearType, JobGroupId, JobLog, LogCounts, LogHandle, LogStatus, LogTrigger, NewJobLog,
};
use crate::store::dialect::Engine;
use crate::store::gate::Urgency;
use crate::store::job::placeholders;
use crate::store::{
    Page, Paged, Param, Result, Store, StoreError, atomically, bind_params, insert_id, on_pool,
    on_write_pool, time,
};

/// Binds a trigger step's result (`$trigger`, a [`LogTrigger`]) in the column order of
/// [`UPDATE_LOG_TRIGGER`] and of the joined update's `VALUES` rows after the id.
macro_rules! bind_trigger {
    ($query:expr, $trigger:expr) => {{
        let trigger: &LogTrigger = $trigger;
        $query
            .bind(&trigger.executor_address)
            .bind(&trigger.executor_handler)
            .bind(&trigger.executor_param)
            .bind(&trigger.executor_sharding_param)
            .bind(trigger.executor_fail_retry_count)
            .bind(trigger.code)
            .bind(&trigger.msg)
    }};
}

/// Writes the trigger step's result into one log row ([`Store::update_log_trigger`]).
const UPDATE_LOG_TRIGGER: &str = "UPDATE xxl_job_log SET executor_address = ?, executor_handler = ?, \
     executor_param = ?, executor_sharding_param = ?, executor_fail_retry_count = ?, trigger_code = ?, \
     trigger_msg = ? WHERE id = ?";

const COLUMNS: &str = "id, job_group, job_id, executor_address, executor_handler, executor_param, \
     executor_sharding_param, executor_fail_retry_count, trigger_time, trigger_code, trigger_msg, handle_time, \
     handle_code, handle_msg, alarm_status";

/// Rows per multi-row INSERT (three parameters each, far below every engine's parameter limit).
const INSERT_BATCH: usize = 1000;

/// The longest `handle_msg` stored, in characters: upstream cuts results to 15 000 characters.
pub const HANDLE_MSG_MAX_CHARS: usize = 15_000;

/// Results per UPDATE of [`Store::complete_logs`] (eleven parameters each, well below every engine's
/// limit).
const COMPLETE_BATCH: usize = 500;

/// Rows per batched UPDATE of trigger results (joined: eight parameters a row; MySQL's `CASE` form:
/// fifteen) and of results on SQLite and PostgreSQL (four), well below every engine's limit.
const JOINED_UPDATE_BATCH: usize = 256;

/// Ids per `IN (…)` list when reading many logs at once.
const READ_BATCH: usize = 1000;

/// Rows deleted per statement when clearing, as upstream (keeps each transaction and lock short).
const DELETE_BATCH: usize = 1000;

/// The console's log list filters; `None` means no filter. The time range is inclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only this group.
    pub job_group: Option<JobGroupId>,
    /// Only this job.
    pub job_id: Option<JobId>,
    /// Triggered at or after.
    pub trigger_from: Option<DateTime<Utc>>,
    /// Triggered at or before.
    pub trigger_to: Option<DateTime<Utc>>,
    /// Status filter.
    pub status: LogStatus,
}

#[derive(sqlx::FromRow)]
struct LogRow {
    id: i64,
    job_group: i32,
    job_id: i32,
    executor_address: Option<String>,
    executor_handler: Option<String>,
    executor_param: Option<String>,
    executor_sharding_param: Option<String>,
    executor_fail_retry_count: i32,
    trigger_time: Option<NaiveDateTime>,
    trigger_code: i32,
    trigger_msg: Option<String>,
    handle_time: Option<NaiveDateTime>,
    handle_code: i32,
    handle_msg: Option<String>,
    alarm_status: i16,
}

impl Store {
    /// Creates one "in progress" log row (trigger and handle code 0).
    pub async fn insert_log(&self, log: &NewJobLog) -> Result<LogId> {
        let ids = self.insert_logs(std::slice::from_ref(log)).await?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::corrupt("xxl_job_log", "id", "insert returned no id"))
    }

    /// Creates many "in progress" log rows in one transaction, in multi-row INSERTs of a few fixed sizes
    /// (see [`statement_size`]) so that each statement stays prepared; the ids come back in the order of
    /// `logs`.
    ///
    /// Ids are read back per engine: PostgreSQL and SQLite return them (sorted, since one INSERT assigns
    /// ids in VALUES order); MySQL reports the first id of a statement, and the rest follow it when
    /// InnoDB allocates consecutive ids — otherwise each row gets its own INSERT in one transaction.
    pub async fn insert_logs(&self, logs: &[NewJobLog]) -> Result<Vec<LogId>> {
        let per_statement = if self.dialect.consecutive_ids {
            INSERT_BATCH
        } else {
            1
        };
        let mut chunks = Vec::new();
        let mut rest = logs;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(statement_size(rest.len(), per_statement));
            chunks.push(chunk);
            rest = tail;
        }
        let ids = on_write_pool!(self, |pool| {
            atomically(pool, chunks.len(), async |connection| {
                let mut ids = Vec::with_capacity(logs.len());
                for chunk in &chunks {
                    let sql = self.dialect.sql(format!(
                        "INSERT INTO xxl_job_log (job_group, job_id, trigger_time, trigger_code, handle_code) VALUES {}{}",
                        vec!["(?, ?, ?, 0, 0)"; chunk.len()].join(", "),
                        self.dialect.returning_id()
                    ));
                    let mut query = sqlx::query(&sql);
                    for log in *chunk {
                        query = query
                            .bind(log.job_group.0)
                            .bind(log.job_id.0)
                            .bind(time::to_db(self.zone, log.trigger_time));
                    }
                    if self.dialect.last_insert_id().is_some() {
                        let first = insert_id!(self.dialect, connection, query);
                        ids.extend((0..chunk.len()).map(|offset| LogId(first + offset as i64)));
                    } else {
                        let mut returned: Vec<i64> = Vec::with_capacity(chunk.len());
                        for row in query.fetch_all(&mut *connection).await? {
                            returned.push(sqlx::Row::try_get(&row, 0)?);
                        }
                        returned.sort_unstable();
                        ids.extend(returned.into_iter().map(LogId));
                    }
                }
                Ok(ids)
            })
            .await?
        });
        Ok(ids)
    }

    /// Writes the trigger step's result.
    pub async fn update_log_trigger(&self, id: LogId, trigger: &LogTrigger) -> Result<bool> {
        let sql = self.dialect.sql(UPDATE_LOG_TRIGGER);
        let updated = on_write_pool!(self, |pool| bind_trigger!(sqlx::query(&sql), trigger)
            .bind(id.0)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(updated > 0)
    }

    /// Writes the trigger step's result of many logs in one transaction; returns how many rows existed.
    /// One commit and one statement for up to [`JOINED_UPDATE_BATCH`] rows is what makes thousands of
    /// triggers a second affordable (a statement per row also kept a batch's rows locked for as many
    /// round trips as it had rows on MySQL and PostgreSQL, and the results of those rows waited). Each
    /// statement is padded to one of a few lengths (see [`padded`]; a row listed twice is updated once,
    /// with the same values) so that it stays prepared, and the usual batch is one statement, run without
    /// BEGIN and COMMIT (see [`atomically`]).
    ///
    /// On SQLite and PostgreSQL the statement joins a `VALUES` list to the table by primary key
    /// (`UPDATE … FROM`); on MySQL, whose UPDATE cannot join a `VALUES` list portably across MySQL and
    /// MariaDB, it chooses each column's value by id (`CASE id WHEN … THEN … END`).
    pub async fn update_log_triggers(&self, updates: &[(LogId, LogTrigger)]) -> Result<u64> {
        if updates.is_empty() {
            return Ok(0);
        }
        let by_case = self.dialect.engine == Engine::MySql;
        let statements = updates.len().div_ceil(JOINED_UPDATE_BATCH);
        let updated = on_write_pool!(self, |pool| {
            atomically(pool, statements, async |connection| {
                let mut updated = 0;
                for chunk in updates.chunks(JOINED_UPDATE_BATCH) {
                    let chunk = padded(chunk, JOINED_UPDATE_BATCH);
                    let sql = self.dialect.sql(trigger_update_sql(by_case, chunk.len()));
                    let mut query = sqlx::query(&sql);
                    if by_case {
                        for column in 0..7 {
                            for (id, trigger) in &chunk {
                                query = query.bind(id.0);
                                query = match column {
                                    0 => query.bind(&trigger.executor_address),
                                    1 => query.bind(&trigger.executor_handler),
                                    2 => query.bind(&trigger.executor_param),
                                    3 => query.bind(&trigger.executor_sharding_param),
                                    4 => query.bind(trigger.executor_fail_retry_count),
                                    5 => query.bind(trigger.code),
                                    _ => query.bind(&trigger.msg),
                                };
                            }
                        }
                        for (id, _) in &chunk {
                            query = query.bind(id.0);
                        }
                    } else {
                        for (id, trigger) in chunk {
                            query = bind_trigger!(query.bind(id.0), trigger);
                        }
                    }
                    updated += query.execute(&mut *connection).await?.rows_affected();
                }
                Ok(updated)
            })
            .await?
        });
        Ok(updated)
    }

    /// Records an execution result unless one was already recorded (`handle_code` still 0), so a
    /// repeated callback, or a callback after a kill, changes nothing. True when this call wrote it.
    pub async fn complete_log(&self, id: LogId, handle: &LogHandle) -> Result<bool> {
        let sql = self.dialect.sql(
            "UPDATE xxl_job_log SET handle_time = ?, handle_code = ?, handle_msg = ? WHERE id = ? AND handle_code = 0",
        );
        let handle_time = handle.time.map(|at| time::to_db(self.zone, at));
        let updated = on_write_pool!(self, |pool| sqlx::query(&sql)
            .bind(handle_time)
            .bind(handle.code)
            .bind(&handle.msg)
            .bind(id.0)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(updated > 0)
    }

    /// Records many execution results in one transaction, each under [`Store::complete_log`]'s rule: only a
    /// log still without result (`handle_code` 0) is written, so a repeated result changes nothing. A
    /// message already in the row stays in front of the new one, separated by `<br>`, as upstream keeps
    /// it; messages are cut to [`HANDLE_MSG_MAX_CHARS`]. Returns the ids this call wrote, in input order.
    ///
    /// On SQLite and PostgreSQL joined UPDATEs (`UPDATE … FROM (VALUES …)`); on MySQL one UPDATE per 500
    /// results, its row count rounded up to one of a few sizes so the server keeps a handful of prepared
    /// statements instead of one per batch size.
    pub async fn complete_logs(&self, results: &[(LogId, LogHandle)]) -> Result<Vec<LogId>> {
        if results.is_empty() {
            return Ok(Vec::new());
        }
        if self.dialect.engine != Engine::MySql {
            return self.complete_logs_joined(results).await;
        }
        let mut written = std::collections::HashSet::with_capacity(results.len());
        on_write_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            for chunk in results.chunks(COMPLETE_BATCH) {
                let chunk = padded(chunk, COMPLETE_BATCH);
                let ids = placeholders(chunk.len());
                let pick = vec!["WHEN ? THEN ?"; chunk.len()].join(" ");
                let update = self.dialect.sql(format!(
                    "UPDATE xxl_job_log SET handle_time = CASE id {pick} END, handle_code = CASE id {pick} END, {} \
                     WHERE handle_code = 0 AND id IN ({ids})",
                    self.dialect
                        .append_handle_msg(&format!("CASE id {pick} END"), HANDLE_MSG_MAX_CHARS),
                ));
                let msgs: Vec<Option<&str>> = chunk
                    .iter()
                    .map(|(_, handle)| {
                        handle
                            .msg
                            .as_deref()
                            .map(|msg| truncate_chars(msg, HANDLE_MSG_MAX_CHARS))
                    })
                    .collect();
                let mut query = sqlx::query(&update);
                for (id, handle) in &chunk {
                    query = query
                        .bind(id.0)
                        .bind(handle.time.map(|at| time::to_db(self.zone, at)));
                }
                for (id, handle) in &chunk {
                    query = query.bind(id.0).bind(handle.code);
                }
                // The new message appears twice: for rows without a message and for appending.
                for _ in 0..2 {
                    for ((id, _), msg) in chunk.iter().zip(&msgs) {
                        query = query.bind(id.0).bind(*msg);
                    }
                }
                for (id, _) in &chunk {
                    query = query.bind(id.0);
                }
                // No RETURNING on MySQL's UPDATE: lock and read the rows still without result, then
                // update exactly those inside the same transaction.
                let select = self.dialect.sql(format!(
                    "SELECT id FROM xxl_job_log WHERE handle_code = 0 AND id IN ({ids}) FOR UPDATE"
                ));
                let mut locked = sqlx::query_scalar::<_, i64>(&select);
                for (id, _) in &chunk {
                    locked = locked.bind(id.0);
                }
                written.extend(locked.fetch_all(&mut *transaction).await?);
                query.execute(&mut *transaction).await?;
            }
            transaction.commit().await?;
        });
        let mut ordered = Vec::with_capacity(written.len());
        for (id, _) in results {
            if written.remove(&id.0) {
                ordered.push(*id);
            }
        }
        Ok(ordered)
    }

    /// [`Store::complete_logs`] on SQLite and PostgreSQL: statements of up to [`JOINED_UPDATE_BATCH`]
    /// results, each
    /// joining a `VALUES` list to the table by primary key and returning the ids it wrote, padded like
    /// [`Store::update_log_triggers`]' (a row listed twice is updated once), so a batch costs one hand-off
    /// to the connection's worker thread per statement instead of one per result, and the usual batch is
    /// one statement without BEGIN and COMMIT. A log listed twice keeps its first result, as the `CASE`
    /// statement of the other engines does.
    async fn complete_logs_joined(&self, results: &[(LogId, LogHandle)]) -> Result<Vec<LogId>> {
        let mut seen = std::collections::HashSet::with_capacity(results.len());
        let unique: Vec<&(LogId, LogHandle)> = results.iter().filter(|(id, _)| seen.insert(id.0)).collect();
        let statements = unique.len().div_ceil(JOINED_UPDATE_BATCH);
        let written = on_write_pool!(self, Urgency::Urgent, |pool| {
            atomically(pool, statements, async |connection| {
                let mut written = std::collections::HashSet::with_capacity(unique.len());
                for chunk in unique.chunks(JOINED_UPDATE_BATCH) {
                    let chunk = padded(chunk, JOINED_UPDATE_BATCH);
                    let sql = self.dialect.sql(format!(
                        "UPDATE xxl_job_log SET handle_time = v.column2, handle_code = v.column3, {} \
                         FROM (VALUES {}) AS v WHERE xxl_job_log.id = v.column1 AND xxl_job_log.handle_code = 0 \
                         RETURNING CAST(xxl_job_log.id AS BIGINT)",
                        self.dialect.append_handle_msg("v.column4", HANDLE_MSG_MAX_CHARS),
                        vec!["(?, ?, ?, ?)"; chunk.len()].join(", ")
                    ));
                    let mut query = sqlx::query_scalar::<_, i64>(&sql);
                    for (id, handle) in chunk {
                        query = query
                            .bind(id.0)
                            .bind(handle.time.map(|at| time::to_db(self.zone, at)))
                            .bind(handle.code)
                            .bind(
                                handle
                                    .msg
                                    .as_deref()
                                    .map(|msg| truncate_chars(msg, HANDLE_MSG_MAX_CHARS)),
                            );
                    }
                    written.extend(query.fetch_all(&mut *connection).await?);
                }
                Ok(written)
            })
            .await?
        });
        Ok(unique
            .into_iter()
            .map(|(id, _)| *id)
            .filter(|id| written.contains(&id.0))
            .collect())
    }

    /// The job of each listed log that has no result yet (`handle_code` 0); unknown and finished logs are
    /// left out. By id.
    pub async fn running_log_jobs(&self, ids: &[LogId]) -> Result<Vec<(LogId, JobId)>> {
        self.log_jobs_where(
            ids,
            "SELECT id, job_id FROM xxl_job_log WHERE handle_code = 0 AND id IN",
        )
        .await
    }

    /// Like [`Store::running_log_jobs`], only the logs whose job has a child list (`child_jobid` not
    /// empty): what recording successes must read to fire child jobs, which is usually nothing.
    pub async fn running_logs_with_child_jobs(&self, ids: &[LogId]) -> Result<Vec<(LogId, JobId)>> {
        self.log_jobs_where(
            ids,
            "SELECT l.id, l.job_id FROM xxl_job_log l JOIN xxl_job_info j ON j.id = l.job_id \
             WHERE l.handle_code = 0 AND j.child_jobid IS NOT NULL AND j.child_jobid <> '' AND l.id IN",
        )
        .await
    }

    /// Runs `select` (ending in `IN`, yielding log id and job id) over `ids` in lists of up to 1000,
    /// padded to a few fixed lengths so each length is prepared once; sorted by log id, each log once.
    async fn log_jobs_where(&self, ids: &[LogId], select: &str) -> Result<Vec<(LogId, JobId)>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(READ_BATCH) {
            let chunk = padded(chunk, READ_BATCH);
            let sql = self
                .dialect
                .sql(format!("{select} ({})", placeholders(chunk.len())));
            let rows: Vec<(i64, i32)> = on_pool!(self, |pool| {
                let mut query = sqlx::query_as(&sql);
                for id in &chunk {
                    query = query.bind(id.0);
                }
                query.fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(|(id, job)| (LogId(id), JobId(job))));
        }
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    /// Moves `alarm_status` from `from` to `to` if it still is `from`; true when this call won.
    pub async fn claim_alarm(&self, id: LogId, from: AlarmStatus, to: AlarmStatus) -> Result<bool> {
        let updated = self
            .execute(
                "UPDATE xxl_job_log SET alarm_status = ? WHERE id = ? AND alarm_status = ?",
                &[
                    Param::SmallInt(to.code()),
                    Param::BigInt(id.0),
                    Param::SmallInt(from.code()),
                ],
            )
            .await?;
        Ok(updated > 0)
    }

    /// One log.
    pub async fn log(&self, id: LogId) -> Result<Option<JobLog>> {
        let sql = format!("SELECT {COLUMNS} FROM xxl_job_log WHERE id = ?");
        let row: Option<LogRow> = self.fetch_optional(&sql, &[Param::BigInt(id.0)]).await?;
        row.map(|row| self.log_from_row(row)).transpose()
    }

    /// A page of logs matching `filter`, newest (highest id) first.
    pub async fn logs_page(&self, filter: &LogFilter, page: Page) -> Result<Paged<JobLog>> {
        let (conditions, params) = self.log_conditions(filter);
        let from_where = format!(" FROM xxl_job_log WHERE {conditions}");
        let (rows, total) = self
            .fetch_page::<LogRow>(COLUMNS, &from_where, "id DESC", &params, page)
            .await?;
        let rows = rows
            .into_iter()
            .map(|row| self.log_from_row(row))
            .collect::<Result<_>>()?;
        Ok(Paged { rows, total })
    }

    /// The console's "clear log" for a group and/or job (`None` = all), in batches of 1000; returns the
    /// number of rows deleted. `KeepNewest` orders by trigger time, ties by id; rows without a trigger
    /// time are never counted nor deleted by it.
    pub async fn clear_logs(
        &self,
        job_group: Option<JobGroupId>,
        job_id: Option<JobId>,
        clear: ClearType,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let filter = LogFilter {
            job_group,
            job_id,
            ..LogFilter::default()
        };
        let (mut conditions, mut binds) = self.log_conditions(&filter);
        match clear {
            ClearType::All => {}
            ClearType::OlderThanMonths(_) => {
                let Some(cutoff) = clear.cutoff(now) else {
                    return Ok(0);
                };
                conditions.push_str(" AND trigger_time <= ?");
                binds.push(Param::Time(time::to_db(self.zone, cutoff)));
            }
            ClearType::KeepNewest(keep) => {
                let boundary_sql = self.dialect.sql(format!(
                    "SELECT trigger_time, id FROM xxl_job_log WHERE {conditions} AND trigger_time IS NOT NULL \
                     ORDER BY trigger_time DESC, id DESC LIMIT 1 OFFSET ?"
                ));
                let boundary: Option<(NaiveDateTime, i64)> = on_pool!(self, |pool| {
                    bind_params!(sqlx::query_as(&boundary_sql), &binds)
                        .bind(i64::from(keep.saturating_sub(1)))
                        .fetch_optional(pool)
                        .await?
                });
                // Fewer rows than the number to keep: nothing to delete.
                let Some((boundary_time, boundary_id)) = boundary else {
                    return Ok(0);
                };
                conditions.push_str(" AND (trigger_time < ? OR (trigger_time = ? AND id < ?))");
                binds.extend([Param::Time(boundary_time), Param::Time(boundary_time)]);
                return self
                    .delete_logs_where(&conditions, &binds, Some(boundary_id))
                    .await;
            }
        }
        self.delete_logs_where(&conditions, &binds, None).await
    }

    /// Retention: deletes every log triggered at or before `cutoff`, in batches of 1000.
    pub async fn delete_logs_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let binds = [Param::Time(time::to_db(self.zone, cutoff))];
        self.delete_logs_where("trigger_time <= ?", &binds, None).await
    }

    /// Logs triggered successfully at or before `triggered_before` that have no result yet and whose
    /// executor address has no registration: results that will never arrive. By id.
    pub async fn lost_log_ids(&self, triggered_before: DateTime<Utc>) -> Result<Vec<LogId>> {
        let sql = self.dialect.sql(
            "SELECT l.id FROM xxl_job_log l WHERE l.trigger_code = 200 AND l.handle_code = 0 AND l.trigger_time <= ? \
             AND NOT EXISTS (SELECT 1 FROM xxl_job_registry r WHERE r.registry_value = l.executor_address) ORDER BY l.id",
        );
        let cutoff = time::to_db(self.zone, triggered_before);
        let ids: Vec<i64> = on_pool!(self, |pool| sqlx::query_scalar(&sql)
            .bind(cutoff)
            .fetch_all(pool)
            .await?);
        Ok(ids.into_iter().map(LogId).collect())
    }

    /// Up to `limit` failed logs not yet examined by the fail monitor (`alarm_status = 0`), by id.
    pub async fn failed_log_ids(&self, limit: u32) -> Result<Vec<LogId>> {
        let sql = self.dialect.sql(
            "SELECT id FROM xxl_job_log WHERE alarm_status = 0 \
             AND NOT ((trigger_code IN (0, 200) AND handle_code = 0) OR handle_code = 200) ORDER BY id LIMIT ?",
        );
        let ids: Vec<i64> = on_pool!(self, |pool| sqlx::query_scalar(&sql)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        Ok(ids.into_iter().map(LogId).collect())
    }

    /// Like [`Store::failed_log_ids`], from id `first` on: lets the fail monitor page past logs that are
    /// still waiting for their retry interval.
    pub async fn failed_log_ids_from(&self, first: LogId, limit: u32) -> Result<Vec<LogId>> {
        let sql = self.dialect.sql(
            "SELECT id FROM xxl_job_log WHERE alarm_status = 0 AND id >= ? \
             AND NOT ((trigger_code IN (0, 200) AND handle_code = 0) OR handle_code = 200) ORDER BY id LIMIT ?",
        );
        let ids: Vec<i64> = on_pool!(self, |pool| sqlx::query_scalar(&sql)
            .bind(first.0)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        Ok(ids.into_iter().map(LogId).collect())
    }

    /// Running, successful and failed counts of the logs triggered in `[from, until)`.
    pub async fn log_counts(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<LogCounts> {
        self.log_counts_stored(time::to_db(self.zone, from), time::to_db(self.zone, until))
            .await
    }

    pub(crate) async fn log_counts_stored(
        &self,
        from: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<LogCounts> {
        let sql = self.dialect.sql(
            "SELECT COUNT(*), COUNT(CASE WHEN trigger_code IN (0, 200) AND handle_code = 0 THEN 1 END), \
             COUNT(CASE WHEN handle_code = 200 THEN 1 END) FROM xxl_job_log WHERE trigger_time >= ? AND trigger_time < ?",
        );
        let (total, running, success): (i64, i64, i64) = on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(from)
            .bind(until)
            .fetch_one(pool)
            .await?);
        Ok(LogCounts {
            running,
            success,
            failed: total - running - success,
        })
    }

    /// `job_group`/`job_id`/time/status conditions (always non-empty) and their binds in order.
    fn log_conditions(&self, filter: &LogFilter) -> (String, Vec<Param>) {
        let mut conditions = vec!["1 = 1"];
        let mut binds = Vec::new();
        if let Some(group) = filter.job_group {
            conditions.push("job_group = ?");
            binds.push(Param::Int(group.0));
        }
        if let Some(job) = filter.job_id {
            conditions.push("job_id = ?");
            binds.push(Param::Int(job.0));
        }
        if let Some(from) = filter.trigger_from {
            conditions.push("trigger_time >= ?");
            binds.push(Param::Time(time::to_db(self.zone, from)));
        }
        if let Some(to) = filter.trigger_to {
            conditions.push("trigger_time <= ?");
            binds.push(Param::Time(time::to_db(self.zone, to)));
        }
        match filter.status {
            LogStatus::All => {}
            LogStatus::Success => conditions.push("handle_code = 200"),
            LogStatus::Failed => {
                conditions.push("(trigger_code NOT IN (0, 200) OR handle_code NOT IN (0, 200))")
            }
            LogStatus::Running => conditions.push("trigger_code = 200 AND handle_code = 0"),
        }
        (conditions.join(" AND "), binds)
    }

    /// Deletes matching rows in id batches; `id_below` adds a trailing `id < ?` bind (the keep-newest
    /// boundary).
    async fn delete_logs_where(
        &self,
        conditions: &str,
        binds: &[Param],
        id_below: Option<i64>,
    ) -> Result<u64> {
        let select = self.dialect.sql(format!(
            "SELECT id FROM xxl_job_log WHERE {conditions} ORDER BY id LIMIT ?"
        ));
        let mut deleted = 0;
        loop {
            let ids: Vec<i64> = on_pool!(self, |pool| {
                let mut query = bind_params!(sqlx::query_scalar(&select), binds);
                if let Some(id_below) = id_below {
                    query = query.bind(id_below);
                }
                query.bind(DELETE_BATCH as i64).fetch_all(pool).await?
            });
            if ids.is_empty() {
                return Ok(deleted);
            }
            let delete = self.dialect.sql(format!(
                "DELETE FROM xxl_job_log WHERE id IN ({})",
                placeholders(ids.len())
            ));
            deleted += on_write_pool!(self, |pool| {
                let mut query = sqlx::query(&delete);
                for id in &ids {
                    query = query.bind(*id);
                }
                query.execute(pool).await?.rows_affected()
            });
        }
    }

    fn log_from_row(&self, row: LogRow) -> Result<JobLog> {
        let alarm_status = AlarmStatus::from_code(row.alarm_status).ok_or_else(|| {
            StoreError::corrupt("xxl_job_log", "alarm_status", row.alarm_status.to_string())
        })?;
        Ok(JobLog {
            id: LogId(row.id),
            job_group: JobGroupId(row.job_group),
            job_id: JobId(row.job_id),
            trigger: LogTrigger {
                executor_address: row.executor_address,
                executor_handler: row.executor_handler,
                executor_param: row.executor_param,
                executor_sharding_param: row.executor_sharding_param,
                executor_fail_retry_count: row.executor_fail_retry_count,
                code: row.trigger_code,
                msg: row.trigger_msg,
            },
            trigger_time: time::from_db_opt(self.zone, row.trigger_time),
            handle: LogHandle {
                time: time::from_db_opt(self.zone, row.handle_time),
                code: row.handle_code,
                msg: row.handle_msg,
            },
            alarm_status,
        })
    }
}

/// The UPDATE of [`Store::update_log_triggers`] for `rows` rows, with `?` placeholders: joined to a
/// `VALUES` list of `(id, the seven trigger columns)` rows, or with `by_case` one `CASE id WHEN ? THEN ?
/// …` per column followed by the ids.
fn trigger_update_sql(by_case: bool, rows: usize) -> String {
    if by_case {
        let pick = vec!["WHEN ? THEN ?"; rows].join(" ");
        format!(
            "UPDATE xxl_job_log SET executor_address = CASE id {pick} END, \
             executor_handler = CASE id {pick} END, executor_param = CASE id {pick} END, \
             executor_sharding_param = CASE id {pick} END, \
             executor_fail_retry_count = CASE id {pick} END, trigger_code = CASE id {pick} END, \
             trigger_msg = CASE id {pick} END WHERE id IN ({})",
            placeholders(rows)
        )
    } else {
        format!(
            "UPDATE xxl_job_log SET executor_address = v.column2, executor_handler = v.column3, \
             executor_param = v.column4, executor_sharding_param = v.column5, \
             executor_fail_retry_count = v.column6, trigger_code = v.column7, trigger_msg = v.column8 \
             FROM (VALUES {}) AS v WHERE xxl_job_log.id = v.column1",
            vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; rows].join(", ")
        )
    }
}

/// The rows of the next statement when `remaining` rows are left to write, at most `max`: the largest
/// power of four (1, 4, 16, 64, 256) that fits, or `max` itself. A batch of any length is written with
/// statements of these few shapes, which stay prepared, instead of one statement of a new shape per
/// batch length, which would be parsed and planned afresh each time.
pub(crate) fn statement_size(remaining: usize, max: usize) -> usize {
    if remaining >= max {
        return max.max(1);
    }
    let mut size = 1;
    while size * 4 <= remaining && size < 256 {
        size *= 4;
    }
    size
}

/// `chunk` (1 to `max` items) followed by copies of its last item up to the next length of 1, 4, 16, 64,
/// 256 or `max`, so statements built per chunk come in a few fixed sizes that stay prepared. Repeating
/// an item changes nothing in an `IN` list, and a repeated `CASE` branch is never reached.
pub(crate) fn padded<T>(chunk: &[T], max: usize) -> Vec<&T> {
    let mut size = 1;
    while size < chunk.len() {
        size *= 4;
    }
    let size = size.min(max).max(chunk.len());
    let mut items: Vec<&T> = chunk.iter().collect();
    if let Some(last) = chunk.last() {
        items.resize(size, last);
    }
    items
}

/// The first `max_chars` characters of `text`.
pub(crate) fn truncate_chars(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_come_in_a_few_sizes_that_cover_every_batch() {
        let mut shapes = std::collections::BTreeSet::new();
        for total in 0..=2500 {
            let (mut remaining, mut statements) = (total, 0);
            while remaining > 0 {
                let size = statement_size(remaining, INSERT_BATCH);
                assert!((1..=remaining).contains(&size), "{size} of {remaining}");
                shapes.insert(size);
                remaining -= size;
                statements += 1;
            }
            assert!(
                statements <= total / INSERT_BATCH + 16,
                "{total} rows in {statements} statements"
            );
        }
        assert_eq!(shapes.into_iter().collect::<Vec<_>>(), [1, 4, 16, 64, 256, 1000]);
        // One row per statement where ids must be read back one by one.
        assert_eq!(statement_size(50, 1), 1);
    }
}
