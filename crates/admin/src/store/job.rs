//! `xxl_job_info`: job definitions, their edits, start/stop and deletion (with logs and GLUE history).
//! The scheduler's scan and batched next-time writes are in `schedule.rs`.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use xjob_protocol::{JobId, Lenient};

use crate::model::{Glue, Job, JobGroupId, JobSettings, RetryPolicy, Schedule, ScheduleState, TriggerStatus};
use crate::store::dialect::contains_pattern;
use crate::store::group::narrow_id;
use crate::store::log::padded;
use crate::store::{Page, Paged, Param, Result, Store, StoreError, insert_id, on_pool, on_write_pool, time};

/// Ids per `IN (…)` list when reading many jobs at once.
const READ_BATCH: usize = 1000;

pub(crate) const COLUMNS: &str = "id, job_group, {job_name} AS name, author, alarm_email, schedule_type, schedule_conf, \
     misfire_strategy, executor_route_strategy, executor_handler, executor_param, executor_block_strategy, \
     executor_timeout, executor_fail_retry_count, glue_type, glue_source, glue_remark, glue_updatetime, child_jobid, \
     trigger_status, trigger_last_time, trigger_next_time, add_time, update_time, schedule_time_zone, \
     fail_retry_interval, fail_retry_backoff";

/// A job to create: it starts stopped, and its creation, edit and GLUE times are the insert time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    /// Owning group.
    pub group: JobGroupId,
    /// Settings.
    pub settings: JobSettings,
    /// GLUE type and initial source/remark (the update time is ignored).
    pub glue: Glue,
}

/// The console's job list filters; `None`/empty means no filter. Text filters are case-insensitive
/// substring matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only this group.
    pub group: Option<JobGroupId>,
    /// Only this status.
    pub status: Option<TriggerStatus>,
    /// Name contains.
    pub name: String,
    /// Handler contains.
    pub handler: String,
    /// Author contains.
    pub author: String,
}

/// Binds the settings columns in the order both the INSERT and the UPDATE list them: name, author,
/// alarm e-mail, schedule type and conf, misfire, route, handler, param, block, timeout, retry count,
/// child ids, time zone, retry interval, retry backoff.
macro_rules! bind_settings {
    ($query:expr, $settings:expr, $binds:expr) => {
        $query
            .bind(&$settings.name)
            .bind(&$settings.author)
            .bind(&$settings.alarm_email)
            .bind($binds.schedule_type)
            .bind(&$settings.schedule.conf)
            .bind($binds.misfire_strategy)
            .bind($binds.route_strategy)
            .bind(&$settings.handler)
            .bind(&$settings.param)
            .bind($binds.block_strategy)
            .bind($settings.timeout_seconds)
            .bind($settings.retry.count)
            .bind(&$settings.child_job_id)
            .bind($binds.time_zone)
            .bind($binds.retry_interval)
            .bind($binds.retry_backoff)
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: i32,
    job_group: i32,
    name: String,
    author: Option<String>,
    alarm_email: Option<String>,
    schedule_type: String,
    schedule_conf: Option<String>,
    misfire_strategy: String,
    executor_route_strategy: Option<String>,
    executor_handler: Option<String>,
    executor_param: Option<String>,
    executor_block_strategy: Option<String>,
    executor_timeout: i32,
    executor_fail_retry_count: i32,
    glue_type: String,
    glue_source: Option<String>,
    glue_remark: Option<String>,
    glue_updatetime: Option<NaiveDateTime>,
    child_jobid: Option<String>,
    trigger_status: i16,
    trigger_last_time: i64,
    trigger_next_time: i64,
    add_time: Option<NaiveDateTime>,
    update_time: Option<NaiveDateTime>,
    schedule_time_zone: Option<String>,
    fail_retry_interval: Option<i32>,
    fail_retry_backoff: Option<i16>,
}

impl Store {
    /// Creates a stopped job.
    pub async fn insert_job(&self, job: &NewJob, now: DateTime<Utc>) -> Result<JobId> {
        let sql = self.dialect.sql(format!(
            "INSERT INTO xxl_job_info (job_group, {{job_name}}, author, alarm_email, schedule_type, schedule_conf, \
             misfire_strategy, executor_route_strategy, executor_handler, executor_param, executor_block_strategy, \
             executor_timeout, executor_fail_retry_count, child_jobid, schedule_time_zone, fail_retry_interval, \
             fail_retry_backoff, glue_type, glue_source, glue_remark, glue_updatetime, trigger_status, \
             trigger_last_time, trigger_next_time, add_time, update_time) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?){}",
            self.dialect.returning_id()
        ));
        let now = time::to_db(self.zone, now);
        let binds = SettingsBinds::new(&job.settings);
        let settings = &job.settings;
        let id = on_write_pool!(self, |pool| {
            let mut connection = pool.acquire().await?;
            insert_id!(
                self.dialect,
                connection,
                bind_settings!(sqlx::query(&sql).bind(job.group.0), settings, binds)
                    .bind(job.glue.glue_type.as_str())
                    .bind(&job.glue.source)
                    .bind(&job.glue.remark)
                    .bind(now)
                    .bind(now)
                    .bind(now)
            )
        });
        narrow_id(id).map(JobId)
    }

    /// Rewrites a job's group and settings and, when `next_time` is given, its next fire time (upstream
    /// recomputes it only for a running job whose schedule changed). GLUE code and status are untouched.
    /// False when no such job exists.
    pub async fn update_job(
        &self,
        id: JobId,
        group: JobGroupId,
        settings: &JobSettings,
        next_time: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let next_clause = if next_time.is_some() {
            ", trigger_next_time = ?"
        } else {
            ""
        };
        let sql = self.dialect.sql(format!(
            "UPDATE xxl_job_info SET job_group = ?, {{job_name}} = ?, author = ?, alarm_email = ?, schedule_type = ?, \
             schedule_conf = ?, misfire_strategy = ?, executor_route_strategy = ?, executor_handler = ?, \
             executor_param = ?, executor_block_strategy = ?, executor_timeout = ?, executor_fail_retry_count = ?, \
             child_jobid = ?, schedule_time_zone = ?, fail_retry_interval = ?, fail_retry_backoff = ?, \
             update_time = ?{next_clause} WHERE id = ?"
        ));
        let now = time::to_db(self.zone, now);
        let binds = SettingsBinds::new(settings);
        let updated = on_write_pool!(self, |pool| {
            let mut query = bind_settings!(sqlx::query(&sql).bind(group.0), settings, binds).bind(now);
            if let Some(next_time) = next_time {
                query = query.bind(next_time);
            }
            query.bind(id.0).execute(pool).await?.rows_affected()
        });
        Ok(updated > 0)
    }

    /// Sets a job's status and fire times (start: [`ScheduleState::started`]; stop:
    /// [`ScheduleState::STOPPED`]). False when no such job exists.
    pub async fn set_job_state(&self, id: JobId, state: ScheduleState, now: DateTime<Utc>) -> Result<bool> {
        let sql = self.dialect.sql(
            "UPDATE xxl_job_info SET trigger_status = ?, trigger_last_time = ?, trigger_next_time = ?, update_time = ? \
             WHERE id = ?",
        );
        let now = time::to_db(self.zone, now);
        let updated = on_write_pool!(self, |pool| sqlx::query(&sql)
            .bind(state.status.code())
            .bind(state.last_time)
            .bind(state.next_time)
            .bind(now)
            .bind(id.0)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(updated > 0)
    }

    /// Deletes a job with all its logs, GLUE history and planned triggers, in one transaction; false when it did not exist.
    pub async fn delete_job(&self, id: JobId) -> Result<bool> {
        let statements = [
            self.dialect.sql("DELETE FROM xxl_job_log WHERE job_id = ?"),
            self.dialect.sql("DELETE FROM xxl_job_logglue WHERE job_id = ?"),
            self.dialect
                .sql("DELETE FROM xjob_planned_trigger WHERE job_id = ?"),
            self.dialect.sql("DELETE FROM xxl_job_info WHERE id = ?"),
        ];
        let deleted = on_write_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            let mut last = 0;
            for statement in &statements {
                last = sqlx::query(statement)
                    .bind(id.0)
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
            }
            transaction.commit().await?;
            last
        });
        Ok(deleted > 0)
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> Result<Option<Job>> {
        let sql = format!("SELECT {COLUMNS} FROM xxl_job_info WHERE id = ?");
        let row: Option<JobRow> = self.fetch_optional(&sql, &[Param::Int(id.0)]).await?;
        row.map(|row| self.job_from_row(row)).transpose()
    }

    /// The jobs among `ids` that exist, by id.
    pub async fn jobs_by_ids(&self, ids: &[JobId]) -> Result<Vec<Job>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows: Vec<JobRow> = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(READ_BATCH) {
            // A few list lengths only, so each statement is prepared once per connection.
            let chunk = padded(chunk, READ_BATCH);
            let sql = self.dialect.sql(format!(
                "SELECT {COLUMNS} FROM xxl_job_info WHERE id IN ({})",
                placeholders(chunk.len())
            ));
            let found: Vec<JobRow> = on_pool!(self, |pool| {
                let mut query = sqlx::query_as(&sql);
                for id in &chunk {
                    query = query.bind(id.0);
                }
                query.fetch_all(pool).await?
            });
            rows.extend(found);
        }
        rows.sort_unstable_by_key(|row| row.id);
        rows.dedup_by_key(|row| row.id);
        rows.into_iter().map(|row| self.job_from_row(row)).collect()
    }

    /// A page of jobs matching `filter`, newest (highest id) first.
    pub async fn jobs_page(&self, filter: &JobFilter, page: Page) -> Result<Paged<Job>> {
        let mut conditions = vec![
            self.dialect.contains("{job_name}"),
            self.dialect.contains("COALESCE(executor_handler, '')"),
            self.dialect.contains("COALESCE(author, '')"),
        ];
        let mut params = vec![
            Param::Text(contains_pattern(&filter.name)),
            Param::Text(contains_pattern(&filter.handler)),
            Param::Text(contains_pattern(&filter.author)),
        ];
        if let Some(group) = filter.group {
            conditions.push("job_group = ?".into());
            params.push(Param::Int(group.0));
        }
        if let Some(status) = filter.status {
            conditions.push("trigger_status = ?".into());
            params.push(Param::SmallInt(status.code()));
        }
        let from_where = format!(" FROM xxl_job_info WHERE {}", conditions.join(" AND "));
        let (rows, total) = self
            .fetch_page::<JobRow>(COLUMNS, &from_where, "id DESC", &params, page)
            .await?;
        let rows = rows
            .into_iter()
            .map(|row| self.job_from_row(row))
            .collect::<Result<_>>()?;
        Ok(Paged { rows, total })
    }

    /// Number of jobs, in one group or in all.
    pub async fn count_jobs(&self, group: Option<JobGroupId>) -> Result<i64> {
        match group {
            Some(group) => {
                let sql = "SELECT COUNT(*) FROM xxl_job_info WHERE job_group = ?";
                self.count(sql, &[Param::Int(group.0)]).await
            }
            None => self.count("SELECT COUNT(*) FROM xxl_job_info", &[]).await,
        }
    }

    pub(crate) fn job_from_row(&self, row: JobRow) -> Result<Job> {
        let corrupt = |column, detail: String| StoreError::corrupt("xxl_job_info", column, detail);
        let status = TriggerStatus::from_code(row.trigger_status)
            .ok_or_else(|| corrupt("trigger_status", row.trigger_status.to_string()))?;
        let time_zone = row
            .schedule_time_zone
            .filter(|zone| !zone.is_empty())
            .map(|zone| {
                zone.parse::<Tz>()
                    .map_err(|_| corrupt("schedule_time_zone", zone))
            })
            .transpose()?;
        let interval_seconds = row
            .fail_retry_interval
            .map(|seconds| {
                u32::try_from(seconds).map_err(|_| corrupt("fail_retry_interval", seconds.to_string()))
            })
            .transpose()?;
        Ok(Job {
            id: JobId(row.id),
            group: JobGroupId(row.job_group),
            settings: JobSettings {
                name: row.name,
                author: row.author,
                alarm_email: row.alarm_email,
                schedule: Schedule {
                    schedule_type: Lenient::parse(&row.schedule_type),
                    conf: row.schedule_conf,
                },
                misfire_strategy: Lenient::parse(&row.misfire_strategy),
                route_strategy: row.executor_route_strategy.as_deref().map(Lenient::parse),
                handler: row.executor_handler,
                param: row.executor_param,
                block_strategy: row.executor_block_strategy.as_deref().map(Lenient::parse),
                timeout_seconds: row.executor_timeout,
                retry: RetryPolicy {
                    count: row.executor_fail_retry_count,
                    interval_seconds,
                    backoff: row.fail_retry_backoff.unwrap_or(0) != 0,
                },
                child_job_id: row.child_jobid,
                time_zone,
            },
            glue: Glue {
                glue_type: Lenient::parse(&row.glue_type),
                source: row.glue_source,
                remark: row.glue_remark,
                update_time: time::from_db_opt(self.zone, row.glue_updatetime),
            },
            state: ScheduleState {
                status,
                last_time: row.trigger_last_time,
                next_time: row.trigger_next_time,
            },
            add_time: time::from_db_opt(self.zone, row.add_time),
            update_time: time::from_db_opt(self.zone, row.update_time),
        })
    }
}

/// The enum-valued and added settings in their stored forms.
struct SettingsBinds<'a> {
    schedule_type: &'a str,
    misfire_strategy: &'a str,
    route_strategy: Option<&'a str>,
    block_strategy: Option<&'a str>,
    time_zone: Option<&'a str>,
    retry_interval: Option<i32>,
    retry_backoff: Option<i16>,
}

impl<'a> SettingsBinds<'a> {
    fn new(settings: &'a JobSettings) -> Self {
        SettingsBinds {
            schedule_type: settings.schedule.schedule_type.as_str(),
            misfire_strategy: settings.misfire_strategy.as_str(),
            route_strategy: settings.route_strategy.as_ref().map(Lenient::as_str),
            block_strategy: settings.block_strategy.as_ref().map(Lenient::as_str),
            time_zone: settings.time_zone.map(Tz::name),
            // Intervals beyond i32 seconds (68 years) are clamped rather than rejected.
            retry_interval: settings
                .retry
                .interval_seconds
                .map(|seconds| i32::try_from(seconds).unwrap_or(i32::MAX)),
            retry_backoff: Some(i16::from(settings.retry.backoff)),
        }
    }
}

/// `?, ?, …` for an IN list of `count` values.
pub(crate) fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}
