//! Starting a ready executor against the recording admin, triggering jobs the way an admin does, and
//! waiting for their results.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use xjob_executor_bin::{AdminGeneration, ExecutorArgs, ReadyExecutor, Secret};
use xjob_protocol::{CallbackItem, ExecutorEndpoint, Generation};
use xjob_test_support::{ExecutorReply, StandinAdmin, trigger_body, wait_until};

pub(crate) const TOKEN: &str = "it-token";
pub(crate) const APP_NAME: &str = "xjob-it";

/// A ready executor with its admin and log directory.
pub(crate) struct Running {
    pub(crate) admin: StandinAdmin,
    pub(crate) executor: ReadyExecutor,
    pub(crate) logs: tempfile::TempDir,
}

/// Settings of an executor on loopback that detects the admin's generation.
pub(crate) fn args(admin: &StandinAdmin, logs: &Path) -> ExecutorArgs {
    ExecutorArgs {
        app_name: Some(APP_NAME.to_owned()),
        admin_addresses: vec![admin.base_url()],
        access_token: Some(Secret::from(TOKEN.to_owned())),
        listen: Some("127.0.0.1".parse().unwrap()),
        port: Some(0),
        log_path: Some(logs.to_owned()),
        admin_generation: Some(AdminGeneration::Auto),
        shutdown_grace: Some(Duration::from_millis(500)),
        ..ExecutorArgs::default()
    }
}

impl Running {
    pub(crate) async fn start() -> Running {
        Running::start_with(|_| {}).await
    }

    pub(crate) async fn start_with(adjust: impl FnOnce(&mut ExecutorArgs)) -> Running {
        let admin = StandinAdmin::start(Generation::G3, Some(TOKEN), APP_NAME).await;
        let logs = tempfile::tempdir().unwrap();
        let mut args = args(&admin, logs.path());
        adjust(&mut args);
        let executor = xjob_executor_bin::start(args).await.unwrap();
        Running {
            admin,
            executor,
            logs,
        }
    }

    /// `/kill` for `job_id`, as the admin sends it.
    pub(crate) async fn kill(&self, job_id: i32) -> ExecutorReply {
        self.admin.kill(self.executor.address(), job_id).await
    }

    /// Triggers a job and returns the reply; `fields` override the defaults of a BEAN trigger.
    pub(crate) async fn trigger(&self, job_id: i32, log_id: i64, fields: Value) -> ExecutorReply {
        let body = trigger_body(job_id, log_id, fields);
        self.admin
            .send(
                self.executor.address(),
                ExecutorEndpoint::Trigger,
                body.to_string().into_bytes(),
            )
            .await
    }

    /// Triggers and expects the trigger to be accepted.
    pub(crate) async fn run(&self, job_id: i32, log_id: i64, fields: Value) {
        let reply = self.trigger(job_id, log_id, fields).await;
        assert_eq!(reply.code(), 200, "{}", reply.body);
    }

    /// Waits for the result of `log_id`.
    pub(crate) async fn result(&self, log_id: i64) -> CallbackItem {
        let arrived = wait_until(Duration::from_secs(20), || async {
            self.admin.callback_for(log_id).is_some()
        });
        assert!(arrived.await, "no result for log {log_id}");
        self.admin.callback_for(log_id).unwrap()
    }

    /// The execution log of `log_id`.
    pub(crate) fn log(&self, log_id: i64) -> String {
        find_file(self.logs.path(), &format!("{log_id}.log"))
            .map(|path| std::fs::read_to_string(path).unwrap())
            .unwrap_or_default()
    }
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|file| file == name) {
            return Some(path);
        }
    }
    None
}

/// Whether a process is still running; a zombie counts as gone (it runs nothing, and reaping orphans is the
/// business of process 1).
pub(crate) fn process_running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Whether `program` is an executable file in one of the `PATH` directories.
pub(crate) fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}
