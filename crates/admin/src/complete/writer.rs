//! Group commit for results: every `/api/callback` hands its results to one writer task and waits; the
//! writer takes whatever has queued up while it was busy, writes it all in one transaction through the
//! [`Completer`], and then answers every waiting caller. Under load a transaction carries the results of
//! many requests; when idle a request is written at once, with no added delay.
//!
//! A batch whose transaction fails is retried request by request, so one request the database rejects
//! cannot make the results of others fail with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::complete::{Completer, ExecutionResult};

/// Tuning of the [`ResultWriter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultWriterOptions {
    /// Requests that may wait for the writer; further callers wait to enqueue (back-pressure).
    pub queue_capacity: usize,
    /// Results gathered into one transaction at most (a single larger request still goes in whole).
    pub max_batch: usize,
}

impl Default for ResultWriterOptions {
    fn default() -> Self {
        ResultWriterOptions {
            queue_capacity: 4096,
            max_batch: 5000,
        }
    }
}

/// Starts the writer task; see the module docs.
#[derive(Debug)]
pub struct ResultWriter;

/// Hands results to the writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ResultSender {
    sender: mpsc::Sender<Pending>,
    stats: Arc<Counters>,
}

/// How much coalescing happened so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Requests answered.
    pub requests: u64,
    /// Results handed to the store.
    pub results: u64,
    /// Batches written (one transaction each, unless a batch had to be split after a failure).
    pub batches: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    results: AtomicU64,
    batches: AtomicU64,
}

/// Stops the writer.
#[derive(Debug)]
pub struct ResultWriterHandle {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// Why results were not recorded; the caller answers with a failure so the executor sends them again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WriteRefused {
    /// The admin is shutting down.
    #[error("the admin is shutting down")]
    ShuttingDown,
    /// The database failed; the text is for the log, not for executors.
    #[error("storage error: {0}")]
    Storage(String),
}

struct Pending {
    results: Vec<ExecutionResult>,
    done: oneshot::Sender<Result<(), WriteRefused>>,
}

impl ResultWriter {
    /// Starts the writer on the current runtime.
    pub fn start(completer: Completer, options: ResultWriterOptions) -> (ResultSender, ResultWriterHandle) {
        let (sender, receiver) = mpsc::channel(options.queue_capacity.max(1));
        let cancel = CancellationToken::new();
        let stats = Arc::new(Counters::default());
        let task = tokio::spawn(run(
            completer,
            receiver,
            cancel.clone(),
            options.max_batch.max(1),
            Arc::clone(&stats),
        ));
        (
            ResultSender { sender, stats },
            ResultWriterHandle { cancel, task },
        )
    }
}

impl ResultSender {
    /// Queues `results` and waits until they are durable (or known not to be). Results of logs that are
    /// unknown or already have a result count as recorded: there is nothing to retry.
    pub async fn write(&self, results: Vec<ExecutionResult>) -> Result<(), WriteRefused> {
        if results.is_empty() {
            return Ok(());
        }
        let (done, answer) = oneshot::channel();
        self.sender
            .send(Pending { results, done })
            .await
            .map_err(|_| WriteRefused::ShuttingDown)?;
        answer.await.unwrap_or(Err(WriteRefused::ShuttingDown))
    }

    /// Counts since start.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            requests: self.stats.requests.load(Ordering::Relaxed),
            results: self.stats.results.load(Ordering::Relaxed),
            batches: self.stats.batches.load(Ordering::Relaxed),
        }
    }
}

impl ResultWriterHandle {
    /// Stops accepting results, writes everything already queued, and waits for the task to end.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "result writer task failed");
        }
    }
}

async fn run(
    completer: Completer,
    mut receiver: mpsc::Receiver<Pending>,
    cancel: CancellationToken,
    max_batch: usize,
    stats: Arc<Counters>,
) {
    loop {
        let first = tokio::select! {
            biased;
            pending = receiver.recv() => pending,
            () = cancel.cancelled() => {
                // Refuse new work but keep what callers are already waiting for.
                receiver.close();
                receiver.recv().await
            }
        };
        let Some(first) = first else {
            return;
        };
        let mut batch = vec![first];
        let mut count = batch[0].results.len();
        while count < max_batch {
            match receiver.try_recv() {
                Ok(pending) => {
                    count += pending.results.len();
                    batch.push(pending);
                }
                Err(_) => break,
            }
        }
        stats.requests.fetch_add(batch.len() as u64, Ordering::Relaxed);
        stats.results.fetch_add(count as u64, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        write_batch(&completer, batch).await;
    }
}

async fn write_batch(completer: &Completer, batch: Vec<Pending>) {
    let results: Vec<ExecutionResult> = batch
        .iter()
        .flat_map(|pending| pending.results.iter().cloned())
        .collect();
    match completer.complete(&results, Utc::now()).await {
        Ok(_) => {
            for pending in batch {
                let _ = pending.done.send(Ok(()));
            }
        }
        Err(error) if batch.len() == 1 => {
            tracing::error!(%error, results = results.len(), "recording results failed");
            for pending in batch {
                let _ = pending.done.send(Err(WriteRefused::Storage(error.to_string())));
            }
            // A database that is down should not be hammered by the executors' immediate retries.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(error) => {
            tracing::warn!(%error, requests = batch.len(), "batch of results failed; writing requests one by one");
            for pending in batch {
                let outcome = completer
                    .complete(&pending.results, Utc::now())
                    .await
                    .map(drop)
                    .map_err(|error| {
                        tracing::error!(%error, results = pending.results.len(), "recording results failed");
                        WriteRefused::Storage(error.to_string())
                    });
                let _ = pending.done.send(outcome);
            }
        }
    }
}
