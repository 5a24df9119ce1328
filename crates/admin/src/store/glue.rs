//! `xxl_job_logglue` and the GLUE columns of `xxl_job_info`: saving a new GLUE version and its history.

use chrono::{DateTime, NaiveDateTime, Utc};
use xjob_protocol::{JobId, Lenient};

use crate::model::{LogGlue, LogGlueId};
use crate::store::{Param, Result, Store, on_write_pool, time};

/// Versions kept per job after each save, as upstream.
pub const GLUE_HISTORY: u32 = 30;

#[derive(sqlx::FromRow)]
struct GlueRow {
    id: i32,
    job_id: i32,
    glue_type: Option<String>,
    glue_source: Option<String>,
    glue_remark: String,
    add_time: Option<NaiveDateTime>,
    update_time: Option<NaiveDateTime>,
}

impl Store {
    /// Saves a new GLUE source for a job, in one transaction: the job's source, remark and GLUE time
    /// change, a history row with the job's GLUE type is added, and only the newest
    /// [`GLUE_HISTORY`] history rows of the job stay. False (and nothing written) when the job does
    /// not exist.
    pub async fn save_glue(
        &self,
        job_id: JobId,
        source: &str,
        remark: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let update = self.dialect.sql(
            "UPDATE xxl_job_info SET glue_source = ?, glue_remark = ?, glue_updatetime = ?, update_time = ? WHERE id = ?",
        );
        let insert = self.dialect.sql(
            "INSERT INTO xxl_job_logglue (job_id, glue_type, glue_source, glue_remark, add_time, update_time) \
             SELECT id, glue_type, ?, ?, ?, ? FROM xxl_job_info WHERE id = ?",
        );
        // History ids grow with save time, so "newest 30" is "the 30 highest ids"; the boundary is read
        // first because MySQL cannot use LIMIT inside an IN subquery.
        let boundary = self
            .dialect
            .sql("SELECT id FROM xxl_job_logglue WHERE job_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?");
        let prune = self
            .dialect
            .sql("DELETE FROM xxl_job_logglue WHERE job_id = ? AND id < ?");
        let now = time::to_db(self.zone, now);
        let saved = on_write_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            let updated = sqlx::query(&update)
                .bind(source)
                .bind(remark)
                .bind(now)
                .bind(now)
                .bind(job_id.0)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
            if updated > 0 {
                sqlx::query(&insert)
                    .bind(source)
                    .bind(remark)
                    .bind(now)
                    .bind(now)
                    .bind(job_id.0)
                    .execute(&mut *transaction)
                    .await?;
                let oldest_kept: Option<i32> = sqlx::query_scalar(&boundary)
                    .bind(job_id.0)
                    .bind(i64::from(GLUE_HISTORY - 1))
                    .fetch_optional(&mut *transaction)
                    .await?;
                if let Some(oldest_kept) = oldest_kept {
                    sqlx::query(&prune)
                        .bind(job_id.0)
                        .bind(oldest_kept)
                        .execute(&mut *transaction)
                        .await?;
                }
            }
            transaction.commit().await?;
            updated > 0
        });
        Ok(saved)
    }

    /// A job's GLUE history, newest first.
    pub async fn glue_history(&self, job_id: JobId) -> Result<Vec<LogGlue>> {
        let sql = "SELECT id, job_id, glue_type, glue_source, glue_remark, add_time, update_time \
                   FROM xxl_job_logglue WHERE job_id = ? ORDER BY id DESC";
        let rows: Vec<GlueRow> = self.fetch_all(sql, &[Param::Int(job_id.0)]).await?;
        Ok(rows
            .into_iter()
            .map(|row| LogGlue {
                id: LogGlueId(row.id),
                job_id: JobId(row.job_id),
                glue_type: row.glue_type.as_deref().map(Lenient::parse),
                source: row.glue_source,
                remark: row.glue_remark,
                add_time: time::from_db_opt(self.zone, row.add_time),
                update_time: time::from_db_opt(self.zone, row.update_time),
            })
            .collect())
    }
}
