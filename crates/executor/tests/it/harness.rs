//! Starting executors with the test handlers against a stand-in admin, and building triggers.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use xjob_executor::{
    AdminGenerationMode, CancelReason, Executor, ExecutorBuilder, ExecutorConfig, ExecutorHandle,
    GlueHandlerFactory, GlueSpec, JobContext, JobHandler, JobId, JobResult,
};
use xjob_protocol::{BlockStrategy, CallbackItem, Generation, GlueType, Lenient, LogId, TriggerRequest};
use xjob_test_support::{StandinAdmin, wait_until};

pub(crate) const TOKEN: &str = "t0ken";
pub(crate) const APP: &str = "it-app";
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// What the test handlers observed.
#[derive(Default)]
pub(crate) struct Observed {
    pub(crate) cancel_reasons: Mutex<Vec<CancelReason>>,
    pub(crate) glue_builds: AtomicUsize,
    /// `stubborn` handlers whose future was dropped before it returned.
    pub(crate) aborted_handlers: AtomicUsize,
    /// `stubborn` handlers that ran to their end.
    pub(crate) finished_stubborn: AtomicUsize,
}

/// Counts an abort when dropped before [`disarm`](Self::disarm).
struct AbortWitness(Option<Arc<Observed>>);

impl AbortWitness {
    fn disarm(mut self) {
        if let Some(observed) = self.0.take() {
            observed.finished_stubborn.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for AbortWitness {
    fn drop(&mut self) {
        if let Some(observed) = self.0.take() {
            observed.aborted_handlers.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub(crate) async fn admin(generation: Generation) -> StandinAdmin {
    StandinAdmin::start(generation, Some(TOKEN), APP).await
}

pub(crate) fn config(admin: &StandinAdmin, log_path: &Path) -> ExecutorConfig {
    let mut config = ExecutorConfig::new(APP, vec![admin.base_url()], Some(TOKEN.to_owned()));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.log_path = log_path.to_owned();
    config.beat_interval = Duration::from_millis(200);
    config.shutdown_grace = Duration::from_millis(200);
    config.admin_timeout = Duration::from_secs(2);
    config
}

pub(crate) async fn start(config: ExecutorConfig, observed: &Arc<Observed>) -> ExecutorHandle {
    builder(config, observed).start().await.expect("executor starts")
}

/// An executor builder with the test handlers: `echo`, `sleep` (milliseconds, honours cancellation),
/// `stubborn` (milliseconds, ignores cancellation), `panic`, `lost`, and the GLUE echo factory.
pub(crate) fn builder(config: ExecutorConfig, observed: &Arc<Observed>) -> ExecutorBuilder {
    let sleeper = Arc::clone(observed);
    let stubborn = Arc::clone(observed);
    let factory = GlueFactory(Arc::clone(observed));
    Executor::builder(config)
        .handler_fn("echo", |ctx: JobContext| async move {
            ctx.log(&format!("param {}", ctx.param()));
            ctx.logger().line("second line");
            JobResult::success_with(format!("{} {}/{}", ctx.param(), ctx.shard_index(), ctx.shard_total()))
        })
        .handler_fn("sleep", move |ctx: JobContext| {
            let observed = Arc::clone(&sleeper);
            async move {
                let millis: u64 = ctx.param().parse().unwrap_or(10_000);
                let cancelled = ctx.cancelled();
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(millis)) => JobResult::success_with("slept"),
                    () = cancelled.cancelled() => {
                        observed.cancel_reasons.lock().unwrap().push(ctx.cancel_reason().unwrap());
                        JobResult::success_with("cancelled, but this result is replaced")
                    }
                }
            }
        })
        .handler_fn("stubborn", move |ctx: JobContext| {
            let witness = AbortWitness(Some(Arc::clone(&stubborn)));
            async move {
                let millis: u64 = ctx.param().parse().unwrap_or(60_000);
                tokio::time::sleep(Duration::from_millis(millis)).await;
                witness.disarm();
                JobResult::success_with("ignored cancellation")
            }
        })
        .handler_fn("panic", |_ctx: JobContext| async move { panic!("handler bug") })
        .handler_fn("lost", |_ctx: JobContext| async move { JobResult { code: 0, msg: None } })
        .glue_factory(factory)
}

pub(crate) async fn start_for(
    admin: &StandinAdmin,
    log_path: &Path,
    observed: &Arc<Observed>,
) -> ExecutorHandle {
    let mut config = config(admin, log_path);
    config.admin_generation = AdminGenerationMode::Auto;
    let handle = start(config, observed).await;
    assert!(
        wait_until(WAIT, || async { !admin.registrations().is_empty() }).await,
        "executor registers"
    );
    handle
}

pub(crate) fn trigger(job_id: i32, log_id: i64, handler: &str, param: &str) -> TriggerRequest {
    TriggerRequest {
        job_id: JobId(job_id),
        executor_handler: Some(handler.to_owned()),
        executor_params: Some(param.to_owned()),
        executor_block_strategy: Some(Lenient::Known(BlockStrategy::SerialExecution)),
        executor_timeout: 0,
        log_id: LogId(log_id),
        log_date_time: chrono_now_ms(),
        glue_type: Some(Lenient::Known(GlueType::Bean)),
        glue_source: None,
        glue_updatetime: 0,
        broadcast_index: 0,
        broadcast_total: 1,
    }
}

pub(crate) fn with_strategy(mut request: TriggerRequest, strategy: BlockStrategy) -> TriggerRequest {
    request.executor_block_strategy = Some(Lenient::Known(strategy));
    request
}

pub(crate) fn chrono_now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

pub(crate) async fn callback(admin: &StandinAdmin, log_id: i64) -> CallbackItem {
    assert!(
        wait_until(WAIT, || async { admin.callback_for(log_id).is_some() }).await,
        "callback for log {log_id}"
    );
    admin.callback_for(log_id).unwrap()
}

/// GLUE handlers that echo the source; counts how often the executor asks for one.
struct GlueFactory(Arc<Observed>);

struct GlueEcho;

impl GlueHandlerFactory for GlueFactory {
    fn handler(&self, _job_id: JobId, glue: &GlueSpec) -> Result<Arc<dyn JobHandler>, String> {
        if glue.source.contains("syntax error") {
            return Err("compile failed: syntax error".to_owned());
        }
        self.0.glue_builds.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::new(GlueEcho))
    }
}

impl JobHandler for GlueEcho {
    fn run<'a>(&'a self, ctx: JobContext) -> xjob_executor::BoxFuture<'a, JobResult> {
        Box::pin(async move {
            let glue = ctx.glue().expect("GLUE jobs carry their source");
            JobResult::success_with(format!("{}@{}", glue.source, glue.updated_at_ms))
        })
    }
}

/// A stand-in admin of one generation with a registered executor.
pub(crate) struct Running {
    pub(crate) admin: StandinAdmin,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) observed: Arc<Observed>,
    pub(crate) executor: ExecutorHandle,
    pub(crate) address: String,
}

impl Running {
    pub(crate) async fn start(generation: Generation) -> Self {
        let admin = admin(generation).await;
        let dir = tempfile::tempdir().unwrap();
        let observed = Arc::new(Observed::default());
        let executor = start_for(&admin, dir.path(), &observed).await;
        let address = executor.address().to_owned();
        Running {
            admin,
            dir,
            observed,
            executor,
            address,
        }
    }
}

/// Sends a trigger and asserts the executor accepted it.
pub(crate) async fn accept(admin: &StandinAdmin, address: &str, request: &TriggerRequest) {
    let reply = admin.trigger(address, request).await;
    assert_eq!(
        reply.code(),
        200,
        "trigger of log {}: {}",
        request.log_id,
        reply.body
    );
}
