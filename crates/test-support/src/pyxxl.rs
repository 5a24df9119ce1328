//! Python's third-party executor pyxxl as a child process, for compatibility tests against an executor
//! written by others for the same protocol.
//!
//! The interpreter comes from `XJOB_TEST_PYXXL_PYTHON` (a virtual environment with the pinned pyxxl, made
//! by the repository's `.ci/python-venv`). Without it [`python`] prints one
//! `skipping pyxxl tests: XJOB_TEST_PYXXL_PYTHON not set` line on standard error and tests return early.
//!
//! [`PyxxlExecutor::start`] runs the runner script in `fixtures/pyxxl_runner.py` on a free port of
//! 127.0.0.1 and waits until it answers `/beat`; dropping the value kills the process by its id, so a
//! failing test leaves nothing behind. Its handlers are [`ECHO_HANDLER`] and [`SLEEP_HANDLER`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use crate::wait_until;

/// The environment variable naming the Python interpreter that has pyxxl installed.
pub const PYTHON_VAR: &str = "XJOB_TEST_PYXXL_PYTHON";

/// Records `<logId>\t<param>` (see [`PyxxlExecutor::echoed`]), logs `pyxxlEcho saw param: <param>` and
/// returns `echo: <param>`.
pub const ECHO_HANDLER: &str = "pyxxlEcho";

/// Logs `pyxxlSleep waits to be killed` and sleeps until killed (ten minutes at most).
pub const SLEEP_HANDLER: &str = "pyxxlSleep";

/// How long the interpreter may take to import pyxxl and answer `/beat`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

const RUNNER: &str = include_str!("../fixtures/pyxxl_runner.py");

static SKIP: Once = Once::new();

/// The interpreter from [`PYTHON_VAR`]; `None` (after one skip line per process) when it is not set.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os(PYTHON_VAR) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            SKIP.call_once(|| {
                // Directly to the process's stderr: the harness captures only the print macros.
                let _ = writeln!(std::io::stderr(), "skipping pyxxl tests: {PYTHON_VAR} not set");
            });
            None
        }
    }
}

/// What a pyxxl executor is told about its admin.
#[derive(Clone, Debug)]
pub struct PyxxlSettings {
    /// The admin's API base with a trailing slash, as pyxxl wants it:
    /// `http://127.0.0.1:8080/xxl-job-admin/api/`.
    pub admin_api: String,
    /// The AppName it registers.
    pub app_name: String,
    /// The access token it presents to the admin (it checks none itself).
    pub access_token: Option<String>,
}

/// A running pyxxl executor; killed when dropped.
pub struct PyxxlExecutor {
    child: Child,
    address: String,
    directory: tempfile::TempDir,
}

impl PyxxlExecutor {
    /// Starts the runner with `python` and waits until it answers `/beat`.
    ///
    /// # Panics
    ///
    /// When the process cannot be started, exits, or does not answer within 20 s; the message carries
    /// its output.
    pub async fn start(python: &Path, settings: &PyxxlSettings) -> PyxxlExecutor {
        let directory = tempfile::tempdir().expect("temporary directory");
        let script = directory.path().join("pyxxl_runner.py");
        std::fs::write(&script, RUNNER).expect("write the runner script");
        let logs = directory.path().join("logs");
        std::fs::create_dir(&logs).expect("create the log directory");
        let output = std::fs::File::create(directory.path().join("output.txt")).expect("create output file");
        let errors = output.try_clone().expect("clone the output file");
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(&script)
            .arg("--admin-api")
            .arg(&settings.admin_api)
            .arg("--app-name")
            .arg(&settings.app_name)
            .arg("--port")
            .arg(port.to_string())
            .arg("--log-dir")
            .arg(&logs)
            .arg("--executor-log")
            .arg(directory.path().join("executor.log"))
            .arg("--record")
            .arg(directory.path().join("echoed.txt"));
        if let Some(token) = &settings.access_token {
            command.arg("--token").arg(token);
        }
        // pyxxl reads its settings from the environment too; give it none but what Python needs.
        command
            .env_clear()
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(directory.path())
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors);
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", python.display()));
        let mut executor = PyxxlExecutor {
            child,
            address: format!("http://127.0.0.1:{port}"),
            directory,
        };
        executor.wait_ready().await;
        executor
    }

    /// The address it registers and serves: `http://127.0.0.1:<port>` (pyxxl adds no trailing slash).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// What [`ECHO_HANDLER`] saw so far: `(logId, param)` per execution.
    pub fn echoed(&self) -> Vec<(i64, String)> {
        let text = std::fs::read_to_string(self.directory.path().join("echoed.txt")).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let (log_id, param) = line.split_once('\t')?;
                Some((log_id.parse().ok()?, param.to_owned()))
            })
            .collect()
    }

    /// The process's output so far, for failure messages.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.directory.path().join("output.txt")).unwrap_or_default()
    }

    async fn wait_ready(&mut self) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("plain HTTP client builds");
        let beat = format!("{}/beat", self.address);
        let mut exited = None;
        let ready = wait_until(START_TIMEOUT, || {
            if exited.is_none() {
                exited = self.child.try_wait().ok().flatten();
            }
            let request = http.post(&beat).body("").send();
            let gone = exited.is_some();
            async move { gone || request.await.is_ok_and(|response| response.status().is_success()) }
        })
        .await;
        if !ready || exited.is_some() {
            panic!(
                "pyxxl did not answer {beat} (exit status {exited:?}); its output:\n{}",
                self.output()
            );
        }
    }
}

impl Drop for PyxxlExecutor {
    fn drop(&mut self) {
        // Kill by the child's own process id, then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("bind 127.0.0.1:0")
}
