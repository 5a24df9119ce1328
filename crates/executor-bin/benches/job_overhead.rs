//! How long a built-in job takes from trigger to result on a ready executor, compared with the cheapest
//! job it can run: `commandJobHandler` starting `true`, measured in the same run. Everything runs on
//! loopback against the test stand-in admin; each kind runs a fixed number of times, one after another.
//!
//! Run with `cargo bench -p xjob-executor-bin --bench job_overhead`; the report goes to standard error.

// A bench binary reports its figures and panics on a broken set-up, like a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::json;
use xjob_executor_bin::{AdminGeneration, ExecutorArgs, Secret};
use xjob_protocol::{ExecutorEndpoint, Generation};
use xjob_test_support::{StandinAdmin, wait_until};

const RUNS: usize = 30;
const TOKEN: &str = "bench-token";
const APP_NAME: &str = "xjob-bench";

#[tokio::main]
async fn main() {
    let admin = StandinAdmin::start(Generation::G3, Some(TOKEN), APP_NAME).await;
    let logs = tempfile::tempdir().unwrap();
    let args = ExecutorArgs {
        app_name: Some(APP_NAME.to_owned()),
        admin_addresses: vec![admin.base_url()],
        access_token: Some(Secret::from(TOKEN.to_owned())),
        listen: Some("127.0.0.1".parse().unwrap()),
        port: Some(0),
        log_path: Some(logs.path().to_owned()),
        admin_generation: Some(AdminGeneration::G3),
        ..ExecutorArgs::default()
    };
    let executor = xjob_executor_bin::start(args).await.unwrap();
    let kinds = [
        (
            "command `true` (baseline)",
            json!({"executorHandler": "commandJobHandler", "executorParams": "true"}),
        ),
        (
            "GLUE shell `exit 0`",
            json!({"glueType": "GLUE_SHELL", "glueSource": "exit 0"}),
        ),
        (
            "GLUE python3 `pass`",
            json!({"glueType": "GLUE_PYTHON", "glueSource": "pass"}),
        ),
    ];
    let mut log_id = 1_i64;
    let mut baseline = None;
    for (job_id, (name, fields)) in (1..).zip(kinds) {
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            log_id += 1;
            let mut body = json!({
                "jobId": job_id, "executorHandler": "", "executorParams": "", "executorBlockStrategy": "SERIAL_EXECUTION",
                "executorTimeout": 0, "logId": log_id, "logDateTime": 0, "glueType": "BEAN", "glueSource": "",
                "glueUpdatetime": 1, "broadcastIndex": 0, "broadcastTotal": 1
            });
            for (key, value) in fields.as_object().unwrap() {
                body[key] = value.clone();
            }
            let started = Instant::now();
            let reply = admin
                .send(
                    executor.address(),
                    ExecutorEndpoint::Trigger,
                    body.to_string().into_bytes(),
                )
                .await;
            assert_eq!(reply.code(), 200, "{}", reply.body);
            let done = wait_until(Duration::from_secs(30), || async {
                admin.callback_for(log_id).is_some()
            })
            .await;
            assert!(done, "{name}: no result");
            assert_eq!(admin.callback_for(log_id).unwrap().handle_code, 200, "{name}");
            times.push(started.elapsed());
        }
        times.sort();
        let median = times[RUNS / 2];
        let baseline = *baseline.get_or_insert(median);
        eprintln!(
            "{name:28} median {:>7.1} ms  p90 {:>7.1} ms  ratio to baseline {:.2}",
            median.as_secs_f64() * 1e3,
            times[RUNS * 9 / 10].as_secs_f64() * 1e3,
            median.as_secs_f64() / baseline.as_secs_f64()
        );
    }
    executor.shutdown().await;
}
