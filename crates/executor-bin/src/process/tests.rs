use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use xjob_test_support::wait_until;

use super::*;

/// Collects the lines a child process printed.
#[derive(Default)]
pub(crate) struct RecordedLines(Mutex<Vec<String>>);

impl RecordedLines {
    pub(crate) fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub(crate) fn contains(&self, wanted: &str) -> bool {
        self.0.lock().unwrap().iter().any(|line| line == wanted)
    }
}

impl LogSink for RecordedLines {
    fn line(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_owned());
    }
}

/// Runs `command` on its own task; returns the task, the recorded output and the token that cancels it.
fn spawn_run(
    command: ProcessCommand,
) -> (
    tokio::task::JoinHandle<io::Result<ProcessOutcome>>,
    Arc<RecordedLines>,
    CancellationToken,
) {
    let sink = Arc::new(RecordedLines::default());
    let cancel = CancellationToken::new();
    let run = {
        let sink: Arc<dyn LogSink> = sink.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { command.run(sink, &cancel).await })
    };
    (run, sink, cancel)
}

/// Whether a process is still running. A zombie counts as gone: it runs nothing, and reaping orphans is the
/// business of whoever is process 1 on the machine.
pub(crate) fn process_running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start().chars().next();
            state != Some('Z')
        }
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn bash(script: &str) -> ProcessCommand {
    ProcessCommand::new("bash").arg("-c").arg(script)
}

fn split(max: usize, chunks: &[&[u8]]) -> Vec<String> {
    let mut splitter = LineSplitter::new(max);
    let mut lines = Vec::new();
    for chunk in chunks {
        splitter.push(chunk, &mut |line| lines.push(line.to_owned()));
    }
    splitter.finish(&mut |line| lines.push(line.to_owned()));
    lines
}

#[test]
fn line_splitting() {
    fn check(max: usize, chunks: &[&[u8]], expected: &[&str]) {
        assert_eq!(split(max, chunks), expected, "{chunks:?}");
    }
    check(100, &[b"a\nb\n"], &["a", "b"]);
    check(100, &[b"a\r\nb"], &["a", "b"]);
    check(100, &[b"par", b"tial\nnext"], &["partial", "next"]);
    check(100, &[b"\n\n"], &["", ""]);
    check(100, &[b""], &[]);
    check(4, &[b"abcdefgh\nxy\n"], &["abcd [... 4 more bytes]", "xy"]);
    check(4, &[b"ab", b"cdef", b"gh"], &["abcd [... 4 more bytes]"]);
    check(100, &[b"caf\xc3\xa9 \xff\n"], &["café \u{fffd}"]);
    // A cut in the middle of a character decodes to a replacement character, not an error.
    check(4, &[b"caf\xc3\xa9\n"], &["caf\u{fffd} [... 1 more bytes]"]);
}

#[tokio::test]
async fn output_and_exit_code() {
    let sink = Arc::new(RecordedLines::default());
    let outcome = bash("echo one; echo two >&2; printf 'no newline'; exit 7")
        .run(sink.clone(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome, ProcessOutcome::Exited(7));
    let mut lines = sink.lines();
    lines.sort();
    assert_eq!(lines, ["no newline", "one", "two"]);
}

#[tokio::test]
async fn death_by_signal_is_128_plus_signal() {
    let sink = Arc::new(RecordedLines::default());
    let outcome = bash("kill -9 $$")
        .run(sink, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome, ProcessOutcome::Exited(128 + 9));
}

#[tokio::test]
async fn missing_program_is_a_start_error() {
    let sink = Arc::new(RecordedLines::default());
    let error = ProcessCommand::new("xjob-no-such-program")
        .run(sink, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
}

#[tokio::test]
async fn huge_output_streams_with_bounded_lines() {
    let sink = Arc::new(RecordedLines::default());
    // 20 000 short lines and one line of 1 MiB without a newline in between.
    let script =
        "for i in $(seq 1 20000); do echo \"line $i\"; done; head -c 1048576 /dev/zero | tr '\\0' x; echo";
    let outcome = bash(script)
        .run(sink.clone(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome, ProcessOutcome::Exited(0));
    let lines = sink.lines();
    assert_eq!(lines.len(), 20_001);
    assert_eq!(lines[19_999], "line 20000");
    let long = &lines[20_000];
    assert_eq!(
        long.len(),
        MAX_LINE_BYTES + format!(" [... {} more bytes]", 1_048_576 - MAX_LINE_BYTES).len()
    );
    assert!(long.ends_with(&format!(" [... {} more bytes]", 1_048_576 - MAX_LINE_BYTES)));
}

#[tokio::test]
async fn output_arrives_while_the_process_runs() {
    let (run, sink, cancel) = spawn_run(bash("echo early; sleep 30"));
    assert!(wait_until(Duration::from_secs(10), || async { sink.contains("early") }).await);
    cancel.cancel();
    assert_eq!(run.await.unwrap().unwrap(), ProcessOutcome::Cancelled);
}

#[tokio::test]
async fn cancel_kills_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!("sleep 300 & echo $! > {}; echo started; wait", pid_file.display());
    let (run, sink, cancel) = spawn_run(bash(&script).kill_grace(Duration::from_secs(5)));
    assert!(wait_until(Duration::from_secs(10), || async { sink.contains("started") }).await);
    let grandchild = read_pid(&pid_file).unwrap();
    assert!(process_running(grandchild));

    cancel.cancel();
    assert_eq!(run.await.unwrap().unwrap(), ProcessOutcome::Cancelled);
    assert!(wait_until(Duration::from_secs(5), || async { !process_running(grandchild) }).await);
}

#[tokio::test]
async fn cancel_escalates_to_sigkill_when_sigterm_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!(
        "trap '' TERM; sleep 300 & echo $! > {}; echo started; wait; wait",
        pid_file.display()
    );
    let (run, sink, cancel) = spawn_run(bash(&script).kill_grace(Duration::from_millis(300)));
    assert!(wait_until(Duration::from_secs(10), || async { sink.contains("started") }).await);
    let grandchild = read_pid(&pid_file).unwrap();

    cancel.cancel();
    assert_eq!(run.await.unwrap().unwrap(), ProcessOutcome::Cancelled);
    assert!(wait_until(Duration::from_secs(5), || async { !process_running(grandchild) }).await);
}

#[tokio::test]
async fn leftovers_are_stopped_when_the_process_exits() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!("sleep 300 & echo $! > {}; exit 3", pid_file.display());
    let sink = Arc::new(RecordedLines::default());
    let outcome = bash(&script)
        .kill_grace(Duration::from_secs(5))
        .run(sink.clone(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome, ProcessOutcome::Exited(3));
    let grandchild = read_pid(&pid_file).unwrap();
    assert!(wait_until(Duration::from_secs(5), || async { !process_running(grandchild) }).await);
    assert!(sink.lines().iter().any(|line| line.contains("left running")));
}

#[tokio::test]
async fn dropping_a_run_kills_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!("sleep 300 & echo $! > {}; echo started; wait", pid_file.display());
    let sink = Arc::new(RecordedLines::default());
    let cancel = CancellationToken::new();
    let run = {
        let sink: Arc<dyn LogSink> = sink.clone();
        tokio::spawn(async move { bash(&script).run(sink, &cancel).await })
    };
    assert!(wait_until(Duration::from_secs(10), || async { sink.contains("started") }).await);
    let grandchild = read_pid(&pid_file).unwrap();
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    assert!(wait_until(Duration::from_secs(5), || async { !process_running(grandchild) }).await);
}
