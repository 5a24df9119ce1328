//! Execution log files, a product feature of their own: one file per execution at
//! `<logpath>/yyyy-MM-dd/<logId>.log` (the trigger date in the executor's local time zone, as upstream), lines
//! in upstream's `yyyy-MM-dd HH:mm:ss [<source>]-[<line>]-[<thread>] <text>` format ([`ExecutionLog`]),
//! written by one writer thread per executor ([`LogWriter`]), incremental reads for `/log` with both
//! generations' line numbering, and retention cleanup by days.
//!
//! Diagnostics of the executor itself go through `tracing`, never into these files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Local, NaiveDate, TimeZone};
use xjob_protocol::{LogId, LogResult, message};

/// Where one execution's log lines go. `Clone + Send + Sync + 'static`; every clone appends to the same file.
///
/// Lines are handed to the executor's log writer thread, which appends them in the order they were logged,
/// each line whole, so lines from concurrent tasks never interleave within a line. Logging never waits for
/// the disk unless the writer is far behind; the execution's result is reported only after every line it
/// logged before returning is in the file.
#[derive(Clone, Debug)]
pub struct ExecutionLog(Arc<LogInner>);

#[derive(Debug)]
struct LogInner {
    path: PathBuf,
    thread_name: String,
    writer: LogWriter,
    /// Opened by the writer thread with the first line and closed when the last handle is gone.
    file: Mutex<Option<File>>,
    /// Set after the first write failure, so a broken disk is reported once per execution, not per line.
    failed: AtomicBool,
}

/// The executor's log writer: one thread that performs every execution-log append, so file creation and
/// writes never block the async runtime. Cheap to clone; the thread ends when the last clone (and the last
/// [`ExecutionLog`]) is gone and the queue is written.
#[derive(Clone, Debug)]
pub(crate) struct LogWriter {
    sender: SyncSender<Command>,
}

/// Work for the writer thread, performed in the order it was queued.
enum Command {
    /// Bytes for an execution's file.
    Append { log: Arc<LogInner>, bytes: Vec<u8> },
    /// One line for the file at `path`, opened and closed for it (callback outcomes after the execution).
    AppendToPath { path: PathBuf, bytes: Vec<u8> },
    /// Runs once everything queued before it is written.
    Then(Box<dyn FnOnce() + Send>),
}

/// Commands the writer may hold before logging waits for it (about 10 MB of typical lines). The bound gives
/// a disk slower than the jobs' output the back-pressure a synchronous write would.
const WRITER_QUEUE: usize = 65_536;

/// Commands the writer takes per round; appends to one file within a round become one `write`.
const WRITER_ROUND: usize = 256;

/// Which `toLineNum` a `/log` reply carries when nothing new exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineNumbering {
    /// G1: the file's total line count.
    TotalLines,
    /// G2/G3: the last line returned, 0 when none.
    LastReturned,
}

/// A `/log` reply stops collecting lines at this size; the admin asks again from the next line. Upstream has
/// no limit, which lets one huge log exhaust the executor's memory.
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

impl ExecutionLog {
    /// A log for the execution `log_id` triggered at `log_date_time` (epoch ms), below `root`. The file and
    /// its directory are created with the first line.
    pub(crate) fn new(
        writer: &LogWriter,
        root: &Path,
        log_date_time: i64,
        log_id: LogId,
        thread_name: String,
    ) -> Self {
        ExecutionLog(Arc::new(LogInner {
            path: log_file_path(root, log_date_time, log_id),
            thread_name,
            writer: writer.clone(),
            file: Mutex::new(None),
            failed: AtomicBool::new(false),
        }))
    }

    /// Appends one line, prefixed with the local time, the caller's source location and the job thread's
    /// name. Embedded newlines become several physical lines, as upstream. Never panics; a failing disk is
    /// reported through `tracing` once.
    #[track_caller]
    pub fn line(&self, text: &str) {
        let caller = Location::caller();
        let formatted = format!(
            "{} [{}]-[{}]-[{}] {}\n",
            Local::now().format("%Y-%m-%d %H:%M:%S"),
            caller.file(),
            caller.line(),
            self.0.thread_name,
            text
        );
        self.append(formatted.into_bytes());
    }

    /// Appends raw bytes (e.g. a child process's output) without any prefix.
    pub fn raw(&self, bytes: &[u8]) {
        self.append(bytes.to_vec());
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    fn append(&self, bytes: Vec<u8>) {
        self.0.writer.send(Command::Append {
            log: Arc::clone(&self.0),
            bytes,
        });
    }
}

impl LogWriter {
    /// Starts the writer thread.
    pub(crate) fn start() -> io::Result<Self> {
        let (sender, receiver) = mpsc::sync_channel(WRITER_QUEUE);
        std::thread::Builder::new()
            .name("xjob-log-writer".to_owned())
            .spawn(move || write_until_closed(&receiver))?;
        Ok(LogWriter { sender })
    }

    /// Appends one line, formatted like the execution's own with the caller's location, to the log file at
    /// `path` (callback outcomes after the execution).
    #[track_caller]
    pub(crate) fn append_line(&self, path: PathBuf, text: &str) {
        let caller = Location::caller();
        let line = format!(
            "{} [{}]-[{}]-[xxl-job, executor callback] {}\n",
            Local::now().format("%Y-%m-%d %H:%M:%S"),
            caller.file(),
            caller.line(),
            text
        );
        self.send(Command::AppendToPath {
            path,
            bytes: line.into_bytes(),
        });
    }

    /// Runs `action` on the writer thread once everything queued so far is written.
    pub(crate) fn then(&self, action: impl FnOnce() + Send + 'static) {
        self.send(Command::Then(Box::new(action)));
    }

    /// Waits until everything queued so far is written.
    pub(crate) async fn flush(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        self.then(move || {
            let _ = done.send(());
        });
        let _ = written.await;
    }

    fn send(&self, command: Command) {
        // The writer thread only ends once every sender is gone, so a send can fail only if the thread died
        // of a panic; then the command is written here instead, so nothing is lost.
        if let Err(mpsc::SendError(command)) = self.sender.send(command) {
            let mut round = Round::default();
            round.take(command);
            round.finish();
        }
    }
}

/// The writer thread: takes what is queued, a round at a time, until every sender is gone.
fn write_until_closed(receiver: &Receiver<Command>) {
    while let Ok(first) = receiver.recv() {
        let mut round = Round::default();
        round.take(first);
        while round.taken < WRITER_ROUND {
            match receiver.try_recv() {
                Ok(command) => round.take(command),
                Err(_) => break,
            }
        }
        round.finish();
    }
}

/// One round of commands. Appends are gathered per file, in order, and written before the next path append
/// or action, so the order every reader and callback sees is the order of the queue.
#[derive(Default)]
struct Round {
    pending: Vec<(Arc<LogInner>, Vec<u8>)>,
    taken: usize,
}

impl Round {
    fn take(&mut self, command: Command) {
        self.taken += 1;
        match command {
            Command::Append { log, bytes } => {
                match self
                    .pending
                    .iter_mut()
                    .find(|(known, _)| Arc::ptr_eq(known, &log))
                {
                    Some((_, gathered)) => gathered.extend_from_slice(&bytes),
                    None => self.pending.push((log, bytes)),
                }
            }
            Command::AppendToPath { path, bytes } => {
                self.finish();
                if let Err(error) = open_append(&path).and_then(|mut file| file.write_all(&bytes)) {
                    tracing::debug!(path = %path.display(), %error, "cannot append callback line to execution log");
                }
            }
            Command::Then(action) => {
                self.finish();
                action();
            }
        }
    }

    /// Writes the gathered appends.
    fn finish(&mut self) {
        for (log, bytes) in self.pending.drain(..) {
            log.write(&bytes);
        }
    }
}

impl LogInner {
    fn write(&self, bytes: &[u8]) {
        // Only the writer thread takes this lock; a panic while holding it cannot leave the file in a state
        // worse than a partial line.
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = match file.as_mut() {
            Some(open) => open.write_all(bytes),
            None => open_append(&self.path).and_then(|mut opened| {
                let written = opened.write_all(bytes);
                *file = Some(opened);
                written
            }),
        };
        if let Err(error) = result
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(path = %self.path.display(), %error, "cannot write execution log");
        }
    }
}

/// `<root>/yyyy-MM-dd/<logId>.log`, the date being `log_date_time` in the local time zone.
pub(crate) fn log_file_path(root: &Path, log_date_time: i64, log_id: LogId) -> PathBuf {
    let date = Local
        .timestamp_millis_opt(log_date_time)
        .single()
        .unwrap_or_else(|| DateTime::<chrono::Utc>::UNIX_EPOCH.with_timezone(&Local));
    root.join(date.format("%Y-%m-%d").to_string())
        .join(format!("{log_id}.log"))
}

/// Reads the lines of `path` from `from_line_num` (1-based) to the end of the file, for `/log`. Blocking: call
/// it from `spawn_blocking`.
pub(crate) fn read_page(path: &Path, from_line_num: i32, numbering: LineNumbering) -> LogResult {
    let Ok(file) = File::open(path) else {
        return LogResult {
            from_line_num,
            to_line_num: 0,
            log_content: message::LOG_FILE_NOT_EXISTS.to_owned(),
            is_end: true,
        };
    };
    let mut content = String::new();
    let mut line_number: i32 = 0;
    let mut last_returned: i32 = 0;
    let mut full = false;
    let mut reader = BufReader::new(file);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        line_number = line_number.saturating_add(1);
        if full || line_number < from_line_num {
            if full && numbering == LineNumbering::LastReturned {
                break;
            }
            continue;
        }
        let text = String::from_utf8_lossy(&buffer);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        content.push_str(text);
        content.push('\n');
        last_returned = line_number;
        full = content.len() >= MAX_PAGE_BYTES;
    }
    let to_line_num = match numbering {
        // A capped page must not claim lines it did not return, whatever the generation.
        LineNumbering::TotalLines if !full => line_number,
        LineNumbering::TotalLines | LineNumbering::LastReturned => last_returned,
    };
    LogResult {
        from_line_num,
        to_line_num,
        log_content: content,
        is_end: false,
    }
}

/// Whether a dated log directory is past retention: upstream HEAD keeps it `days` full days after its date.
pub(crate) fn expired(directory_date: NaiveDate, today: NaiveDate, days: u32) -> bool {
    directory_date
        .checked_add_days(chrono::Days::new(u64::from(days)))
        .is_some_and(|keep_until| today > keep_until)
}

/// Deletes every dated directory under `root` past retention; returns how many were removed. Directories
/// whose names are not dates (`gluesource`, `callbacklogs`) are never touched. Blocking.
pub(crate) fn clean_up(root: &Path, days: u32, today: NaiveDate) -> usize {
    let Ok(entries) = fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
        let name = entry.file_name();
        let Some(date) = name
            .to_str()
            .filter(|name| name.contains('-'))
            .and_then(|name| NaiveDate::parse_from_str(name, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if is_dir && expired(date, today, days) {
            match fs::remove_dir_all(entry.path()) {
                Ok(()) => removed += 1,
                Err(error) => {
                    tracing::warn!(path = %entry.path().display(), %error, "cannot remove old log directory")
                }
            }
        }
    }
    removed
}

/// Opens `path` for appending, creating it, and its directory when missing. The directory exists for all
/// but the first file of a day, so it is created only when the open says it is missing (retention may also
/// have removed it meanwhile).
fn open_append(path: &Path) -> io::Result<File> {
    let open = || OpenOptions::new().create(true).append(true).open(path);
    match open() {
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            open()
        }
        opened => opened,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_lines(lines: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let mut text = String::new();
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn pages_by_line_number() {
        use LineNumbering::*;
        let (_dir, path) = write_lines(&["a", "b", "c"]);
        // (from, numbering, to, content)
        let table = [
            (1, TotalLines, 3, "a\nb\nc\n"),
            (1, LastReturned, 3, "a\nb\nc\n"),
            (2, LastReturned, 3, "b\nc\n"),
            (3, TotalLines, 3, "c\n"),
            (4, TotalLines, 3, ""),
            (4, LastReturned, 0, ""),
            (9, LastReturned, 0, ""),
            (0, LastReturned, 3, "a\nb\nc\n"),
        ];
        for (from, numbering, to, content) in table {
            let page = read_page(&path, from, numbering);
            assert_eq!(
                page,
                LogResult {
                    from_line_num: from,
                    to_line_num: to,
                    log_content: content.to_owned(),
                    is_end: false
                },
                "{from} {numbering:?}"
            );
        }
    }

    #[test]
    fn missing_file_ends_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let page = read_page(&dir.path().join("nope.log"), 5, LineNumbering::LastReturned);
        assert_eq!(page.to_line_num, 0);
        assert_eq!(page.log_content, "readLog fail, logFile not exists");
        assert!(page.is_end);
        assert_eq!(page.from_line_num, 5);
    }

    #[test]
    fn lines_are_prefixed_and_split() {
        let dir = tempfile::tempdir().unwrap();
        let writer = LogWriter::start().unwrap();
        let log = ExecutionLog::new(
            &writer,
            dir.path(),
            0,
            LogId(7),
            "xxl-job, JobThread-1-2".to_owned(),
        );
        log.line("hello");
        log.clone().line("two\nlines");
        flush(&writer);
        let text = fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].ends_with("]-[xxl-job, JobThread-1-2] hello"),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].contains("[crates/executor/src/execution_log.rs]-["),
            "{}",
            lines[0]
        );
        assert_eq!(lines[2], "lines");
        // `yyyy-MM-dd HH:mm:ss ` prefix.
        assert_eq!(lines[0].as_bytes()[4], b'-');
        assert_eq!(lines[0].as_bytes()[13], b':');
        assert_eq!(log.path().file_name().unwrap(), "7.log");
    }

    /// Waits, from a plain test thread, until the writer has written what was queued.
    fn flush(writer: &LogWriter) {
        let (done, written) = mpsc::channel();
        writer.then(move || done.send(()).unwrap());
        written.recv().unwrap();
    }

    #[test]
    fn appends_keep_their_order_across_files_and_actions() {
        let dir = tempfile::tempdir().unwrap();
        let writer = LogWriter::start().unwrap();
        let first = ExecutionLog::new(&writer, dir.path(), 0, LogId(1), "t1".to_owned());
        let second = ExecutionLog::new(&writer, dir.path(), 0, LogId(2), "t2".to_owned());
        let seen = Arc::new(Mutex::new(Vec::new()));
        for round in 0..300 {
            first.raw(format!("a{round}\n").as_bytes());
            second.raw(format!("b{round}\n").as_bytes());
            if round % 100 == 99 {
                // An action sees everything queued before it in the files.
                let (path, seen) = (first.path().to_owned(), Arc::clone(&seen));
                writer.then(move || {
                    seen.lock()
                        .unwrap()
                        .push(fs::read_to_string(path).unwrap().lines().count())
                });
            }
        }
        writer.append_line(first.path().to_owned(), "after");
        flush(&writer);
        let text = fs::read_to_string(first.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 301);
        for (round, line) in lines[..300].iter().enumerate() {
            assert_eq!(*line, format!("a{round}"));
        }
        assert!(
            lines[300].ends_with("]-[xxl-job, executor callback] after"),
            "{}",
            lines[300]
        );
        assert_eq!(fs::read_to_string(second.path()).unwrap().lines().count(), 300);
        assert_eq!(*seen.lock().unwrap(), [100, 200, 300]);
    }

    #[test]
    fn a_removed_day_directory_is_created_again() {
        let dir = tempfile::tempdir().unwrap();
        let writer = LogWriter::start().unwrap();
        let first = ExecutionLog::new(&writer, dir.path(), 0, LogId(1), "t".to_owned());
        first.line("one");
        flush(&writer);
        let day = first.path().parent().unwrap().to_owned();
        fs::remove_dir_all(&day).unwrap();
        let second = ExecutionLog::new(&writer, dir.path(), 0, LogId(2), "t".to_owned());
        second.line("two");
        flush(&writer);
        assert!(fs::read_to_string(second.path()).unwrap().ends_with("] two\n"));
    }

    #[test]
    fn retention_rule() {
        let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
        // (directory, today, days, expired)
        let table = [
            ("2026-06-01", "2026-06-05", 3, true),
            ("2026-06-01", "2026-06-04", 3, false),
            ("2026-06-01", "2026-06-04", 30, false),
            ("2026-05-01", "2026-06-01", 30, true),
        ];
        for (directory, today, days, expected) in table {
            assert_eq!(
                expired(date(directory), date(today), days),
                expected,
                "{directory} {today}"
            );
        }
    }

    #[test]
    fn clean_up_removes_only_old_dated_directories() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "2026-01-01",
            "2026-06-10",
            "gluesource",
            "callbacklogs",
            "not-a-date",
        ] {
            fs::create_dir(dir.path().join(name)).unwrap();
        }
        fs::write(dir.path().join("2026-01-02"), "a file, not a directory").unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 6, 11).unwrap();
        assert_eq!(clean_up(dir.path(), 30, today), 1);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "2026-01-02",
                "2026-06-10",
                "callbacklogs",
                "gluesource",
                "not-a-date"
            ]
        );
    }
}
