//! GLUE script jobs: the source an admin sends with a trigger is written to
//! `<logpath>/gluesource/<jobId>_<glueUpdatetime><suffix>` and run by the interpreter of its glue type as
//! `[interpreter, file, param, shardIndex, shardTotal]`, the way upstream executors do; the exit code decides
//! the result.
//!
//! Which handler serves which trigger (and when a changed source replaces it) is the SDK's business; this
//! module only makes and runs one script version. GLUE(Java) needs a JVM and is refused with a clear message.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use xjob_protocol::{Generation, GlueType, JobId};

use crate::execution::{Execution, Verdict};
use crate::process::{ProcessCommand, ProcessOutcome};

/// The directory below the log path that holds script sources, as upstream names it.
pub(crate) const GLUE_SOURCE_DIR: &str = "gluesource";

/// The interpreters are the current upstream ones (`python3`, `pwsh`), whichever generation the admin
/// speaks: the older names (`python`, `powershell`) mostly point at outdated runtimes today.
const INTERPRETER_GENERATION: Generation = Generation::G3;

/// Makes script handlers for one executor.
#[derive(Clone, Debug)]
pub(crate) struct GlueScripts {
    source_dir: PathBuf,
    kill_grace: Duration,
}

/// One version of one job's script.
#[derive(Clone, Debug)]
pub(crate) struct GlueScript {
    file: PathBuf,
    interpreter: &'static str,
    source: String,
    kill_grace: Duration,
}

impl GlueScripts {
    /// Scripts kept below `log_path`; a cancelled script's process group gets `kill_grace` between SIGTERM
    /// and SIGKILL.
    pub(crate) fn new(log_path: &Path, kill_grace: Duration) -> Self {
        GlueScripts {
            source_dir: log_path.join(GLUE_SOURCE_DIR),
            kill_grace,
        }
    }

    /// Prepares the script of `job_id` at version `updated_at_ms`. Like upstream, this first deletes every
    /// older source file of the job; the new file is written when the script first runs.
    pub(crate) fn script(
        &self,
        job_id: JobId,
        glue_type: GlueType,
        source: &str,
        updated_at_ms: i64,
    ) -> Result<GlueScript, String> {
        let (Some(interpreter), Some(suffix)) = (
            glue_type.interpreter(INTERPRETER_GENERATION),
            glue_type.file_suffix(),
        ) else {
            return Err(match glue_type {
                GlueType::Groovy => format!(
                    "{} needs a Java executor; this executor runs the script glue types only \
                     (Shell, Python, Nodejs, PHP, PowerShell).",
                    glue_type.label(INTERPRETER_GENERATION)
                ),
                _ => format!("glueType[{glue_type}] is not a script type."),
            });
        };
        if let Err(error) = remove_versions(&self.source_dir, job_id) {
            tracing::warn!(job_id = job_id.0, %error, "removing older GLUE source files failed");
        }
        Ok(GlueScript {
            file: self
                .source_dir
                .join(format!("{}_{updated_at_ms}{suffix}", job_id.0)),
            interpreter,
            source: source.to_owned(),
            kill_grace: self.kill_grace,
        })
    }
}

impl GlueScript {
    /// The source file this script runs from.
    #[cfg(test)]
    pub(crate) fn file(&self) -> &Path {
        &self.file
    }

    /// Writes the source file if needed and runs it to its end.
    pub(crate) async fn run(&self, execution: &Execution) -> Verdict {
        if let Err(error) = self.write_source().await {
            execution.log(&format!(
                "----------- writing script file {} failed: {error}",
                self.file.display()
            ));
            return Verdict::Fail(format!("script exit value({}) is failed", -1));
        }
        execution.log(&format!(
            "----------- script file:{} -----------",
            self.file.display()
        ));
        let command = ProcessCommand::new(self.interpreter)
            .arg(&self.file)
            .arg(&execution.param)
            .arg(execution.shard_index.to_string())
            .arg(execution.shard_total.to_string())
            .kill_grace(self.kill_grace);
        let exit_value = match command.run(execution.log.clone(), &execution.cancel).await {
            Ok(ProcessOutcome::Exited(code)) => code,
            Ok(ProcessOutcome::Cancelled) => {
                return Verdict::Fail("script stopped before its end".to_owned());
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                execution.log(&format!("interpreter `{}` not found on PATH", self.interpreter));
                -1
            }
            Err(error) => {
                execution.log(&format!("starting `{}` failed: {error}", self.interpreter));
                -1
            }
        };
        if exit_value == 0 {
            Verdict::Success
        } else {
            Verdict::Fail(format!("script exit value({exit_value}) is failed"))
        }
    }

    /// Writes the source unless this version exists already. The file is written under a temporary name and
    /// renamed, so an interrupted write never leaves a truncated script that later runs would reuse.
    async fn write_source(&self) -> io::Result<()> {
        if tokio::fs::try_exists(&self.file).await? {
            return Ok(());
        }
        if let Some(dir) = self.file.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut partial = self.file.clone().into_os_string();
        partial.push(".partial");
        tokio::fs::write(&partial, self.source.as_bytes()).await?;
        tokio::fs::rename(&partial, &self.file).await
    }
}

/// Deletes every source file of `job_id` (names starting with `<jobId>_`).
fn remove_versions(source_dir: &Path, job_id: JobId) -> io::Result<()> {
    let prefix = format!("{}_", job_id.0);
    let entries = match std::fs::read_dir(source_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::process::tests::RecordedLines;

    fn execution(param: &str, shard_index: u32, shard_total: u32) -> (Execution, Arc<RecordedLines>) {
        Execution::recorded(param, shard_index, shard_total)
    }

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn shell_script_gets_param_and_shard() {
        let dir = tempfile::tempdir().unwrap();
        let scripts = GlueScripts::new(dir.path(), Duration::from_secs(1));
        let source = "echo \"param=$1 index=$2 total=$3\"\nexit 0\n";
        let script = scripts
            .script(JobId(31), GlueType::Shell, source, 1_781_800_000_000)
            .unwrap();
        assert_eq!(script.file(), dir.path().join("gluesource/31_1781800000000.sh"));

        let (execution, log) = execution("--dry-run x", 1, 3);
        assert_eq!(script.run(&execution).await, Verdict::Success);
        assert_eq!(
            log.lines(),
            [
                format!("----------- script file:{} -----------", script.file().display()),
                "param=--dry-run x index=1 total=3".to_owned(),
            ]
        );
        assert_eq!(std::fs::read_to_string(script.file()).unwrap(), source);
    }

    #[tokio::test]
    async fn empty_param_is_an_empty_argument() {
        let dir = tempfile::tempdir().unwrap();
        let scripts = GlueScripts::new(dir.path(), Duration::from_secs(1));
        let script = scripts
            .script(JobId(1), GlueType::Shell, "echo \"$#:[$1]:$2:$3\"", 5)
            .unwrap();
        let (execution, log) = execution("", 0, 1);
        assert_eq!(script.run(&execution).await, Verdict::Success);
        assert_eq!(log.lines()[1], "3:[]:0:1");
    }

    #[tokio::test]
    async fn exit_code_decides() {
        let dir = tempfile::tempdir().unwrap();
        let scripts = GlueScripts::new(dir.path(), Duration::from_secs(1));
        let script = scripts
            .script(JobId(2), GlueType::Shell, "echo failing >&2; exit 4", 1)
            .unwrap();
        let (execution, log) = execution("", 0, 1);
        assert_eq!(
            script.run(&execution).await,
            Verdict::Fail("script exit value(4) is failed".to_owned())
        );
        assert!(log.contains("failing"));
    }

    #[tokio::test]
    async fn python_script_runs_with_python3() {
        let dir = tempfile::tempdir().unwrap();
        let scripts = GlueScripts::new(dir.path(), Duration::from_secs(1));
        let source = "import sys\nprint('args', sys.argv[1:])\nsys.exit(int(sys.argv[2]))\n";
        let script = scripts.script(JobId(3), GlueType::Python, source, 1).unwrap();
        assert_eq!(script.file(), dir.path().join("gluesource/3_1.py"));
        let (execution, log) = execution("p", 2, 4);
        assert_eq!(
            script.run(&execution).await,
            Verdict::Fail("script exit value(2) is failed".to_owned())
        );
        assert!(log.contains("args ['p', '2', '4']"), "{:?}", log.lines());
    }

    #[tokio::test]
    async fn new_version_removes_older_files_of_the_same_job_only() {
        let dir = tempfile::tempdir().unwrap();
        let scripts = GlueScripts::new(dir.path(), Duration::from_secs(1));
        let (execution, _) = execution("", 0, 1);
        for (job_id, version) in [(7, 1), (77, 1)] {
            let script = scripts
                .script(JobId(job_id), GlueType::Shell, "exit 0", version)
                .unwrap();
            assert_eq!(script.run(&execution).await, Verdict::Success);
        }
        assert_eq!(file_names(&dir.path().join("gluesource")), ["77_1.sh", "7_1.sh"]);

        let script = scripts
            .script(JobId(7), GlueType::Nodejs, "process.exit(0)", 2)
            .unwrap();
        assert_eq!(file_names(&dir.path().join("gluesource")), ["77_1.sh"]);
        assert_eq!(script.file(), dir.path().join("gluesource/7_2.js"));
    }

    #[tokio::test]
    async fn existing_version_file_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let scripts = GlueScripts::new(dir.path(), Duration::from_secs(1));
        let script = scripts
            .script(JobId(8), GlueType::Shell, "echo from-trigger", 3)
            .unwrap();
        std::fs::create_dir_all(dir.path().join("gluesource")).unwrap();
        std::fs::write(script.file(), "echo from-disk").unwrap();
        let (execution, log) = execution("", 0, 1);
        assert_eq!(script.run(&execution).await, Verdict::Success);
        assert!(log.contains("from-disk"));
    }

    #[tokio::test]
    async fn missing_interpreter_fails_with_exit_value_minus_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut script = GlueScripts::new(dir.path(), Duration::from_secs(1))
            .script(JobId(9), GlueType::Shell, "exit 0", 1)
            .unwrap();
        script.interpreter = "xjob-no-such-interpreter";
        let (execution, log) = execution("", 0, 1);
        assert_eq!(
            script.run(&execution).await,
            Verdict::Fail("script exit value(-1) is failed".to_owned())
        );
        assert!(log.contains("interpreter `xjob-no-such-interpreter` not found on PATH"));
    }

    /// Whether `program` is an executable file in one of the `PATH` directories.
    fn on_path(program: &str) -> bool {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
    }

    #[tokio::test]
    async fn every_script_type_whose_interpreter_exists() {
        let cases = [
            (GlueType::Shell, "echo \"$1|$2|$3\""),
            (GlueType::Python, "import sys\nprint('|'.join(sys.argv[1:]))"),
            (GlueType::Python2, "import sys\nprint('|'.join(sys.argv[1:]))"),
            (GlueType::Nodejs, "console.log(process.argv.slice(2).join('|'))"),
            (
                GlueType::Php,
                "<?php echo implode('|', array_slice($argv, 1)), \"\\n\";",
            ),
            (GlueType::PowerShell, "Write-Output ($args -join '|')"),
        ];
        let dir = tempfile::tempdir().unwrap();
        let scripts = GlueScripts::new(dir.path(), Duration::from_secs(1));
        let mut ran = 0;
        for (job_id, (glue_type, source)) in (1..).zip(cases) {
            let interpreter = glue_type.interpreter(INTERPRETER_GENERATION).unwrap();
            if !on_path(interpreter) {
                eprintln!("skipping {glue_type}: `{interpreter}` is not on PATH");
                continue;
            }
            let script = scripts.script(JobId(job_id), glue_type, source, 1).unwrap();
            let (execution, log) = execution("a b", 2, 5);
            assert_eq!(
                script.run(&execution).await,
                Verdict::Success,
                "{glue_type}: {:?}",
                log.lines()
            );
            assert_eq!(log.lines()[1..], ["a b|2|5"], "{glue_type}");
            ran += 1;
        }
        // bash and python3 are present wherever the project builds.
        assert!(ran >= 2);
    }

    #[test]
    fn non_script_types_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let scripts = GlueScripts::new(dir.path(), Duration::from_secs(1));
        let groovy = scripts
            .script(JobId(1), GlueType::Groovy, "class X {}", 1)
            .unwrap_err();
        assert_eq!(
            groovy,
            "GLUE(Java) needs a Java executor; this executor runs the script glue types only \
             (Shell, Python, Nodejs, PHP, PowerShell)."
        );
        let bean = scripts.script(JobId(1), GlueType::Bean, "", 1).unwrap_err();
        assert_eq!(bean, "glueType[BEAN] is not a script type.");
    }
}
