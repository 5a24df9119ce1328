//! `xxl_job_log_report`: daily aggregates of trigger logs for the dashboard.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};

use crate::model::{LogCounts, LogReport, LogReportId};
use crate::store::{Result, Store, on_pool, on_write_pool, time};

#[derive(sqlx::FromRow)]
struct ReportRow {
    id: i32,
    trigger_day: Option<NaiveDateTime>,
    running_count: i32,
    suc_count: i32,
    fail_count: i32,
    update_time: Option<NaiveDateTime>,
}

impl Store {
    /// Counts the logs of one calendar day of the admin's zone and stores them as that day's report
    /// row (insert or overwrite); returns the counts.
    pub async fn refresh_report(&self, day: NaiveDate, now: DateTime<Utc>) -> Result<LogCounts> {
        let start = time::day_start(day);
        let counts = self.log_counts_stored(start, start + TimeDelta::days(1)).await?;
        let sql = self.dialect.sql(format!(
            "INSERT INTO xxl_job_log_report (trigger_day, running_count, suc_count, fail_count, update_time) \
             VALUES (?, ?, ?, ?, ?){}",
            self.dialect.upsert(
                &["trigger_day"],
                &["running_count", "suc_count", "fail_count", "update_time"]
            )
        ));
        let now = time::to_db(self.zone, now);
        on_write_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(start)
                .bind(saturate(counts.running))
                .bind(saturate(counts.success))
                .bind(saturate(counts.failed))
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(counts)
    }

    /// Report rows of the days `from..=to`, ascending; days without a row are absent.
    pub async fn reports(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<LogReport>> {
        let sql = self.dialect.sql(
            "SELECT id, trigger_day, running_count, suc_count, fail_count, update_time FROM xxl_job_log_report \
             WHERE trigger_day >= ? AND trigger_day <= ? ORDER BY trigger_day",
        );
        let rows: Vec<ReportRow> = on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(time::day_start(from))
            .bind(time::day_start(to))
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(LogReport {
                    id: LogReportId(row.id),
                    trigger_day: row.trigger_day?.date(),
                    counts: LogCounts {
                        running: i64::from(row.running_count),
                        success: i64::from(row.suc_count),
                        failed: i64::from(row.fail_count),
                    },
                    update_time: time::from_db_opt(self.zone, row.update_time),
                })
            })
            .collect())
    }

    /// The sums over every report row (the dashboard's totals).
    pub async fn report_totals(&self) -> Result<LogCounts> {
        // CAST keeps the sums integers: MySQL returns SUM of INT as DECIMAL.
        let sql = "SELECT CAST(COALESCE(SUM(running_count), 0) AS BIGINT), CAST(COALESCE(SUM(suc_count), 0) AS BIGINT), \
                   CAST(COALESCE(SUM(fail_count), 0) AS BIGINT) FROM xxl_job_log_report";
        let sql = self.dialect.integer_casts(sql);
        let (running, success, failed): (i64, i64, i64) =
            on_pool!(self, |pool| sqlx::query_as(&sql).fetch_one(pool).await?);
        Ok(LogCounts {
            running,
            success,
            failed,
        })
    }
}

fn saturate(count: i64) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}
