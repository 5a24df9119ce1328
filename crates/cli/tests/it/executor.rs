//! `xjob executor`, the ready executor: settings from file, environment and flags in that order of precedence,
//! one-line errors for bad settings, graceful stop on SIGTERM, and a token that job processes do not see.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use tokio::process::{Child, Command};
use xjob_protocol::{ExecutorEndpoint, Generation};
use xjob_test_support::{StandinAdmin, wait_until};

use xjob_test_support::{next_log_id, trigger_body};

const TOKEN: &str = "it-token";

const BINARY: &str = env!("CARGO_BIN_EXE_xjob");

/// The binary with only `PATH` from this environment, plus `env`.
pub(crate) fn executor(logs: &Path, env: &[(&str, &str)], flags: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .arg("executor")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XJOB_EXECUTOR_LOG_PATH", logs)
        .env("XJOB_EXECUTOR_LISTEN", "127.0.0.1")
        .env("XJOB_EXECUTOR_PORT", "0")
        .envs(env.iter().copied())
        .args(flags)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs the binary to its end and returns the exit code and standard error.
async fn fails(logs: &Path, env: &[(&str, &str)], flags: &[&str]) -> (i32, String) {
    let output = tokio::time::timeout(Duration::from_secs(20), executor(logs, env, flags).output())
        .await
        .expect("the binary did not stop")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Waits for the first registration and returns `(AppName, address)`.
pub(crate) async fn registration(admin: &StandinAdmin) -> (String, String) {
    let registered = wait_until(Duration::from_secs(20), || async {
        !admin.registrations().is_empty()
    });
    assert!(registered.await, "the executor did not register");
    let first = admin.registrations().remove(0);
    (
        first.registry_key.unwrap_or_default(),
        first.registry_value.unwrap_or_default(),
    )
}

/// Sends SIGTERM and waits for a clean exit.
async fn terminate(mut child: Child) {
    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn flags_beat_environment_beats_file() {
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("executor.toml");
    std::fs::write(&file, "app_name = \"from-file\"\naccess_token = \"file-token\"\n").unwrap();
    let file = file.to_str().unwrap();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: [Case; 3] = [
        (&[], &[], "from-file"),
        (&[("XJOB_EXECUTOR_APP_NAME", "from-env")], &[], "from-env"),
        (
            &[("XJOB_EXECUTOR_APP_NAME", "from-env")],
            &["--app-name", "from-flag"],
            "from-flag",
        ),
    ];
    for (env, flags, expected) in cases {
        // A G3 admin accepts only the AppName it expects, so a wrong one would never register.
        let admin = StandinAdmin::start(Generation::G3, Some("file-token"), expected).await;
        let admin_url = admin.base_url();
        let mut all_flags = vec!["--config", file, "--admin", &admin_url];
        all_flags.extend_from_slice(flags);
        let child = executor(logs.path(), env, &all_flags).spawn().unwrap();
        assert_eq!(registration(&admin).await.0, expected);
        terminate(child).await;
        let removals = admin.removals();
        assert_eq!(removals.len(), 1, "a graceful stop deregisters once");
        assert_eq!(removals[0].registry_key.as_deref(), Some(expected));
    }
}

#[tokio::test]
async fn bad_settings_stop_start_up_with_a_line_naming_them() {
    let logs = tempfile::tempdir().unwrap();
    let base = [
        ("XJOB_EXECUTOR_APP_NAME", "a"),
        ("XJOB_EXECUTOR_ADMIN_ADDRESSES", "http://127.0.0.1:9/"),
    ];

    let (code, stderr) = fails(logs.path(), &base, &[]).await;
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "xjob: invalid setting `access_token`: must be set; to run without one, set insecure_no_token \
         (--insecure-no-token)\n"
    );

    let mut env = base.to_vec();
    env.extend([("XJOB_EXECUTOR_ACCESS_TOKEN", "t"), ("XJOB_EXECUTOR_PORT", "abc")]);
    let (code, stderr) = fails(logs.path(), &env, &[]).await;
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: invalid value 'abc' for '--port <PORT>'"),
        "{stderr}"
    );

    let file = logs.path().join("bad.toml");
    std::fs::write(&file, "app_name = \"a\"\nprot = 1\n").unwrap();
    let (code, stderr) = fails(logs.path(), &env[..3], &["--config", file.to_str().unwrap()]).await;
    assert_eq!(code, 1);
    let expected = format!(
        "xjob: config file {}: line 2: unknown field `prot`",
        file.display()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn job_processes_do_not_see_the_token() {
    let logs = tempfile::tempdir().unwrap();
    let admin = StandinAdmin::start(Generation::G3, Some(TOKEN), "token-check").await;
    let admin_url = admin.base_url();
    let env = [
        ("XJOB_EXECUTOR_APP_NAME", "token-check"),
        ("XJOB_EXECUTOR_ADMIN_ADDRESSES", admin_url.as_str()),
        ("XJOB_EXECUTOR_ACCESS_TOKEN", TOKEN),
    ];
    let child = executor(logs.path(), &env, &[]).spawn().unwrap();
    let (_, address) = registration(&admin).await;

    let log_id = next_log_id();
    let trigger = trigger_body(
        80,
        log_id,
        json!({"executorHandler": "commandJobHandler", "executorParams": "env"}),
    );
    let reply = admin
        .send(
            &address,
            ExecutorEndpoint::Trigger,
            trigger.to_string().into_bytes(),
        )
        .await;
    assert_eq!(reply.code(), 200, "{}", reply.body);
    let finished = wait_until(Duration::from_secs(20), || async {
        admin.callback_for(log_id).is_some()
    });
    assert!(finished.await, "no result for the env command");
    assert_eq!(admin.callback_for(log_id).unwrap().handle_code, 200);
    terminate(child).await;

    let log = find_log(logs.path(), log_id);
    assert!(log.contains("XJOB_EXECUTOR_APP_NAME=token-check"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
}

fn find_log(dir: &Path, log_id: i64) -> String {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let found = path.join(format!("{log_id}.log"));
        if path.is_dir() && found.is_file() {
            return std::fs::read_to_string(found).unwrap();
        }
    }
    String::new()
}
