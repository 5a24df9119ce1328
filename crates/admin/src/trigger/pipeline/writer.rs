//! The trigger-result writer: stores whatever results have arrived since its last write in one
//! transaction, so the number of commits falls as the trigger rate rises.

use std::time::Duration;

use tokio::sync::mpsc;
use xjob_protocol::LogId;

use crate::model::LogTrigger;
use crate::store::Store;

/// Attempts per batch before its results are given up (each logged).
const ATTEMPTS: u32 = 5;

/// The wait before the second attempt, doubled for each further one.
const RETRY_BASE: Duration = Duration::from_millis(100);

/// Runs until every sender is gone and everything received is written.
pub(crate) async fn write_results(
    store: Store,
    mut results: mpsc::Receiver<(LogId, LogTrigger)>,
    batch: usize,
) {
    let mut buffer = Vec::with_capacity(batch);
    while results.recv_many(&mut buffer, batch).await > 0 {
        write_batch(&store, &buffer).await;
        buffer.clear();
    }
}

async fn write_batch(store: &Store, results: &[(LogId, LogTrigger)]) {
    let mut wait = RETRY_BASE;
    for attempt in 1..=ATTEMPTS {
        match store.update_log_triggers(results).await {
            Ok(_) => return,
            Err(error) if attempt < ATTEMPTS => {
                tracing::warn!(%error, attempt, count = results.len(), "storing trigger results failed; retrying");
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
            Err(error) => {
                let first = results.first().map(|(id, _)| id.0);
                tracing::error!(
                    %error,
                    count = results.len(),
                    first_log_id = first,
                    "storing trigger results failed; these log rows keep trigger code 0"
                );
            }
        }
    }
}
