//! Container log buffers and the `pods/log` reader: lines are stored as raw bytes with the time they were
//! captured, and read back with the kubelet's options (`follow`, `timestamps`, `sinceTime`, `sinceSeconds`,
//! `tailLines`, `limitBytes`). Capturing process output lives in `kubelet`; HTTP framing in `api`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use crate::time;

/// One captured line, including its trailing newline when the process wrote one.
#[derive(Debug, Clone)]
pub(crate) struct LogLine {
    pub(crate) at: DateTime<Utc>,
    pub(crate) data: Bytes,
}

/// The output of one run of one container.
#[derive(Debug)]
pub(crate) struct LogBuffer {
    state: Mutex<LogState>,
    changed: watch::Sender<u64>,
}

#[derive(Debug)]
struct LogState {
    lines: VecDeque<LogLine>,
    /// Lines dropped from the front to respect `limit`; line `i` of the whole run is `lines[i - dropped]`.
    dropped: usize,
    bytes: usize,
    limit: usize,
    finished: bool,
}

impl LogBuffer {
    pub(crate) fn new(limit: usize) -> Self {
        let (changed, _) = watch::channel(0);
        Self {
            state: Mutex::new(LogState {
                lines: VecDeque::new(),
                dropped: 0,
                bytes: 0,
                limit,
                finished: false,
            }),
            changed,
        }
    }

    fn state(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, at: DateTime<Utc>, data: Bytes) {
        let mut state = self.state();
        state.bytes += data.len();
        state.lines.push_back(LogLine { at, data });
        while state.bytes > state.limit && state.lines.len() > 1 {
            if let Some(old) = state.lines.pop_front() {
                state.bytes -= old.data.len();
                state.dropped += 1;
            }
        }
        drop(state);
        self.changed.send_modify(|version| *version += 1);
    }

    /// Marks the run as over: followers end once they have read everything.
    pub(crate) fn finish(&self) {
        self.state().finished = true;
        self.changed.send_modify(|version| *version += 1);
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Lines from absolute index `from` on, the index after them, and whether the run has ended.
    fn read_from(&self, from: usize) -> (Vec<LogLine>, usize, bool) {
        let state = self.state();
        let start = from.max(state.dropped);
        let lines: Vec<LogLine> = state.lines.iter().skip(start - state.dropped).cloned().collect();
        (lines, state.dropped + state.lines.len(), state.finished)
    }

    /// The last lines, at most `max_lines` lines and `max_bytes` bytes (the termination-message fallback).
    pub(crate) fn tail_text(&self, max_lines: usize, max_bytes: usize) -> String {
        let state = self.state();
        let mut collected: Vec<u8> = Vec::new();
        for line in state.lines.iter().rev().take(max_lines) {
            if collected.len() + line.data.len() > max_bytes {
                let room = max_bytes - collected.len();
                let mut joined = line.data[line.data.len() - room..].to_vec();
                joined.extend_from_slice(&collected);
                collected = joined;
                break;
            }
            let mut joined = line.data.to_vec();
            joined.extend_from_slice(&collected);
            collected = joined;
        }
        String::from_utf8_lossy(&collected).into_owned()
    }
}

/// What a `pods/log` request asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogQuery {
    pub(crate) follow: bool,
    pub(crate) timestamps: bool,
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) tail_lines: Option<usize>,
    pub(crate) limit_bytes: Option<usize>,
}

/// Sent to open log streams by the handle: a release ends held-open streams, `everyone` ends all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct LogSignal {
    pub(crate) generation: u64,
    pub(crate) everyone: bool,
}

/// Reader-side knobs set by faults.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamFaults {
    /// End the stream after this many lines even if more would follow.
    pub(crate) cut_after_lines: Option<usize>,
    /// Keep a follow stream open after the run ended, until released.
    pub(crate) hold_open: bool,
}

/// Everything a finished (non-follow) read returns.
pub(crate) fn read_all(buffer: &LogBuffer, query: &LogQuery, faults: &StreamFaults) -> Bytes {
    let (lines, _, _) = buffer.read_from(0);
    let mut writer = Writer::new(query, faults);
    for line in select_start(&lines, query) {
        if !writer.write(line) {
            break;
        }
    }
    writer.output.freeze()
}

/// Follows a run: sends chunks until the run ends (or a fault cuts it), the receiver goes away, or `stop`
/// resolves. `release` ends a held-open stream.
pub(crate) async fn follow(
    buffer: std::sync::Arc<LogBuffer>,
    query: LogQuery,
    faults: StreamFaults,
    sink: mpsc::Sender<Bytes>,
    stop: tokio_util::sync::CancellationToken,
    mut release: watch::Receiver<LogSignal>,
) {
    let mut changed = buffer.subscribe();
    let (initial, mut next_index, mut finished) = buffer.read_from(0);
    let mut writer = Writer::new(&query, &faults);
    let mut open = true;
    for line in select_start(&initial, &query) {
        if !writer.write(line) {
            open = false;
            break;
        }
    }
    loop {
        if !writer.output.is_empty() && sink.send(writer.output.split().freeze()).await.is_err() {
            return;
        }
        if !open || (finished && !faults.hold_open) {
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = sink.closed() => return,
            result = release.changed() => {
                if result.is_err() || faults.hold_open || release.borrow().everyone {
                    return;
                }
            }
            result = changed.changed(), if !finished => {
                if result.is_err() {
                    return;
                }
            }
        }
        let (lines, index, now_finished) = buffer.read_from(next_index);
        next_index = index;
        finished = now_finished;
        for line in &lines {
            if !writer.write(line) {
                open = false;
                break;
            }
        }
    }
}

/// Lines to start from: `sinceTime`/`sinceSeconds` first, then `tailLines` counted from the end.
fn select_start<'a>(lines: &'a [LogLine], query: &LogQuery) -> &'a [LogLine] {
    let after_since = match query.since {
        Some(since) => lines
            .iter()
            .position(|line| line.at >= since)
            .unwrap_or(lines.len()),
        None => 0,
    };
    let selected = &lines[after_since..];
    match query.tail_lines {
        Some(tail) if tail < selected.len() => &selected[selected.len() - tail..],
        _ => selected,
    }
}

/// Formats lines and enforces `limitBytes` and the line cut.
struct Writer {
    output: BytesMut,
    timestamps: bool,
    bytes_left: Option<usize>,
    lines_left: Option<usize>,
}

impl Writer {
    fn new(query: &LogQuery, faults: &StreamFaults) -> Self {
        Self {
            output: BytesMut::new(),
            timestamps: query.timestamps,
            bytes_left: query.limit_bytes,
            lines_left: faults.cut_after_lines,
        }
    }

    /// Writes one line; `false` once the stream must end.
    fn write(&mut self, line: &LogLine) -> bool {
        if self.lines_left == Some(0) || self.bytes_left == Some(0) {
            return false;
        }
        let mut formatted = BytesMut::new();
        if self.timestamps {
            formatted.extend_from_slice(time::log_prefix(line.at).as_bytes());
            formatted.extend_from_slice(b" ");
        }
        formatted.extend_from_slice(&line.data);
        if let Some(left) = &mut self.bytes_left {
            let take = formatted.len().min(*left);
            self.output.extend_from_slice(&formatted[..take]);
            *left -= take;
        } else {
            self.output.extend_from_slice(&formatted);
        }
        if let Some(left) = &mut self.lines_left {
            *left -= 1;
        }
        self.lines_left != Some(0) && self.bytes_left != Some(0)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn buffer_with(lines: &[&str]) -> LogBuffer {
        let buffer = LogBuffer::new(1 << 20);
        for (second, text) in lines.iter().enumerate() {
            let at = Utc
                .with_ymd_and_hms(2024, 1, 1, 0, 0, u32::try_from(second).unwrap())
                .unwrap();
            buffer.push(at, Bytes::from(format!("{text}\n")));
        }
        buffer
    }

    fn read(buffer: &LogBuffer, query: LogQuery, faults: StreamFaults) -> String {
        String::from_utf8(read_all(buffer, &query, &faults).to_vec()).unwrap()
    }

    #[test]
    fn query_options_select_lines() {
        let buffer = buffer_with(&["a", "b", "c", "d"]);
        assert_eq!(
            read(&buffer, LogQuery::default(), StreamFaults::default()),
            "a\nb\nc\nd\n"
        );
        let tail = LogQuery {
            tail_lines: Some(2),
            ..LogQuery::default()
        };
        assert_eq!(read(&buffer, tail, StreamFaults::default()), "c\nd\n");
        let since = LogQuery {
            since: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 1).single(),
            ..LogQuery::default()
        };
        assert_eq!(read(&buffer, since, StreamFaults::default()), "b\nc\nd\n");
        let limit = LogQuery {
            limit_bytes: Some(3),
            ..LogQuery::default()
        };
        assert_eq!(read(&buffer, limit, StreamFaults::default()), "a\nb");
        let stamped = LogQuery {
            timestamps: true,
            tail_lines: Some(1),
            ..LogQuery::default()
        };
        assert_eq!(
            read(&buffer, stamped, StreamFaults::default()),
            "2024-01-01T00:00:03.000000000Z d\n"
        );
        let cut = StreamFaults {
            cut_after_lines: Some(1),
            hold_open: false,
        };
        assert_eq!(read(&buffer, LogQuery::default(), cut), "a\n");
        let zero_tail = LogQuery {
            tail_lines: Some(0),
            ..LogQuery::default()
        };
        assert_eq!(read(&buffer, zero_tail, StreamFaults::default()), "");
    }

    #[test]
    fn retention_drops_oldest_lines() {
        let buffer = LogBuffer::new(4);
        for text in ["ab\n", "cd\n", "ef\n"] {
            buffer.push(Utc::now(), Bytes::from(text));
        }
        let (lines, next, finished) = buffer.read_from(0);
        assert_eq!(lines.len(), 1);
        assert_eq!(next, 3);
        assert!(!finished);
        assert_eq!(buffer.read_from(2).0.len(), 1);
    }

    #[test]
    fn tail_text_is_bounded() {
        let buffer = buffer_with(&["first", "second", "third"]);
        assert_eq!(buffer.tail_text(2, 100), "second\nthird\n");
        assert_eq!(buffer.tail_text(80, 8), "d\nthird\n");
    }

    #[tokio::test]
    async fn follow_ends_when_the_run_ends() {
        let buffer = std::sync::Arc::new(buffer_with(&["a"]));
        let (sender, mut receiver) = mpsc::channel(16);
        let (_release_sender, release) = watch::channel(LogSignal::default());
        let task = tokio::spawn(follow(
            buffer.clone(),
            LogQuery {
                follow: true,
                ..LogQuery::default()
            },
            StreamFaults::default(),
            sender,
            tokio_util::sync::CancellationToken::new(),
            release,
        ));
        assert_eq!(receiver.recv().await.unwrap(), Bytes::from("a\n"));
        buffer.push(Utc::now(), Bytes::from("b\n"));
        assert_eq!(receiver.recv().await.unwrap(), Bytes::from("b\n"));
        buffer.finish();
        assert_eq!(receiver.recv().await, None);
        task.await.unwrap();
    }
}
