//! An application that embeds the executor SDK with two handlers of its own, in the manner of upstream's
//! sample executor:
//!
//! - `demoJobHandler` logs a greeting and five beats two seconds apart, stopping early when the execution
//!   is killed or times out;
//! - `shardingJobHandler` logs which shard of a broadcast it is.
//!
//! Run it against an admin, then create jobs with these handler names in the admin's console:
//!
//! ```text
//! cargo run -p xjob-executor --example demo_service -- \
//!     --admin http://127.0.0.1:8080/xxl-job-admin --token default_token [--app-name xjob-demo] [--port 9999]
//! ```
//!
//! It stops gracefully when Enter is pressed (or standard input closes).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use xjob_executor::{BoxFuture, Executor, ExecutorConfig, JobContext, JobHandler, JobResult};

/// Logs a greeting and five beats; the longer-running example.
struct DemoHandler;

impl JobHandler for DemoHandler {
    fn run<'a>(&'a self, context: JobContext) -> BoxFuture<'a, JobResult> {
        Box::pin(async move {
            context.log("XXL-JOB, Hello World.");
            let cancelled = context.cancelled();
            for beat in 0..5 {
                context.log(&format!("beat at:{beat}"));
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                    // The SDK reports a killed or timed-out execution itself; the handler only has to stop.
                    () = cancelled.cancelled() => return JobResult::fail("stopped"),
                }
            }
            JobResult::success()
        })
    }
}

/// The settings this example understands.
struct Options {
    admin_addresses: Vec<String>,
    token: Option<String>,
    app_name: String,
    port: u16,
    log_path: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_options(std::env::args().skip(1))?;
    let mut config = ExecutorConfig::new(options.app_name, options.admin_addresses, options.token);
    config.bind.set_port(options.port);
    config.log_path = options.log_path;

    let executor = Executor::builder(config)
        .handler("demoJobHandler", DemoHandler)
        .handler_fn("shardingJobHandler", |context: JobContext| async move {
            let (index, total) = (context.shard_index(), context.shard_total());
            context.log(&format!("sharding param: index = {index}, total = {total}"));
            for shard in 0..total {
                let mine = if shard == index {
                    "mine, processing"
                } else {
                    "not mine, skipped"
                };
                context.log(&format!("shard {shard}: {mine}"));
            }
            JobResult::success()
        })
        .start()
        .await?;
    eprintln!(
        "executor listening on {}, registered as {}; press Enter to stop",
        executor.local_addr(),
        executor.address()
    );

    // Reading a line blocks, so it runs on the blocking pool; end of input counts as Enter.
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await?;
    executor.shutdown().await;
    Ok(())
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        admin_addresses: Vec::new(),
        token: None,
        app_name: "xjob-demo".to_owned(),
        port: 9999,
        log_path: std::env::temp_dir().join("xjob-demo-logs"),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--admin" => options
                .admin_addresses
                .extend(value()?.split(',').map(str::to_owned)),
            "--token" => options.token = Some(value()?),
            "--app-name" => options.app_name = value()?,
            "--port" => options.port = value()?.parse().map_err(|_| "--port needs a number".to_owned())?,
            "--log-path" => options.log_path = PathBuf::from(value()?),
            other => {
                return Err(format!(
                    "unknown option {other}; expected --admin, --token, --app-name, --port, --log-path"
                ));
            }
        }
    }
    if options.admin_addresses.is_empty() {
        return Err("--admin <URL> is required".to_owned());
    }
    Ok(options)
}
