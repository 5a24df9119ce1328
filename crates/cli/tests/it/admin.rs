//! `xjob admin`, the scheduling center as a real child process: the listen line and a password shown once,
//! `/healthz`, a clean stop on SIGTERM, settings from file, environment and flags in that order of precedence,
//! one-line errors with exit status 2, the token requirement, and `admin reset-password`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use xjob_admin::auth::password::{self, Verdict};
use xjob_admin::store::{Store, StoreOptions};

const BINARY: &str = env!("CARGO_BIN_EXE_xjob");
const TOKEN: &str = "admin-it-token";
const LIMIT: Duration = Duration::from_secs(30);

/// `xjob admin ARGS` with only `PATH` from this environment, a data directory, port 0, plus `env`.
fn admin(data: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .arg("admin")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XJOB_ADMIN_DATA_DIR", data)
        .env("XJOB_ADMIN_PORT", "0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// A running admin and the lines it has printed so far.
struct Running {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    address: String,
}

/// Starts the admin and reads its listen line.
async fn start(data: &Path, env: &[(&str, &str)], args: &[&str]) -> Running {
    let mut child = admin(data, env, args).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(LIMIT, stdout.next_line())
        .await
        .expect("no listen line in time")
        .unwrap()
        .unwrap_or_default();
    let address = line
        .strip_prefix("console listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Running {
        child,
        stdout,
        address,
    }
}

impl Running {
    async fn next_line(&mut self) -> String {
        tokio::time::timeout(LIMIT, self.stdout.next_line())
            .await
            .expect("no line in time")
            .unwrap()
            .unwrap_or_default()
    }

    /// Sends SIGTERM, expects exit status 0 and returns the rest of stdout and all of stderr.
    async fn terminate(mut self) -> (String, String) {
        let pid = Pid::from_raw(i32::try_from(self.child.id().unwrap()).unwrap());
        kill(pid, Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .expect("no exit after SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
        let mut rest = String::new();
        while let Some(line) = self.stdout.next_line().await.unwrap() {
            rest.push_str(&line);
            rest.push('\n');
        }
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        (rest, stderr)
    }
}

/// Runs the binary to its end: exit code, stdout, stderr.
async fn finish(data: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let output = tokio::time::timeout(LIMIT, admin(data, env, args).output())
        .await
        .expect("the binary did not stop")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// GET `path` over a plain HTTP/1.1 connection: status code and body.
async fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(LIMIT, stream.read_to_string(&mut response))
        .await
        .expect("no reply in time")
        .unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, body.to_owned())
}

/// The password in a "console user NAME … with password: PW (shown once…)" line.
fn password_in(line: &str, user: &str, what: &str) -> String {
    let prefix = format!("console user {user} {what} with password: ");
    let rest = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    rest.strip_suffix(" (shown once; store it now)")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .to_owned()
}

/// Checks `password` against the stored hash of `user` in the data directory's database.
async fn verify_stored(data: &Path, user: &str, password: &str) -> Verdict {
    let store = Store::open(&StoreOptions {
        url: format!("sqlite://{}", data.join("xjob-admin.db").display()),
        time_zone: chrono_tz::Tz::UTC,
        max_connections: Some(1),
    })
    .await
    .unwrap();
    let user = store.user_by_name(user).await.unwrap().unwrap();
    store.close().await;
    password::verify(password, &user.password_hash)
}

#[tokio::test]
async fn first_start_prints_the_password_once_and_stops_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let env = [("XJOB_ADMIN_ACCESS_TOKEN", TOKEN)];

    let mut first = start(&data, &env, &[]).await;
    assert!(first.address.starts_with("127.0.0.1:"), "{}", first.address);
    let generated = password_in(&first.next_line().await, "admin", "created");
    assert!(generated.len() >= 20, "{generated}");
    let (status, body) = get(&first.address, "/healthz").await;
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, body),
        (200, serde_json::json!({"status": "up", "database": "up"}))
    );
    let (rest, stderr) = first.terminate().await;
    assert_eq!(rest, "");
    assert!(
        !stderr.contains(&generated),
        "the password appears in the log: {stderr}"
    );
    assert!(!stderr.contains(TOKEN), "the token appears in the log: {stderr}");
    assert_eq!(
        verify_stored(&data, "admin", &generated).await,
        Verdict::Valid { rehash: false }
    );

    let second = start(&data, &env, &[]).await;
    let (status, _) = get(&second.address, "/healthz").await;
    assert_eq!(status, 200);
    let (rest, _) = second.terminate().await;
    assert_eq!(rest, "", "a second start shows no password");

    let (code, stdout, stderr) = finish(&data, &env, &["reset-password", "admin"]).await;
    assert_eq!(code, 0, "{stderr}");
    let reset = password_in(stdout.trim_end(), "admin", "reset");
    assert_ne!(reset, generated);
    assert_eq!(verify_stored(&data, "admin", &generated).await, Verdict::Invalid);
    assert_eq!(
        verify_stored(&data, "admin", &reset).await,
        Verdict::Valid { rehash: false }
    );

    let (code, stdout, stderr) = finish(&data, &env, &["reset-password", "nobody"]).await;
    assert_eq!((code, stdout.as_str()), (2, ""));
    // Diagnostics may precede it; the error is the last line.
    assert_eq!(
        stderr.lines().last(),
        Some("xjob: no user named `nobody`"),
        "{stderr}"
    );
}

#[tokio::test]
async fn flags_beat_environment_beats_file() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let file = home.path().join("admin.toml");
    // The upstream spelling of the token, next to our own key for the interface.
    std::fs::write(
        &file,
        "listen = \"127.0.0.2\"\n[xxl.job]\naccessToken = \"from-file\"\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: [Case; 3] = [
        (&[], &[], "127.0.0.2:"),
        (&[("XJOB_ADMIN_LISTEN", "127.0.0.3")], &[], "127.0.0.3:"),
        (
            &[("XJOB_ADMIN_LISTEN", "127.0.0.3")],
            &["--listen", "127.0.0.4"],
            "127.0.0.4:",
        ),
    ];
    for (env, flags, expected) in cases {
        let mut args = vec!["--config", file];
        args.extend_from_slice(flags);
        let running = start(&data, env, &args).await;
        assert!(
            running.address.starts_with(expected),
            "{} for {env:?} {flags:?}",
            running.address
        );
        let (status, _) = get(&running.address, "/healthz").await;
        assert_eq!(status, 200);
        running.terminate().await;
    }
}

#[tokio::test]
async fn bad_settings_are_one_line_and_exit_status_2() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");

    let (code, _, stderr) = finish(&data, &[], &[]).await;
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "xjob: invalid setting `access_token`: must be set; to accept executors without one, set \
         insecure_no_token (--insecure-no-token)\n"
    );
    assert!(!data.exists(), "nothing is created before the settings are valid");

    let env = [("XJOB_ADMIN_ACCESS_TOKEN", TOKEN)];
    let file = home.path().join("bad.toml");
    std::fs::write(&file, "port = 0\nlog_retention = 3\n").unwrap();
    let (code, _, stderr) = finish(&data, &env, &["--config", file.to_str().unwrap()]).await;
    assert_eq!(code, 2);
    let expected = format!(
        "xjob: config file {}: line 2: unknown field `log_retention`",
        file.display()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let env = [
        ("XJOB_ADMIN_ACCESS_TOKEN", TOKEN),
        ("XJOB_ADMIN_TIME_ZONE", "Mars/Base"),
    ];
    let (code, _, stderr) = finish(&data, &env, &[]).await;
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: invalid value 'Mars/Base' for '--time-zone <ZONE>'"),
        "{stderr}"
    );

    let (code, _, stderr) = finish(&data, &[], &["--token", TOKEN, "--database-url", "oracle://x/y"]).await;
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "xjob: invalid setting `database_url`: scheme `oracle` is not sqlite, mysql or postgres\n"
    );
}

#[tokio::test]
async fn running_without_a_token_needs_the_explicit_flag() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let (code, _, stderr) = finish(&data, &[], &["--token", "  "]).await;
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("xjob: invalid setting `access_token`"),
        "{stderr}"
    );

    let mut running = start(&data, &[], &["--insecure-no-token"]).await;
    password_in(&running.next_line().await, "admin", "created");
    let (status, _) = get(&running.address, "/healthz").await;
    assert_eq!(status, 200);
    running.terminate().await;
}

#[tokio::test]
async fn create_token_prints_a_token_once_that_only_hashed_storage_knows() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let env = [("XJOB_ADMIN_ACCESS_TOKEN", TOKEN)];

    let (code, stdout, stderr) = finish(&data, &env, &["create-token", "deploy-bot", "--groups", "1"]).await;
    assert_eq!(code, 0, "{stderr}");
    let token = stdout
        .trim_end()
        .strip_prefix("job-API token deploy-bot created: ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected output {stdout:?}"))
        .to_owned();
    assert!(token.starts_with(xjob_admin::job_api::TOKEN_PREFIX), "{token}");
    assert!(!stderr.contains(&token), "the token must not be logged");

    let store = Store::open(&StoreOptions {
        url: format!("sqlite://{}", data.join("xjob-admin.db").display()),
        time_zone: chrono_tz::Tz::UTC,
        max_connections: Some(1),
    })
    .await
    .unwrap();
    let stored = store
        .api_token_by_hash(&xjob_admin::job_api::hash_token(&token))
        .await
        .unwrap()
        .expect("the token's hash is stored");
    assert_eq!(stored.name, "deploy-bot");
    assert!(stored.scope.allows(xjob_admin::model::JobGroupId(1)));
    assert!(!stored.scope.allows(xjob_admin::model::JobGroupId(2)));
    store.close().await;

    let (code, stdout, stderr) = finish(&data, &env, &["create-token", "x", "--groups", "one"]).await;
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert_eq!(
        stderr.lines().last(),
        Some("xjob: --groups must be comma-separated group ids, got `one`"),
        "{stderr}"
    );
}
