//! One container on the fake node: the fake image outcomes (`fake/pull-error`, `fake/invalid`,
//! `fake/config-error`), a real local process in its own process group with the kubelet's environment,
//! output capture into the log buffer, SIGTERM/SIGKILL on stop, the termination message, and restarts with
//! back-off for `OnFailure`/`Always`.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::pod::{PodContext, wait_for_stop};
use super::{Control, TERMINATION_MESSAGE_ENV, env, signal_group};
use crate::logs::LogBuffer;
use crate::resource::Resource;
use crate::time;

/// Where a container sits in the pod, which picks its status list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ContainerKind {
    Init(usize),
    App(usize),
}

impl ContainerKind {
    fn status_field(self) -> &'static str {
        match self {
            ContainerKind::Init(_) => "initContainerStatuses",
            ContainerKind::App(_) => "containerStatuses",
        }
    }

    fn index(self) -> usize {
        match self {
            ContainerKind::Init(index) | ContainerKind::App(index) => index,
        }
    }
}

/// How a container's run ended for the pod.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Outcome {
    Succeeded,
    Failed,
    /// Stopped before it finished on its own, or never started (image or configuration errors).
    Stopped,
}

/// Why a container cannot start at all.
enum Blocker {
    PullError,
    InvalidImage,
    ConfigError(String),
}

/// One finished run.
struct Exit {
    code: i64,
    reason: &'static str,
    message: Option<String>,
    started_at: String,
    finished_at: String,
}

/// A running process and the tasks copying its output.
struct Process {
    child: Child,
    group: i32,
    readers: Vec<JoinHandle<()>>,
    termination_file: PathBuf,
}

/// `containerd`'s default maximum log entry: longer lines are stored as several entries, each with its own
/// timestamp, which is what `timestamps=true` readers see on a real node.
const MAX_LOG_ENTRY: usize = 16 * 1024;

/// The kubelet reads at most this much of a termination-message file.
const MAX_TERMINATION_MESSAGE: usize = 4096;

/// The `PATH` a container gets unless its `env` sets one (the usual image default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long output capture may lag behind the exit of a container's main process.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

impl PodContext {
    pub(crate) async fn run_container(
        &self,
        pod: &Value,
        container: &Value,
        kind: ContainerKind,
        mut control: watch::Receiver<Control>,
    ) -> Outcome {
        let name = container
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let image = container
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let policy = pod
            .pointer("/spec/restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Always")
            .to_owned();
        let options = self.cluster.options().clone();
        let mut backoff = options.restart_backoff;
        loop {
            if stopping(&control) {
                return Outcome::Stopped;
            }
            let blocker = match repository(&image) {
                "fake/pull-error" => Some(Blocker::PullError),
                "fake/invalid" => Some(Blocker::InvalidImage),
                "fake/config-error" => Some(Blocker::ConfigError(
                    "secret \"standin-config-error\" not found".into(),
                )),
                _ => None,
            };
            // The current pod carries nodeName and podIP for the downward API.
            let current = self
                .cluster
                .get(Resource::Pods, &self.runtime.namespace, &self.runtime.name);
            let prepared = env::resolve(current.as_ref().unwrap_or(pod), container)
                .and_then(|env| env::command_line(container, &env).map(|argv| (env, argv)));
            let (env, argv) = match (blocker, prepared) {
                (Some(blocker), _) => {
                    return self
                        .stay_blocked(pod, &name, &image, kind, blocker, &mut control)
                        .await;
                }
                (None, Err(message)) => {
                    let blocker = Blocker::ConfigError(message);
                    return self
                        .stay_blocked(pod, &name, &image, kind, blocker, &mut control)
                        .await;
                }
                (None, Ok(prepared)) => prepared,
            };
            self.event(
                pod,
                "Normal",
                "Pulling",
                format!("Pulling image \"{image}\""),
                Some(&name),
            );
            let pulled = format!(
                "Successfully pulled image \"{image}\" in 1ms (1ms including waiting). Image size: 0 bytes."
            );
            self.event(pod, "Normal", "Pulled", pulled, Some(&name));
            self.event(
                pod,
                "Normal",
                "Created",
                format!("Created container: {name}"),
                Some(&name),
            );
            let log = self.runtime.new_run(&name, options.log_bytes_per_container);
            let started_at = time::now_seconds();
            let exit = match self.spawn(container, &name, &argv, &env, &log).await {
                Ok(mut process) => {
                    let container_id = format!("containerd://{}", uuid::Uuid::new_v4().simple());
                    let ready = matches!(kind, ContainerKind::App(_));
                    let image_id = format!("{image}@sha256:{}", uuid::Uuid::new_v4().simple());
                    self.set_container_status(kind, |status| {
                        status["state"] = json!({"running": {"startedAt": started_at}});
                        status["ready"] = json!(ready);
                        status["started"] = json!(true);
                        status["containerID"] = json!(container_id);
                        status["imageID"] = json!(image_id);
                    });
                    self.event(
                        pod,
                        "Normal",
                        "Started",
                        format!("Started container {name}"),
                        Some(&name),
                    );
                    let (code, killed) = self.supervise(pod, &name, &mut process, &mut control).await;
                    let file_message = read_termination_message(&process.termination_file).await;
                    let policy = container.get("terminationMessagePolicy").and_then(Value::as_str);
                    let message = if !file_message.is_empty() {
                        Some(file_message)
                    } else if policy == Some("FallbackToLogsOnError") && code != 0 {
                        Some(log.tail_text(80, 2048)).filter(|tail| !tail.is_empty())
                    } else {
                        None
                    };
                    let reason = if code == 0 { "Completed" } else { "Error" };
                    tracing::debug!(container = %name, code, killed, "container exited");
                    Exit {
                        code,
                        reason,
                        message,
                        started_at,
                        finished_at: time::now_seconds(),
                    }
                }
                Err(message) => {
                    let event = format!("Error: {message}");
                    self.event(pod, "Warning", "Failed", event, Some(&name));
                    Exit {
                        code: 128,
                        reason: "StartError",
                        message: Some(message),
                        started_at: time::now_seconds(),
                        finished_at: time::now_seconds(),
                    }
                }
            };
            log.finish();
            let restart = !stopping(&control)
                && match (kind, policy.as_str()) {
                    (_, "Never") => false,
                    (ContainerKind::App(_), "Always") => true,
                    _ => exit.code != 0,
                };
            let terminated = terminated_state(&exit);
            if !restart {
                self.set_container_status(kind, |status| {
                    status["state"] = json!({"terminated": terminated});
                    status["ready"] = json!(false);
                    status["started"] = json!(false);
                });
                return if exit.code == 0 {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed
                };
            }
            let pod_ref = format!(
                "{}_{}({})",
                self.runtime.name, self.runtime.namespace, self.runtime.uid
            );
            let waiting = format!(
                "back-off {}s restarting failed container={name} pod={pod_ref}",
                backoff.as_secs()
            );
            self.set_container_status(kind, |status| {
                let restarts = status.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
                status["lastState"] = json!({"terminated": terminated});
                status["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": waiting}});
                status["restartCount"] = json!(restarts + 1);
                status["ready"] = json!(false);
                status["started"] = json!(false);
            });
            let message = format!("Back-off restarting failed container {name} in pod {pod_ref}");
            self.event(pod, "Warning", "BackOff", message, Some(&name));
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = wait_for_stop(&mut control) => return Outcome::Stopped,
            }
            backoff = (backoff * 2).min(options.restart_backoff_max);
        }
    }

    fn set_container_status(&self, kind: ContainerKind, change: impl FnOnce(&mut Value)) {
        self.update(|pod| {
            if let Some(status) = pod["status"]
                .get_mut(kind.status_field())
                .and_then(|list| list.get_mut(kind.index()))
            {
                change(status);
            }
        });
    }

    /// Keeps a container that cannot start in its waiting state, with the events a node shows, until the pod
    /// is stopped.
    async fn stay_blocked(
        &self,
        pod: &Value,
        name: &str,
        image: &str,
        kind: ContainerKind,
        blocker: Blocker,
        control: &mut watch::Receiver<Control>,
    ) -> Outcome {
        let waiting = |reason: &str, message: &str| {
            self.set_container_status(kind, |status| {
                status["state"] = json!({"waiting": {"reason": reason, "message": message}});
            });
        };
        match blocker {
            Blocker::PullError => {
                let backoff = self.cluster.options().image_pull_backoff;
                let pull_failure = format!(
                    "failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
                );
                loop {
                    self.event(
                        pod,
                        "Normal",
                        "Pulling",
                        format!("Pulling image \"{image}\""),
                        Some(name),
                    );
                    waiting("ErrImagePull", &pull_failure);
                    let failed = format!("Failed to pull image \"{image}\": {pull_failure}");
                    self.event(pod, "Warning", "Failed", failed, Some(name));
                    self.event(pod, "Warning", "Failed", "Error: ErrImagePull".into(), Some(name));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = wait_for_stop(control) => return Outcome::Stopped,
                    }
                    let back_off = format!("Back-off pulling image \"{image}\"");
                    waiting("ImagePullBackOff", &back_off);
                    self.event(pod, "Normal", "BackOff", back_off, Some(name));
                    self.event(
                        pod,
                        "Warning",
                        "Failed",
                        "Error: ImagePullBackOff".into(),
                        Some(name),
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = wait_for_stop(control) => return Outcome::Stopped,
                    }
                }
            }
            Blocker::InvalidImage => {
                let message = format!(
                    "Failed to apply default image tag \"{image}\": couldn't parse image name \"{image}\": invalid reference format"
                );
                waiting("InvalidImageName", &message);
                self.event(pod, "Warning", "InspectFailed", message, Some(name));
                self.event(
                    pod,
                    "Warning",
                    "Failed",
                    "Error: InvalidImageName".into(),
                    Some(name),
                );
            }
            Blocker::ConfigError(message) => {
                waiting("CreateContainerConfigError", &message);
                self.event(pod, "Warning", "Failed", format!("Error: {message}"), Some(name));
            }
        }
        wait_for_stop(control).await;
        Outcome::Stopped
    }

    async fn spawn(
        &self,
        container: &Value,
        name: &str,
        argv: &[String],
        env: &[(String, String)],
        log: &Arc<LogBuffer>,
    ) -> Result<Process, String> {
        let scratch = self.workdir.join(name);
        let termination_file = scratch.join("termination-log");
        tokio::fs::create_dir_all(&scratch)
            .await
            .map_err(|error| format!("failed to prepare container directory: {error}"))?;
        tokio::fs::write(&termination_file, b"")
            .await
            .map_err(|error| format!("failed to prepare termination message file: {error}"))?;
        let (program, arguments) = argv.split_first().ok_or_else(|| "empty command".to_owned())?;
        let mut command = tokio::process::Command::new(program);
        command
            .args(arguments)
            .env_clear()
            .env("PATH", DEFAULT_PATH)
            .env("HOME", &scratch)
            .env("HOSTNAME", &self.runtime.name)
            .env(TERMINATION_MESSAGE_ENV, &termination_file)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&scratch)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = container
            .get("workingDir")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|error| {
            format!(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: unable to start container process: exec: \"{program}\": {error}"
            )
        })?;
        let group = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .ok_or_else(|| "process exited at once".to_owned())?;
        self.processes.register(group);
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(capture(stdout, log.clone())));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(capture(stderr, log.clone())));
        }
        Ok(Process {
            child,
            group,
            readers,
            termination_file,
        })
    }

    /// Waits for the process, delivering `SIGTERM` when the pod stops and `SIGKILL` at the kill time. Returns
    /// the exit code (128 + signal for a signalled process) and whether the kubelet killed it.
    async fn supervise(
        &self,
        pod: &Value,
        name: &str,
        process: &mut Process,
        control: &mut watch::Receiver<Control>,
    ) -> (i64, bool) {
        let mut terminated = false;
        let mut killed = false;
        let mut control_open = true;
        let status = loop {
            let kill_at = match *control.borrow_and_update() {
                Control::Stop { kill_at } => Some(kill_at),
                Control::Run => None,
            };
            if kill_at.is_some() && !terminated {
                terminated = true;
                self.event(
                    pod,
                    "Normal",
                    "Killing",
                    format!("Stopping container {name}"),
                    Some(name),
                );
                signal_group(process.group, Signal::SIGTERM);
            }
            let kill_deadline = kill_at.filter(|_| !killed);
            tokio::select! {
                status = process.child.wait() => break status,
                changed = control.changed(), if control_open => {
                    if changed.is_err() {
                        control_open = false;
                        signal_group(process.group, Signal::SIGKILL);
                        killed = true;
                    }
                }
                _ = tokio::time::sleep_until(kill_deadline.unwrap_or_else(tokio::time::Instant::now)), if kill_deadline.is_some() => {
                    signal_group(process.group, Signal::SIGKILL);
                    killed = true;
                }
            }
        };
        // The container ends with its main process: whatever it left behind goes too.
        signal_group(process.group, Signal::SIGKILL);
        self.processes.unregister(process.group);
        let readers = std::mem::take(&mut process.readers);
        let aborts: Vec<_> = readers.iter().map(JoinHandle::abort_handle).collect();
        if tokio::time::timeout(DRAIN_TIMEOUT, futures::future::join_all(readers))
            .await
            .is_err()
        {
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
        }
        let code = match status {
            Ok(status) => status
                .code()
                .map_or_else(|| 128 + i64::from(status.signal().unwrap_or(9)), i64::from),
            Err(error) => {
                tracing::warn!(%error, "could not wait for container process");
                137
            }
        };
        (code, killed || terminated)
    }
}

fn stopping(control: &watch::Receiver<Control>) -> bool {
    matches!(*control.borrow(), Control::Stop { .. })
}

fn terminated_state(exit: &Exit) -> Value {
    let mut state = json!({
        "exitCode": exit.code,
        "reason": exit.reason,
        "startedAt": exit.started_at,
        "finishedAt": exit.finished_at,
    });
    if let Some(message) = &exit.message {
        state["message"] = json!(message);
    }
    state
}

/// The image name without tag or digest.
fn repository(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    match without_digest.rfind(':') {
        Some(colon) if !without_digest[colon..].contains('/') => &without_digest[..colon],
        _ => without_digest,
    }
}

async fn read_termination_message(path: &Path) -> String {
    match tokio::fs::read(path).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_TERMINATION_MESSAGE)]).into_owned(),
        Err(_) => String::new(),
    }
}

/// Copies a process's output into the log buffer, one entry per line (or per `MAX_LOG_ENTRY` bytes), each
/// stamped when it was read.
async fn capture(stream: impl AsyncRead + Unpin, log: Arc<LogBuffer>) {
    let mut reader = BufReader::new(stream);
    let mut entry: Vec<u8> = Vec::new();
    loop {
        let available = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(available) => available,
        };
        let room = MAX_LOG_ENTRY - entry.len();
        let window = &available[..available.len().min(room)];
        let (take, complete) = match window.iter().position(|b| *b == b'\n') {
            Some(newline) => (newline + 1, true),
            None => (window.len(), entry.len() + window.len() == MAX_LOG_ENTRY),
        };
        entry.extend_from_slice(&available[..take]);
        reader.consume(take);
        if complete {
            log.push(Utc::now(), Bytes::from(std::mem::take(&mut entry)));
        }
    }
    if !entry.is_empty() {
        log.push(Utc::now(), Bytes::from(entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_drop_tags_and_digests() {
        for (image, expected) in [
            ("fake/pull-error", "fake/pull-error"),
            ("fake/pull-error:1.0", "fake/pull-error"),
            ("registry:5000/fake/invalid", "registry:5000/fake/invalid"),
            ("registry:5000/app:v1", "registry:5000/app"),
            ("app@sha256:abc", "app"),
        ] {
            assert_eq!(repository(image), expected, "{image}");
        }
    }

    #[tokio::test]
    async fn capture_splits_lines_and_long_entries() {
        let mut input = b"one\ntwo\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LOG_ENTRY + 10));
        input.extend_from_slice(b"\nlast");
        let log = Arc::new(LogBuffer::new(1 << 20));
        capture(&input[..], log.clone()).await;
        let text = crate::logs::read_all(&log, &crate::logs::LogQuery::default(), &Default::default());
        assert_eq!(&text[..], &input[..]);
        let stamped = crate::logs::LogQuery {
            timestamps: true,
            ..Default::default()
        };
        let lines = crate::logs::read_all(&log, &stamped, &Default::default());
        // one, two, a full 16 KiB entry, the 10 remaining bytes with the newline, and the unterminated tail.
        let prefixes = lines.windows(2).filter(|w| w == b"Z ").count();
        assert_eq!(prefixes, 5);
    }
}
