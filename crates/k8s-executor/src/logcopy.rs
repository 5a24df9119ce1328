//! Live log copy (§5.4): one follower per copied container, appending the container's output to the
//! execution log line by line while it runs.
//!
//! Every request asks for timestamps, so a dropped follow stream is resumed with `sinceTime` at the last
//! second seen, and lines already written are skipped by comparing timestamps and counting the lines that
//! share the last one. The position (last timestamp and that count) is also kept in a small cursor file
//! beside the log, so an executor that restarts resumes the copy where it stopped instead of copying again.
//! Bytes are decoded lossily, long lines split, and a byte budget per execution stops the copy with one
//! marker line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::io::{AsyncBufRead, AsyncBufReadExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::LogParams;
use tokio::sync::watch;
use xjob_executor::ExecutionLog;

/// Longest copied line; longer lines are split, as container runtimes do.
const MAX_LINE_BYTES: usize = 16 * 1024;

/// First and longest pause between reconnects of a dropped stream.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// What all followers of one execution share.
#[derive(Clone)]
pub(crate) struct CopyTarget {
    pub(crate) log: ExecutionLog,
    /// Directory of the cursor files (`<logId>.log.cursors` beside the log file).
    pub(crate) cursors: PathBuf,
    pub(crate) budget: Arc<Budget>,
    pub(crate) timestamps: bool,
    pub(crate) drain_timeout: Duration,
    pub(crate) api_timeout: Duration,
}

/// The byte budget of one execution's copied output.
pub(crate) struct Budget {
    limit: u64,
    used: AtomicU64,
    exhausted: AtomicBool,
}

/// One container to follow.
pub(crate) struct Source {
    pub(crate) pods: Api<Pod>,
    pub(crate) pod: String,
    pub(crate) container: String,
    /// Put before every copied line (`[main] `), or empty.
    pub(crate) prefix: String,
}

/// Where the copy of one container stands: the last timestamp written and how many lines carried it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Cursor {
    last: Option<Timestamp>,
    count_at_last: u64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Self {
        Budget {
            limit,
            used: AtomicU64::new(0),
            exhausted: AtomicBool::new(false),
        }
    }

    /// Takes `bytes` from the budget; `false` once it is spent (the first refusal writes the marker line).
    fn take(&self, bytes: usize, log: &ExecutionLog) -> bool {
        if self.exhausted.load(Ordering::Relaxed) {
            return false;
        }
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) <= self.limit {
            return true;
        }
        if !self.exhausted.swap(true, Ordering::Relaxed) {
            log.line(&format!(
                "container output reached max_log_bytes ({} bytes); the rest is not copied",
                self.limit
            ));
        }
        false
    }
}

/// The cursor directory for the log file at `log_file`.
pub(crate) fn cursor_directory(log_file: &Path) -> PathBuf {
    let mut name = log_file.as_os_str().to_owned();
    name.push(".cursors");
    PathBuf::from(name)
}

/// Follows `source` until its container has terminated (`terminated` turns true) and the stream is drained:
/// the follow stream ends, or `drain_timeout` passes after termination, after which one last non-follow
/// request collects the tail.
pub(crate) async fn follow(target: CopyTarget, source: Source, mut terminated: watch::Receiver<bool>) {
    let cursor_file = target
        .cursors
        .join(format!("{}_{}", source.pod, source.container));
    let mut cursor = read_cursor(&cursor_file).await;
    let mut pause = RECONNECT_MIN;
    loop {
        if target.budget.exhausted.load(Ordering::Relaxed) {
            return;
        }
        let params = params(&source.container, true, &cursor);
        let opened =
            crate::api::bounded(target.api_timeout, source.pods.log_stream(&source.pod, &params)).await;
        let drained_early = match opened {
            Ok(stream) => {
                pause = RECONNECT_MIN;
                copy_until_drained(
                    &target,
                    &source,
                    &cursor_file,
                    &mut cursor,
                    stream,
                    &mut terminated,
                )
                .await
            }
            Err(error) => {
                // `400 … waiting to start` means "not yet"; other errors are retried the same way.
                tracing::debug!(pod = %source.pod, container = %source.container, %error, "log stream not available");
                false
            }
        };
        if drained_early || *terminated.borrow() {
            break;
        }
        // The stream ended or failed while the container may still run: wait a little (or for the
        // termination news), then resume from the cursor.
        tokio::select! {
            _ = terminated.wait_for(|done| *done) => {}
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(RECONNECT_MAX);
        if *terminated.borrow() {
            break;
        }
    }
    // The container has ended: one request without follow collects whatever the streams did not deliver.
    let params = params(&source.container, false, &cursor);
    match crate::api::bounded(target.api_timeout, source.pods.log_stream(&source.pod, &params)).await {
        Ok(stream) => {
            let (_never, mut done) = watch::channel(true);
            copy_until_drained(&target, &source, &cursor_file, &mut cursor, stream, &mut done).await;
        }
        Err(error) => {
            tracing::debug!(pod = %source.pod, container = %source.container, %error, "log tail not available");
        }
    }
}

fn params(container: &str, follow: bool, cursor: &Cursor) -> LogParams {
    LogParams {
        container: Some(container.to_owned()),
        follow,
        timestamps: true,
        // The client rounds `sinceTime` to the nearest second, which could skip the rest of the last second;
        // rounding down first keeps those lines, and the ones already written are skipped.
        since_time: cursor
            .last
            .and_then(|last| Timestamp::from_second(last.as_second()).ok()),
        ..LogParams::default()
    }
}

/// Copies lines from `stream` until it ends, or until `drain_timeout` has passed since the container
/// terminated. Returns whether the copy stopped because of that timeout (the stream was held open).
async fn copy_until_drained(
    target: &CopyTarget,
    source: &Source,
    cursor_file: &Path,
    cursor: &mut Cursor,
    stream: impl AsyncBufRead,
    terminated: &mut watch::Receiver<bool>,
) -> bool {
    let mut stream = std::pin::pin!(stream);
    let mut buffer = Vec::new();
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    // The stream starts at the second of the last line written; that many lines of it were written before.
    let mut skip = cursor.count_at_last;
    loop {
        if drain_deadline.is_none() && *terminated.borrow() {
            drain_deadline = Some(tokio::time::Instant::now() + target.drain_timeout);
        }
        let read = async {
            match drain_deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, stream.read_until(b'\n', &mut buffer))
                    .await
                    .ok(),
                None => Some(stream.read_until(b'\n', &mut buffer).await),
            }
        };
        let outcome = tokio::select! {
            outcome = read => outcome,
            changed = terminated.changed(), if drain_deadline.is_none() => {
                if changed.is_err() {
                    // Nobody will report termination any more; treat it as having happened.
                    drain_deadline = Some(tokio::time::Instant::now() + target.drain_timeout);
                }
                // `read_until` is cancel safe: the bytes of a partial line stay in `buffer` and the next call
                // continues the line.
                continue;
            }
        };
        match outcome {
            None => return true,
            Some(Ok(0)) | Some(Err(_)) => return false,
            Some(Ok(_)) => {
                let written = write_line(target, source, cursor_file, cursor, &mut skip, &buffer).await;
                buffer.clear();
                if !written {
                    return true;
                }
            }
        }
    }
}

/// Writes the entries of one received line unless written before; `false` once the byte budget is spent.
async fn write_line(
    target: &CopyTarget,
    source: &Source,
    cursor_file: &Path,
    cursor: &mut Cursor,
    skip: &mut u64,
    raw: &[u8],
) -> bool {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    for entry in entries(raw) {
        if !write_entry(target, source, cursor_file, cursor, skip, entry).await {
            return false;
        }
    }
    true
}

/// One log entry: its timestamp (as parsed and as sent) and its bytes.
type Entry<'a> = (Option<Timestamp>, &'a [u8], Option<&'a str>);

/// The entries of one physical line. A container line longer than the runtime's 16 KiB entry limit is stored
/// as several entries; with timestamps the kubelet writes them one after the other on the same line, each
/// with its own timestamp, so a timestamp right after a full-size entry starts the next entry.
fn entries(raw: &[u8]) -> Vec<Entry<'_>> {
    let mut found = Vec::new();
    let (mut stamp, mut rest, mut stamp_text) = split_timestamp(raw);
    while stamp.is_some() && rest.len() > MAX_LINE_BYTES {
        let (next_stamp, next_rest, next_text) = split_timestamp(&rest[MAX_LINE_BYTES..]);
        if next_stamp.is_none() {
            break;
        }
        found.push((stamp, &rest[..MAX_LINE_BYTES], stamp_text));
        (stamp, rest, stamp_text) = (next_stamp, next_rest, next_text);
    }
    found.push((stamp, rest, stamp_text));
    found
}

/// Writes one entry unless it was written before; `false` once the byte budget is spent.
async fn write_entry(
    target: &CopyTarget,
    source: &Source,
    cursor_file: &Path,
    cursor: &mut Cursor,
    skip: &mut u64,
    (stamp, text, stamp_text): Entry<'_>,
) -> bool {
    if let (Some(stamp), Some(last)) = (stamp, cursor.last) {
        if stamp < last {
            return true;
        }
        if stamp == last && *skip > 0 {
            // An entry of the last timestamp written, delivered again after a resume.
            *skip -= 1;
            return true;
        }
    }
    let text = String::from_utf8_lossy(text);
    let mut out = String::with_capacity(text.len() + source.prefix.len() + 40);
    for piece in split_long(&text) {
        out.push_str(&source.prefix);
        if target.timestamps
            && let Some(stamp_text) = stamp_text
        {
            out.push_str(stamp_text);
            out.push(' ');
        }
        out.push_str(piece);
        out.push('\n');
    }
    if !target.budget.take(out.len(), &target.log) {
        return false;
    }
    target.log.raw(out.as_bytes());
    if let Some(stamp) = stamp {
        advance(cursor, stamp);
        write_cursor(cursor_file, cursor).await;
    }
    true
}

fn advance(cursor: &mut Cursor, stamp: Timestamp) {
    if cursor.last == Some(stamp) {
        cursor.count_at_last += 1;
    } else {
        cursor.last = Some(stamp);
        cursor.count_at_last = 1;
    }
}

/// Splits `<RFC 3339 timestamp> <text>`; a line without a parsable timestamp is all text.
fn split_timestamp(raw: &[u8]) -> (Option<Timestamp>, &[u8], Option<&str>) {
    if let Some(space) = raw.iter().position(|byte| *byte == b' ')
        && let Ok(stamp_text) = std::str::from_utf8(&raw[..space])
        && let Ok(stamp) = stamp_text.parse::<Timestamp>()
    {
        return (Some(stamp), &raw[space + 1..], Some(stamp_text));
    }
    (None, raw, None)
}

/// `text` in pieces of at most [`MAX_LINE_BYTES`], cut at character boundaries.
fn split_long(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > MAX_LINE_BYTES {
        let mut cut = MAX_LINE_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    pieces.push(rest);
    pieces
}

async fn read_cursor(path: &Path) -> Cursor {
    let Ok(text) = tokio::fs::read_to_string(path).await else {
        return Cursor::default();
    };
    let mut parts = text.split_whitespace();
    let last = parts.next().and_then(|stamp| stamp.parse::<Timestamp>().ok());
    let count_at_last = parts.next().and_then(|count| count.parse().ok()).unwrap_or(0);
    Cursor {
        last,
        count_at_last: if last.is_some() { count_at_last } else { 0 },
    }
}

async fn write_cursor(path: &Path, cursor: &Cursor) {
    let Some(last) = cursor.last else { return };
    let text = format!("{last} {}\n", cursor.count_at_last);
    if let Some(directory) = path.parent() {
        let _ = tokio::fs::create_dir_all(directory).await;
    }
    // Written in place: the file is tiny and a torn write only costs re-copying lines of one second.
    if let Err(error) = tokio::fs::write(path, text).await {
        tracing::debug!(path = %path.display(), %error, "cannot write log cursor");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_split_from_the_text() {
        let check = |raw: &str, stamp: Option<&str>, text: &str| {
            let (parsed, rest, shown) = split_timestamp(raw.as_bytes());
            assert_eq!(parsed.map(|s| s.to_string()), stamp.map(str::to_owned), "{raw}");
            assert_eq!(shown.is_some(), stamp.is_some(), "{raw}");
            assert_eq!(rest, text.as_bytes(), "{raw}");
        };
        check(
            "2024-05-01T10:00:00.123456789Z hello world",
            Some("2024-05-01T10:00:00.123456789Z"),
            "hello world",
        );
        check("2024-05-01T10:00:00Z ", Some("2024-05-01T10:00:00Z"), "");
        check("no timestamp here", None, "no timestamp here");
        check("", None, "");
    }

    #[test]
    fn entries_of_a_long_line_carry_their_own_timestamps() {
        let first = "x".repeat(MAX_LINE_BYTES);
        let raw = format!("2024-05-01T10:00:00.1Z {first}2024-05-01T10:00:00.2Z tail");
        let found = entries(raw.as_bytes());
        let shown: Vec<(Option<&str>, usize)> = found
            .iter()
            .map(|(_, text, stamp)| (*stamp, text.len()))
            .collect();
        assert_eq!(
            shown,
            [
                (Some("2024-05-01T10:00:00.1Z"), MAX_LINE_BYTES),
                (Some("2024-05-01T10:00:00.2Z"), 4)
            ]
        );
        // Text that merely is long stays one entry (split later, without timestamps to strip).
        let plain = format!("2024-05-01T10:00:00.1Z {first}more");
        assert_eq!(entries(plain.as_bytes()).len(), 1);
    }

    #[test]
    fn long_lines_are_split_at_character_boundaries() {
        assert_eq!(split_long("short"), ["short"]);
        let long = "é".repeat(MAX_LINE_BYTES);
        let pieces = split_long(&long);
        assert_eq!(pieces.concat(), long);
        assert!(pieces.iter().all(|piece| piece.len() <= MAX_LINE_BYTES));
        assert_eq!(pieces.len(), 2);
    }

    #[test]
    fn cursor_counts_lines_sharing_a_timestamp() {
        let first: Timestamp = "2024-05-01T10:00:00.5Z".parse().unwrap();
        let second: Timestamp = "2024-05-01T10:00:01Z".parse().unwrap();
        let mut cursor = Cursor::default();
        advance(&mut cursor, first);
        advance(&mut cursor, first);
        assert_eq!((cursor.last, cursor.count_at_last), (Some(first), 2));
        advance(&mut cursor, second);
        assert_eq!((cursor.last, cursor.count_at_last), (Some(second), 1));
    }

    #[tokio::test]
    async fn cursor_files_round_trip() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("nested").join("pod_main");
        assert_eq!(read_cursor(&path).await, Cursor::default());
        let cursor = Cursor {
            last: Some("2024-05-01T10:00:00.25Z".parse().unwrap()),
            count_at_last: 3,
        };
        write_cursor(&path, &cursor).await;
        assert_eq!(read_cursor(&path).await, cursor);
    }
}
