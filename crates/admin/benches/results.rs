//! The two result writes of the log table on SQLite, measured at the store, each against a per-row
//! baseline in the same run:
//!
//! * execution results: `complete_logs` in batches of varying size (as the callback writer forms them)
//!   against one `complete_log` statement and commit per result;
//! * trigger results: `update_log_triggers` in batches against one `update_log_trigger` per row.
//!
//! Run with `cargo bench -p xjob-admin --bench results`. `BENCH_ROWS` (default 20 000) rows are written
//! per batched run and `BENCH_BASELINE_ROWS` (default 2 000) per baseline; rates are per row, so they
//! compare directly. Every loop is bounded by those counts.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // A bench binary: setup failures abort, results go to stdout.

mod common;

use std::time::Instant;

use chrono::Utc;
use xjob_admin::model::{LogHandle, LogId, LogTrigger};

use common::{seed_logs, setting};

fn main() {
    common::block_on(run());
}

async fn run() {
    let rows = setting("BENCH_ROWS", 20_000);
    let baseline_rows = setting("BENCH_BASELINE_ROWS", 2_000);
    let (_database, store) = common::sqlite_store().await;
    println!("SQLite, {rows} rows per batched run, {baseline_rows} per baseline");

    let logs = seed_logs(&store, baseline_rows).await;
    let per_row_trigger = rate(logs.len(), async {
        for id in &logs {
            assert!(store.update_log_trigger(*id, &trigger()).await.unwrap());
        }
    })
    .await;
    let per_row_result = rate(logs.len(), async {
        for id in &logs {
            assert!(store.complete_log(*id, &result()).await.unwrap());
        }
    })
    .await;

    let logs = seed_logs(&store, rows).await;
    let updates: Vec<(LogId, LogTrigger)> = logs.iter().map(|id| (*id, trigger())).collect();
    let batched_trigger = rate(logs.len(), async {
        for chunk in updates.chunks(2000) {
            assert_eq!(
                store.update_log_triggers(chunk).await.unwrap(),
                chunk.len() as u64
            );
        }
    })
    .await;
    let results: Vec<(LogId, LogHandle)> = logs.iter().map(|id| (*id, result())).collect();
    let batched_result = rate(logs.len(), async {
        let mut rest = &results[..];
        let mut round = 0;
        while !rest.is_empty() {
            // Sizes between 1 and 620 (about 310 on average), as concurrent callbacks coalesce.
            round += 1;
            let size = (round * 7919 % 620 + 1).min(rest.len());
            let (batch, tail) = rest.split_at(size);
            assert_eq!(store.complete_logs(batch).await.unwrap().len(), batch.len());
            rest = tail;
        }
    })
    .await;

    println!("| write | per-row rows/s | batched rows/s | batched / per-row |");
    println!("|---|---:|---:|---:|");
    println!(
        "| trigger results | {per_row_trigger:.0} | {batched_trigger:.0} | {:.1}x |",
        batched_trigger / per_row_trigger
    );
    println!(
        "| execution results | {per_row_result:.0} | {batched_result:.0} | {:.1}x |",
        batched_result / per_row_result
    );
    store.close().await;
}

async fn rate(count: usize, work: impl Future<Output = ()>) -> f64 {
    let started = Instant::now();
    work.await;
    count as f64 / started.elapsed().as_secs_f64()
}

fn trigger() -> LogTrigger {
    LogTrigger {
        executor_address: Some("http://127.0.0.1:9999/".into()),
        executor_handler: Some("demoJobHandler".into()),
        executor_param: Some(String::new()),
        executor_sharding_param: None,
        executor_fail_retry_count: 0,
        code: 200,
        // About the size of a real trigger report.
        msg: Some("Trigger type: Cron<br>Admin address: 127.0.0.1<br>".repeat(8)),
    }
}

fn result() -> LogHandle {
    LogHandle {
        time: Some(Utc::now()),
        code: 200,
        msg: Some("ok".into()),
    }
}
