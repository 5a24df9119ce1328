//! `commandJobHandler`: runs the job parameter as a command line, as upstream's sample executor does. The
//! line is split on single spaces with no quoting (consecutive spaces give empty arguments), the first
//! token is the program, output lines go to the execution log and the exit code decides the result.
//!
//! Unlike a GLUE script's output, which is copied into the log as it is, upstream writes each line of a
//! command's output through the logging helper, so here each line gets the usual time and caller prefix.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::execution::{Execution, Verdict};
use crate::process::{LogSink, ProcessCommand, ProcessOutcome};

/// The handler name upstream registers.
pub(crate) const COMMAND_HANDLER: &str = "commandJobHandler";

/// Runs command lines for `commandJobHandler`.
#[derive(Clone, Debug)]
pub(crate) struct CommandRunner {
    kill_grace: Duration,
}

impl CommandRunner {
    /// A cancelled command's process group gets `kill_grace` between SIGTERM and SIGKILL.
    pub(crate) fn new(kill_grace: Duration) -> Self {
        CommandRunner { kill_grace }
    }

    /// Runs the execution's parameter as a command line.
    pub(crate) async fn run(&self, execution: &Execution) -> Verdict {
        let Some(command) = parse(&execution.param) else {
            return Verdict::Fail("command empty.".to_owned());
        };
        let command = command.kill_grace(self.kill_grace);
        let sink = Arc::new(PrefixedOutput(execution.log.clone()));
        let exit_value = match command.run(sink, &execution.cancel).await {
            Ok(ProcessOutcome::Exited(code)) => code,
            Ok(ProcessOutcome::Cancelled) => {
                return Verdict::Fail("command stopped before its end".to_owned());
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                execution.log("command not found");
                -1
            }
            Err(error) => {
                execution.log(&format!("starting the command failed: {error}"));
                -1
            }
        };
        if exit_value == 0 {
            Verdict::Success
        } else {
            Verdict::Fail(format!("command exit value({exit_value}) is failed"))
        }
    }
}

/// An execution log that records process output like handler lines.
struct PrefixedOutput(Arc<dyn LogSink>);

impl LogSink for PrefixedOutput {
    fn line(&self, text: &str) {
        self.0.line(text);
    }

    fn output(&self, text: &str) {
        self.0.line(text);
    }
}

/// Splits a command line the way upstream does; `None` when it is blank.
fn parse(line: &str) -> Option<ProcessCommand> {
    if line.trim().is_empty() {
        return None;
    }
    let mut tokens = line.split(' ');
    let program = tokens.next()?;
    Some(tokens.fold(ProcessCommand::new(program), ProcessCommand::arg))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(param: &str) -> (Verdict, Vec<String>) {
        let (execution, sink) = Execution::recorded(param, 0, 1);
        let verdict = CommandRunner::new(Duration::from_secs(1)).run(&execution).await;
        (verdict, sink.lines())
    }

    #[tokio::test]
    async fn output_lines_are_logged() {
        assert_eq!(
            run("echo hello world").await,
            (Verdict::Success, vec!["hello world".to_owned()])
        );
    }

    #[tokio::test]
    async fn split_on_single_spaces_without_quoting() {
        let (verdict, lines) = run("printf [%s]\\n a  'b c'").await;
        assert_eq!(verdict, Verdict::Success);
        assert_eq!(lines, ["[a]", "[]", "['b]", "[c']"]);
    }

    /// Records which of the two sink methods each line came through.
    #[derive(Default)]
    struct Kinds(std::sync::Mutex<Vec<(&'static str, String)>>);

    impl LogSink for Kinds {
        fn line(&self, text: &str) {
            self.0.lock().unwrap().push(("line", text.to_owned()));
        }

        fn output(&self, text: &str) {
            self.0.lock().unwrap().push(("output", text.to_owned()));
        }
    }

    #[tokio::test]
    async fn output_is_logged_as_handler_lines() {
        let sink = Arc::new(Kinds::default());
        let execution = Execution {
            param: "echo prefixed".to_owned(),
            shard_index: 0,
            shard_total: 1,
            log: sink.clone(),
            cancel: tokio_util::sync::CancellationToken::new(),
        };
        assert_eq!(
            CommandRunner::new(Duration::from_secs(1)).run(&execution).await,
            Verdict::Success
        );
        assert_eq!(*sink.0.lock().unwrap(), [("line", "prefixed".to_owned())]);
    }

    #[tokio::test]
    async fn blank_command_fails() {
        assert_eq!(
            run("  ").await,
            (Verdict::Fail("command empty.".to_owned()), vec![])
        );
        assert_eq!(run("").await.0, Verdict::Fail("command empty.".to_owned()));
    }

    #[tokio::test]
    async fn non_zero_exit_fails() {
        let (verdict, _) = run("ls /xjob-no-such-directory").await;
        assert_eq!(
            verdict,
            Verdict::Fail("command exit value(2) is failed".to_owned())
        );
    }

    #[tokio::test]
    async fn unknown_program_fails_with_minus_one() {
        let (verdict, lines) = run("xjob-no-such-program --flag").await;
        assert_eq!(
            verdict,
            Verdict::Fail("command exit value(-1) is failed".to_owned())
        );
        assert_eq!(lines, ["command not found"]);
    }
}
