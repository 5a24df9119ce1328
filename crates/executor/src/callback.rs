//! Execution results on their way to the admin: an unbounded queue ([`CallbackSink`]) drained by one worker
//! in batches of at most 50, the callback outcome line appended to each execution's log, and the spool:
//! batches no admin accepted are written to `<logpath>/callbacklogs/` and re-sent every beat interval, after
//! any successful callback, and at the next start — so no result is lost across an admin outage or an
//! executor restart. Duplicates are harmless: admins ignore a second result for the same log.
//!
//! How an admin is called (failover, generation) is [`crate::admin_client`]'s business.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use xjob_protocol::{CallbackItem, Dialect};

use crate::admin_client::{AdminClient, AdminError};
use crate::error::ExecutorError;
use crate::execution_log::{self, LogWriter};

/// Largest batch per `/api/callback` request (upstream HEAD).
const MAX_BATCH: usize = 50;

/// How long shutdown keeps sending queued results before spooling the rest (upstream: 10 s).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Directory below the log root holding batches no admin accepted (upstream G2/G3 name).
const SPOOL_DIRECTORY: &str = "callbacklogs";

/// Where job threads put results. Cheap to clone.
#[derive(Clone)]
pub(crate) struct CallbackSink {
    sender: mpsc::UnboundedSender<CallbackItem>,
    log_root: Arc<PathBuf>,
}

/// The worker that sends results; [`shutdown`](Self::shutdown) flushes it.
pub(crate) struct CallbackWorker {
    sink: CallbackSink,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

struct Sender {
    admin: Arc<AdminClient>,
    log_root: PathBuf,
    log_writer: LogWriter,
}

impl CallbackWorker {
    /// Starts the worker; it first re-sends what a previous run spooled.
    pub(crate) fn start(
        admin: Arc<AdminClient>,
        log_root: PathBuf,
        log_writer: LogWriter,
        retry_interval: Duration,
    ) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let worker = Sender {
            admin,
            log_root: log_root.clone(),
            log_writer,
        };
        let task = tokio::spawn(worker.run(receiver, retry_interval, stop.clone()));
        CallbackWorker {
            sink: CallbackSink {
                sender,
                log_root: Arc::new(log_root),
            },
            stop,
            task,
        }
    }

    pub(crate) fn sink(&self) -> CallbackSink {
        self.sink.clone()
    }

    /// Sends what is queued for up to 10 s, spools the rest, and stops.
    pub(crate) async fn shutdown(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "callback worker ended abnormally");
        }
    }
}

impl CallbackSink {
    /// Queues one result. After shutdown the result is spooled to disk directly, for the next start.
    pub(crate) fn report(&self, item: CallbackItem) {
        if let Err(rejected) = self.sender.send(item) {
            spool(&self.log_root, &[rejected.0]);
        }
    }
}

impl Sender {
    async fn run(
        self,
        mut receiver: mpsc::UnboundedReceiver<CallbackItem>,
        retry_interval: Duration,
        stop: CancellationToken,
    ) {
        self.replay().await;
        let mut retry = tokio::time::interval(retry_interval);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        retry.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                received = receiver.recv() => {
                    let Some(first) = received else { break };
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match receiver.try_recv() {
                            Ok(item) => batch.push(item),
                            Err(_) => break,
                        }
                    }
                    if self.send(batch).await {
                        self.replay().await;
                    }
                }
                _ = retry.tick() => self.replay().await,
            }
        }
        // Shutdown: job threads have reported; send what is queued while time allows, spool the rest.
        receiver.close();
        let mut left = Vec::new();
        while let Ok(item) = receiver.try_recv() {
            left.push(item);
        }
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while !left.is_empty() {
                let rest = left.split_off(left.len().min(MAX_BATCH));
                let batch = std::mem::replace(&mut left, rest);
                self.send(batch).await;
            }
        })
        .await;
        if drained.is_err() && !left.is_empty() {
            spool(&self.log_root, &left);
        }
    }

    /// Sends one batch; on failure spools it. Returns whether an admin accepted it.
    async fn send(&self, batch: Vec<CallbackItem>) -> bool {
        let outcome = self.admin.callback(&batch).await;
        let line = match &outcome {
            Ok(()) => "<br>----------- xxl-job job callback finish.".to_owned(),
            Err(AdminError::Refused { msg, .. }) => {
                format!("<br>----------- xxl-job job callback fail, callbackResult:{msg}")
            }
            Err(error) => format!("<br>----------- xxl-job job callback error, errorMsg:{error}"),
        };
        for item in &batch {
            let path = execution_log::log_file_path(&self.log_root, item.log_date_time, item.log_id);
            self.log_writer.append_line(path, &line);
        }
        match outcome {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, results = batch.len(), "no admin accepted the callback; spooled");
                let root = self.log_root.clone();
                let _ = tokio::task::spawn_blocking(move || spool(&root, &batch)).await;
                false
            }
        }
    }

    /// Re-sends every spooled batch: each file is read and deleted, then sent (a failing send spools anew).
    async fn replay(&self) {
        let root = self.log_root.clone();
        let batches = tokio::task::spawn_blocking(move || take_spooled(&root))
            .await
            .unwrap_or_default();
        let mut batches = batches.into_iter();
        while let Some(batch) = batches.next() {
            if !self.send(batch).await {
                // The admins are down again: put the untried batches back untouched.
                let rest: Vec<Vec<CallbackItem>> = batches.collect();
                let root = self.log_root.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    for batch in rest {
                        spool(&root, &batch);
                    }
                })
                .await;
                return;
            }
        }
    }
}

/// Creates `<logpath>/callbacklogs`, replacing a plain file of that name as upstream does.
pub(crate) async fn create_spool_directory(log_root: &Path) -> Result<(), ExecutorError> {
    let directory = log_root.join(SPOOL_DIRECTORY);
    if tokio::fs::metadata(&directory)
        .await
        .is_ok_and(|meta| meta.is_file())
    {
        let _ = tokio::fs::remove_file(&directory).await;
    }
    tokio::fs::create_dir_all(&directory)
        .await
        .map_err(|source| ExecutorError::LogDirectory {
            path: directory,
            source,
        })
}

/// Writes a batch to a new spool file, as a JSON array of G3-spelled items. Blocking; failures are logged,
/// since there is nowhere further to put the results.
fn spool(log_root: &Path, batch: &[CallbackItem]) {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let items: Vec<_> = batch.iter().map(|item| item.encode(Dialect::G3)).collect();
    let json = match serde_json::to_vec(&items) {
        Ok(json) => json,
        Err(error) => {
            tracing::error!(%error, "cannot encode callback batch for the spool");
            return;
        }
    };
    let directory = log_root.join(SPOOL_DIRECTORY);
    let name = format!(
        "xxl-job-callback-{}-{}-{}.log",
        chrono::Utc::now().timestamp_millis(),
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    let temporary = directory.join(format!(".{name}.tmp"));
    // Written under a temporary name and renamed, so a crash never leaves half a batch to replay.
    let written = std::fs::create_dir_all(&directory)
        .and_then(|()| std::fs::write(&temporary, &json))
        .and_then(|()| std::fs::rename(&temporary, directory.join(&name)));
    if let Err(error) = written {
        tracing::error!(%error, results = batch.len(), "cannot spool callback batch; results lost");
    }
}

/// Reads and deletes every spool file, oldest name first. Unreadable files are left in place and reported;
/// empty or undecodable ones are deleted.
fn take_spooled(log_root: &Path) -> Vec<Vec<CallbackItem>> {
    let directory = log_root.join(SPOOL_DIRECTORY);
    let Ok(entries) = std::fs::read_dir(&directory) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("xxl-job-callback-") && name.ends_with(".log"))
        })
        .collect();
    paths.sort();
    let mut batches = Vec::new();
    for path in paths {
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read spooled callbacks");
                continue;
            }
        };
        if let Err(error) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), %error, "cannot remove spooled callbacks; not re-sent");
            continue;
        }
        match serde_json::from_slice::<Vec<CallbackItem>>(&text) {
            Ok(items) if !items.is_empty() => batches.push(items),
            Ok(_) => {}
            Err(error) => tracing::warn!(path = %path.display(), %error, "dropping undecodable spool file"),
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use xjob_protocol::LogId;

    use super::*;

    #[test]
    fn spool_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let items = |base: i64| {
            vec![
                CallbackItem {
                    log_id: LogId(base),
                    log_date_time: 10,
                    handle_code: 200,
                    handle_msg: None,
                },
                CallbackItem {
                    log_id: LogId(base + 1),
                    log_date_time: 20,
                    handle_code: 500,
                    handle_msg: Some("boom".to_owned()),
                },
            ]
        };
        spool(dir.path(), &items(1));
        spool(dir.path(), &items(3));
        std::fs::write(
            dir.path().join(SPOOL_DIRECTORY).join("xxl-job-callback-x.log"),
            "[]",
        )
        .unwrap();
        let files = std::fs::read_dir(dir.path().join(SPOOL_DIRECTORY))
            .unwrap()
            .count();
        assert_eq!(files, 3);
        let mut batches = take_spooled(dir.path());
        batches.sort_by_key(|batch| batch[0].log_id);
        assert_eq!(batches, vec![items(1), items(3)]);
        assert_eq!(
            std::fs::read_dir(dir.path().join(SPOOL_DIRECTORY))
                .unwrap()
                .count(),
            0
        );
        assert!(take_spooled(dir.path()).is_empty());
    }
}
