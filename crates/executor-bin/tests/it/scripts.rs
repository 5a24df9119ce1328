//! GLUE script jobs through a running executor: parameters and shards reach the script, kill and timeout
//! leave no process behind, each installed interpreter runs, and the GLUE switch and GLUE(Java) are refused.

use std::time::Duration;

use serde_json::json;
use xjob_protocol::message::{JOB_EXECUTE_TIMEOUT, StopReason};

use xjob_test_support::{next_log_id, wait_until};

use crate::harness::{Running, on_path, process_running};

/// A running shell script that started a sleeping grandchild, with both process ids.
struct Sleeper {
    log_id: i64,
    pids: [i32; 2],
    _pid_dir: tempfile::TempDir,
}

impl Sleeper {
    /// Triggers the script as job `job_id` with the trigger fields `extra` and waits until it runs.
    async fn start(running: &Running, job_id: i32, extra: serde_json::Value) -> Sleeper {
        let pid_dir = tempfile::tempdir().unwrap();
        let source = format!(
            "echo $$ > {dir}/shell.pid\nsleep 300 &\necho $! > {dir}/grandchild.pid\necho started\nwait\n",
            dir = pid_dir.path().display()
        );
        let mut trigger = json!({"glueType": "GLUE_SHELL", "glueSource": source, "glueUpdatetime": 11});
        for (key, value) in extra.as_object().unwrap() {
            trigger[key] = value.clone();
        }
        let log_id = next_log_id();
        running.run(job_id, log_id, trigger).await;

        let read = |name: &str| {
            std::fs::read_to_string(pid_dir.path().join(name))
                .ok()?
                .trim()
                .parse::<i32>()
                .ok()
        };
        let started = wait_until(Duration::from_secs(10), || async {
            read("shell.pid").is_some() && read("grandchild.pid").is_some()
        });
        assert!(started.await, "the script did not start");
        let pids = [read("shell.pid").unwrap(), read("grandchild.pid").unwrap()];
        assert!(pids.iter().all(|&pid| process_running(pid)));
        Sleeper {
            log_id,
            pids,
            _pid_dir: pid_dir,
        }
    }

    async fn assert_all_gone(&self) {
        let gone = wait_until(Duration::from_secs(5), || async {
            self.pids.iter().all(|&pid| !process_running(pid))
        });
        assert!(gone.await, "processes {:?} outlived the job", self.pids);
    }
}

#[tokio::test]
async fn kill_stops_the_script_and_its_children() {
    let running = Running::start().await;
    let sleeper = Sleeper::start(&running, 41, json!({})).await;
    let reply = running.kill(41).await;
    assert_eq!(reply.code(), 200, "{}", reply.body);
    let result = running.result(sleeper.log_id).await;
    let killed = StopReason::Killed.running_execution_killed();
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (500, Some(killed.as_str()))
    );
    sleeper.assert_all_gone().await;
    running.executor.shutdown().await;
}

#[tokio::test]
async fn timeout_stops_the_script_and_its_children() {
    let running = Running::start().await;
    let sleeper = Sleeper::start(&running, 42, json!({"executorTimeout": 1})).await;
    let result = running.result(sleeper.log_id).await;
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (502, Some(JOB_EXECUTE_TIMEOUT))
    );
    sleeper.assert_all_gone().await;
    running.executor.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_running_scripts_after_the_grace() {
    let running = Running::start().await;
    let sleeper = Sleeper::start(&running, 48, json!({})).await;
    // The log directory stays until the end: the executor writes to it while it stops.
    let Running {
        admin,
        executor,
        logs: _logs,
    } = running;
    executor.shutdown().await;
    let result = admin
        .callback_for(sleeper.log_id)
        .expect("shutdown reports the killed execution");
    let killed = StopReason::Shutdown.running_execution_killed();
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (500, Some(killed.as_str()))
    );
    sleeper.assert_all_gone().await;
}

#[tokio::test]
async fn param_and_shard_reach_the_script() {
    let running = Running::start().await;
    let log_id = next_log_id();
    let trigger = json!({
        "glueType": "GLUE_SHELL",
        "glueSource": "echo \"param=[$1] shard=$2/$3\"\nexit 0\n",
        "glueUpdatetime": 1_781_800_000_000_i64,
        "executorParams": "--dry-run now",
        "broadcastIndex": 2,
        "broadcastTotal": 4
    });
    running.run(43, log_id, trigger).await;
    let result = running.result(log_id).await;
    assert_eq!(result.handle_code, 200, "{:?}", result.handle_msg);
    let log = running.log(log_id);
    assert!(log.contains("param=[--dry-run now] shard=2/4\n"), "{log}");
    let source = running.logs.path().join("gluesource/43_1781800000000.sh");
    assert!(
        log.contains(&format!(
            "----------- script file:{} -----------",
            source.display()
        )),
        "{log}"
    );
    running.executor.shutdown().await;
}

#[tokio::test]
async fn failing_script_reports_its_exit_value() {
    let running = Running::start().await;
    let log_id = next_log_id();
    running
        .run(
            44,
            log_id,
            json!({"glueType": "GLUE_SHELL", "glueSource": "echo oops >&2\nexit 3"}),
        )
        .await;
    let result = running.result(log_id).await;
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (500, Some("script exit value(3) is failed"))
    );
    assert!(running.log(log_id).contains("oops\n"));
    running.executor.shutdown().await;
}

#[tokio::test]
async fn each_installed_interpreter_runs() {
    let cases = [
        ("GLUE_SHELL", "bash", "echo \"$1|$2|$3\""),
        (
            "GLUE_PYTHON",
            "python3",
            "import sys\nprint('|'.join(sys.argv[1:]))",
        ),
        (
            "GLUE_PYTHON2",
            "python",
            "import sys\nprint('|'.join(sys.argv[1:]))",
        ),
        (
            "GLUE_NODEJS",
            "node",
            "console.log(process.argv.slice(2).join('|'))",
        ),
        (
            "GLUE_PHP",
            "php",
            "<?php echo implode('|', array_slice($argv, 1)), \"\\n\";",
        ),
        ("GLUE_POWERSHELL", "pwsh", "Write-Output ($args -join '|')"),
    ];
    let running = Running::start().await;
    let mut ran = 0;
    for (job_id, (glue_type, interpreter, source)) in (50..).zip(cases) {
        if !on_path(interpreter) {
            eprintln!("skipping {glue_type}: `{interpreter}` is not on PATH");
            continue;
        }
        let log_id = next_log_id();
        let trigger = json!({"glueType": glue_type, "glueSource": source, "executorParams": "x y",
                             "broadcastIndex": 1, "broadcastTotal": 2});
        running.run(job_id, log_id, trigger).await;
        let result = running.result(log_id).await;
        assert_eq!(
            result.handle_code,
            200,
            "{glue_type}: {:?} {}",
            result.handle_msg,
            running.log(log_id)
        );
        assert!(
            running.log(log_id).contains("x y|1|2\n"),
            "{glue_type}: {}",
            running.log(log_id)
        );
        ran += 1;
    }
    assert!(ran >= 2, "bash and python3 are needed to build this project");
    running.executor.shutdown().await;
}

#[tokio::test]
async fn changed_source_replaces_the_file() {
    let running = Running::start().await;
    for (version, text) in [(1, "first"), (2, "second")] {
        let log_id = next_log_id();
        let trigger = json!({"glueType": "GLUE_SHELL", "glueSource": format!("echo {text}"), "glueUpdatetime": version});
        running.run(45, log_id, trigger).await;
        assert_eq!(running.result(log_id).await.handle_code, 200);
        assert!(running.log(log_id).contains(&format!("{text}\n")));
    }
    let files: Vec<_> = std::fs::read_dir(running.logs.path().join("gluesource"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, ["45_2.sh"]);
    running.executor.shutdown().await;
}

#[tokio::test]
async fn groovy_is_refused_with_a_clear_message() {
    let running = Running::start().await;
    let reply = running
        .trigger(
            46,
            next_log_id(),
            json!({"glueType": "GLUE_GROOVY", "glueSource": "class A {}"}),
        )
        .await;
    assert_eq!(reply.code(), 500);
    assert_eq!(
        reply.msg().unwrap(),
        "GLUE(Java) needs a Java executor; this executor runs the script glue types only \
         (Shell, Python, Nodejs, PHP, PowerShell)."
    );
    running.executor.shutdown().await;
}

#[tokio::test]
async fn glue_switch_off_refuses_scripts() {
    let running = Running::start_with(|args| args.glue_enabled = Some(false)).await;
    let reply = running
        .trigger(
            47,
            next_log_id(),
            json!({"glueType": "GLUE_SHELL", "glueSource": "exit 0"}),
        )
        .await;
    assert_eq!(reply.code(), 500);
    assert_eq!(
        reply.msg().unwrap(),
        "fail, current glue type [GLUE(Shell)] not supported."
    );
    running.executor.shutdown().await;
}
