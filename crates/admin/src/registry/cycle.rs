//! The loop shape shared by the monitors: one pass at start, then one on every multiple of the period
//! counted from the Unix epoch; a failed pass is logged and the loop continues.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::registry::LoopHandle;
use crate::store::StoreError;

/// Spawns the loop of `pass` on the current runtime.
pub(crate) fn spawn<F, Fut>(name: &'static str, period: Duration, mut pass: F) -> LoopHandle
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), StoreError>> + Send + 'static,
{
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let task = tokio::spawn(async move {
        loop {
            // The pass runs in its own task so a panic in it is reported and the loop survives.
            let outcome = tokio::select! {
                outcome = tokio::spawn(pass()) => outcome,
                () = stop.cancelled() => return,
            };
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(monitor = name, %error, "pass failed"),
                Err(error) => tracing::error!(monitor = name, %error, "pass panicked"),
            }
            tokio::select! {
                () = tokio::time::sleep(until_next_multiple(period)) => {}
                () = stop.cancelled() => return,
            }
        }
    });
    LoopHandle { cancel, task }
}

/// Time from now to the next multiple of `period` since the Unix epoch (at least 1 ms).
fn until_next_multiple(period: Duration) -> Duration {
    let period_ms = period.as_millis().max(1);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    let wait = period_ms - now_ms % period_ms;
    Duration::from_millis(u64::try_from(wait).unwrap_or(u64::MAX).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_at_most_one_period() {
        for period in [1, 250, 30_000] {
            let wait = until_next_multiple(Duration::from_millis(period));
            assert!(wait >= Duration::from_millis(1), "{period}");
            assert!(wait <= Duration::from_millis(period), "{period}");
        }
    }
}
