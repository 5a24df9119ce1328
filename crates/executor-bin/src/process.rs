//! Child processes of the built-in handlers: start a program in its own process group, copy its stdout and
//! stderr line by line into an execution log while it runs, and make sure nothing of it outlives the job.
//!
//! What a job's output means (exit codes, result messages) is decided by the handlers, not here. Memory stays
//! bounded whatever the child prints: output is copied in fixed-size chunks and a line longer than
//! [`MAX_LINE_BYTES`] is cut, with a note of how much was dropped.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ACCESS_TOKEN_ENV;

/// The longest output line kept whole; the rest of a longer line is dropped and counted.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024;

/// How long a process group gets between SIGTERM and SIGKILL unless the command says otherwise.
pub(crate) const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);

/// How long output is still copied after the process group is gone. Only a process that left the group
/// (for example with `setsid`) but kept the pipes open can make copying last longer; it is not waited for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the group is probed while waiting for leftover members to react to SIGTERM.
const GROUP_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// An execution log: receives the handlers' own lines and the output of child processes, one line at a
/// time, as it arrives.
pub(crate) trait LogSink: Send + Sync + 'static {
    /// Records one line written by a handler (without line terminator).
    fn line(&self, text: &str);

    /// Records one line of a child process's output (without line terminator).
    fn output(&self, text: &str) {
        self.line(text);
    }
}

/// A program and its arguments, started with [`ProcessCommand::run`].
#[derive(Clone, Debug)]
pub(crate) struct ProcessCommand {
    program: OsString,
    args: Vec<OsString>,
    kill_grace: Duration,
}

/// How a child process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProcessOutcome {
    /// The process ended by itself. A death by signal counts as `128 + signal`, as shells report it.
    Exited(i32),
    /// The cancellation token tripped; the process group was terminated.
    Cancelled,
}

impl ProcessCommand {
    /// A command that runs `program`, looked up on `PATH` when it contains no slash.
    pub(crate) fn new(program: impl AsRef<OsStr>) -> Self {
        ProcessCommand {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            kill_grace: DEFAULT_KILL_GRACE,
        }
    }

    /// Appends one argument.
    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Sets the time between SIGTERM and SIGKILL when the process group has to be stopped.
    pub(crate) fn kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// Runs the command to its end, copying output into `sink`, and terminates its whole process group when
    /// `cancel` trips. Processes the command left behind in its group are terminated once it exits, so a job
    /// never leaves anything running.
    ///
    /// Returns an error only when the process cannot be started.
    pub(crate) async fn run(
        &self,
        sink: Arc<dyn LogSink>,
        cancel: &CancellationToken,
    ) -> io::Result<ProcessOutcome> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            // Scripts and commands come from the admin; they get the executor's environment, as upstream's
            // do, but not the token that lets anyone trigger jobs on this executor.
            .env_remove(ACCESS_TOKEN_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so that a signal to the group reaches every process the job starts.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the started process has no id"))?;
        let mut group = ProcessGroup::new(pid)?;

        let copies = [
            child.stdout.take().map(|out| spawn_copy(out, Arc::clone(&sink))),
            child.stderr.take().map(|err| spawn_copy(err, Arc::clone(&sink))),
        ];

        let outcome = tokio::select! {
            status = child.wait() => {
                let status = status?;
                if group.has_members() {
                    sink.line("----------- the job's process exited; stopping the processes it left running");
                    group.terminate(self.kill_grace, None).await;
                }
                ProcessOutcome::Exited(exit_code(status))
            }
            () = cancel.cancelled() => {
                group.terminate(self.kill_grace, Some(&mut child)).await;
                ProcessOutcome::Cancelled
            }
        };

        // Every member got SIGKILL or was gone; a later kill could only hit a reused process id.
        group.disarm();
        for copy in copies.into_iter().flatten() {
            finish_copy(copy).await;
        }
        Ok(outcome)
    }
}

/// The exit code a shell would report: the code, or 128 + the signal that ended the process.
fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => -1,
    }
}

/// A started process group. Dropping it kills whatever is left in the group, so a handler future that is
/// dropped mid-run (for example when the executor shuts down) leaves nothing behind either.
struct ProcessGroup {
    id: Pid,
    armed: bool,
}

impl ProcessGroup {
    fn new(leader: u32) -> io::Result<Self> {
        let id = i32::try_from(leader).map_err(|_| io::Error::other("process id out of range"))?;
        Ok(ProcessGroup {
            id: Pid::from_raw(id),
            armed: true,
        })
    }

    /// Stops the kill on drop once the group has been dealt with.
    fn disarm(&mut self) {
        self.armed = false;
    }

    /// Whether any process (zombies included) still belongs to the group.
    fn has_members(&self) -> bool {
        killpg(self.id, None).is_ok()
    }

    /// Sends SIGTERM to the group, waits up to `grace` for the leader (when still running) or for the group
    /// to empty, then sends SIGKILL to whatever is left.
    async fn terminate(&self, grace: Duration, leader: Option<&mut tokio::process::Child>) {
        self.signal(Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        match leader {
            Some(child) => {
                let _ = tokio::time::timeout_at(deadline, child.wait()).await;
            }
            None => {
                while self.has_members() && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(GROUP_POLL_INTERVAL).await;
                }
            }
        }
        self.signal(Signal::SIGKILL);
    }

    fn signal(&self, signal: Signal) {
        match killpg(self.id, signal) {
            // The group is already empty.
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(error) => {
                tracing::warn!(group = self.id.as_raw(), %signal, %error, "signalling a job's process group failed")
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // Only a run that was abandoned midway (its future dropped) gets here armed.
        if self.armed {
            let _ = killpg(self.id, Signal::SIGKILL);
        }
    }
}

fn spawn_copy(reader: impl AsyncRead + Unpin + Send + 'static, sink: Arc<dyn LogSink>) -> JoinHandle<()> {
    tokio::spawn(copy_lines(reader, sink))
}

/// Waits for one output copy to end, but not forever: see [`DRAIN_TIMEOUT`].
async fn finish_copy(mut copy: JoinHandle<()>) {
    if tokio::time::timeout(DRAIN_TIMEOUT, &mut copy).await.is_err() {
        copy.abort();
        tracing::debug!("output pipe still open after the job's process group ended; stopped copying");
    }
}

async fn copy_lines(mut reader: impl AsyncRead + Unpin, sink: Arc<dyn LogSink>) {
    let mut lines = LineSplitter::new(MAX_LINE_BYTES);
    let mut buffer = vec![0_u8; 8 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) => break,
            Ok(read) => lines.push(&buffer[..read], &mut |line| sink.output(line)),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::debug!(%error, "reading a job's output failed");
                break;
            }
        }
    }
    lines.finish(&mut |line| sink.output(line));
}

/// Cuts a byte stream into lines (`\n`, with a trailing `\r` removed), decoding each as lossy UTF-8 and
/// keeping at most `max` bytes of each line.
struct LineSplitter {
    pending: Vec<u8>,
    dropped: usize,
    max: usize,
}

impl LineSplitter {
    fn new(max: usize) -> Self {
        LineSplitter {
            pending: Vec::new(),
            dropped: 0,
            max,
        }
    }

    fn push(&mut self, mut data: &[u8], emit: &mut dyn FnMut(&str)) {
        while let Some(end) = data.iter().position(|&byte| byte == b'\n') {
            self.append(&data[..end]);
            self.flush(emit);
            data = &data[end + 1..];
        }
        self.append(data);
    }

    /// Emits a last line that had no terminator.
    fn finish(&mut self, emit: &mut dyn FnMut(&str)) {
        if !self.pending.is_empty() || self.dropped > 0 {
            self.flush(emit);
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        let room = self.max.saturating_sub(self.pending.len());
        let kept = room.min(bytes.len());
        self.pending.extend_from_slice(&bytes[..kept]);
        self.dropped += bytes.len() - kept;
    }

    fn flush(&mut self, emit: &mut dyn FnMut(&str)) {
        if self.dropped == 0 && self.pending.last() == Some(&b'\r') {
            self.pending.pop();
        }
        let text = String::from_utf8_lossy(&self.pending);
        if self.dropped == 0 {
            emit(&text);
        } else {
            emit(&format!("{text} [... {} more bytes]", self.dropped));
        }
        self.pending.clear();
        self.dropped = 0;
    }
}

#[cfg(test)]
pub(crate) mod tests;
