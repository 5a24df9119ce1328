//! A running trigger pipeline on a test database, with real SDK executors on loopback whose handlers
//! record every call they receive.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use xjob_admin::model::{
    AddressType, AppName, BlockStrategy, JobGroupId, JobId, JobLog, Lenient, LogId, NewJobGroup, RetryPolicy,
    RouteStrategy,
};
use xjob_admin::route::Router;
use xjob_admin::store::{NewJob, Store};
use xjob_admin::trigger::message::MessageStyle;
use xjob_admin::trigger::{
    ClientOptions, ExecutorClient, ExecutorGenerations, Pipeline, PipelineDeps, PipelineHandle,
    PipelineLimits, TriggerQueue, TriggerRequest, TriggerType,
};
use xjob_executor::{AdminGenerationMode, Executor, ExecutorConfig, ExecutorHandle, JobContext, JobResult};
use xjob_protocol::Generation;
use xjob_test_support::{StandinAdmin, wait_until};

use crate::support::{new_job, now};

pub(crate) const TOKEN: &str = "pipe-t0ken";
pub(crate) const APP: &str = "pipeline-app";
pub(crate) const WAIT: Duration = Duration::from_secs(15);
pub(crate) const ADMIN_ADDRESS: &str = "127.0.0.1:8080";

/// One call a test executor's handler received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) job_id: i32,
    pub(crate) log_id: i64,
    pub(crate) param: String,
    pub(crate) shard: (u32, u32),
    pub(crate) log_date_time: i64,
    pub(crate) timeout: Option<Duration>,
}

/// An SDK executor with the `record` and `sleep` handlers.
pub(crate) struct TestExecutor {
    pub(crate) handle: ExecutorHandle,
    pub(crate) calls: Arc<Mutex<Vec<Call>>>,
    _admin: StandinAdmin,
    _logs: tempfile::TempDir,
}

impl TestExecutor {
    /// Starts one answering requests of any generation, or only of `fixed`.
    pub(crate) async fn start(fixed: Option<Generation>) -> TestExecutor {
        let admin = StandinAdmin::start(fixed.unwrap_or(Generation::G3), Some(TOKEN), APP).await;
        let logs = tempfile::tempdir().unwrap();
        let mut config = ExecutorConfig::new(APP, vec![admin.base_url()], Some(TOKEN.to_owned()));
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.log_path = logs.path().to_owned();
        config.shutdown_grace = Duration::from_millis(100);
        config.admin_generation = fixed.map_or(AdminGenerationMode::Auto, AdminGenerationMode::Fixed);
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let recorder = Arc::clone(&calls);
        let handle = Executor::builder(config)
            .handler_fn("record", move |context: JobContext| {
                let calls = Arc::clone(&recorder);
                async move {
                    calls.lock().unwrap().push(Call {
                        job_id: context.job_id().0,
                        log_id: context.log_id().0,
                        param: context.param().to_owned(),
                        shard: (context.shard_index(), context.shard_total()),
                        log_date_time: context.log_date_time(),
                        timeout: context.timeout(),
                    });
                    JobResult::success()
                }
            })
            .handler_fn("sleep", |context: JobContext| async move {
                let cancelled = context.cancelled();
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(20)) => {}
                    () = cancelled.cancelled() => {}
                }
                JobResult::success()
            })
            .start()
            .await
            .unwrap();
        TestExecutor {
            handle,
            calls,
            _admin: admin,
            _logs: logs,
        }
    }

    pub(crate) fn address(&self) -> String {
        self.handle.address().to_owned()
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits for the handler to run for `log_id`.
    pub(crate) async fn call_for(&self, log_id: LogId) -> Call {
        assert!(
            wait_until(WAIT, || async {
                self.calls().iter().any(|call| call.log_id == log_id.0)
            })
            .await,
            "executor {} never ran log {}",
            self.address(),
            log_id.0
        );
        self.calls()
            .into_iter()
            .find(|call| call.log_id == log_id.0)
            .unwrap()
    }

    pub(crate) async fn stop(self) {
        self.handle.shutdown().await;
    }
}

/// A pipeline consuming its queue, on `store`.
pub(crate) struct Rig {
    pub(crate) store: Store,
    pub(crate) queue: TriggerQueue,
    pub(crate) generations: ExecutorGenerations,
    group: Mutex<Option<JobGroupId>>,
    pipeline: PipelineHandle,
}

impl Rig {
    pub(crate) fn start(store: &Store) -> Rig {
        let (queue, receiver) = TriggerQueue::bounded(1024);
        let generations = ExecutorGenerations::new(Generation::G3);
        let deps = PipelineDeps {
            client: ExecutorClient::new(&ClientOptions::default()).unwrap(),
            router: Arc::new(Router::new()),
            generations: generations.clone(),
            admin_address: ADMIN_ADDRESS.to_owned(),
            style: MessageStyle::Current,
            access_token: Some(TOKEN.to_owned()),
            limits: PipelineLimits::default(),
        };
        let pipeline = Pipeline::start(store.clone(), receiver, deps);
        Rig {
            store: store.clone(),
            queue,
            generations,
            group: Mutex::new(None),
            pipeline,
        }
    }

    /// The rig's group (manual registration), now listing `addresses`. Every test executor answers to
    /// one AppName, and AppNames are unique, so there is one group whose list each step replaces.
    pub(crate) async fn group(&self, addresses: &[String]) -> JobGroupId {
        let list = (!addresses.is_empty()).then(|| addresses.join(","));
        let existing = *self.group.lock().unwrap();
        if let Some(id) = existing {
            self.store
                .set_group_addresses(id, list.as_deref(), now())
                .await
                .unwrap();
            return id;
        }
        let id = self
            .store
            .insert_group(
                &NewJobGroup {
                    app_name: AppName::new(APP).unwrap(),
                    name: "pipeline".into(),
                    address_type: AddressType::Manual,
                    address_list: list,
                    access_token: Some(TOKEN.into()),
                },
                now(),
            )
            .await
            .unwrap();
        *self.group.lock().unwrap() = Some(id);
        id
    }

    /// A BEAN job with `handler`, routed by `strategy`, serial, 30 s timeout, no retries.
    pub(crate) async fn job(&self, group: JobGroupId, strategy: RouteStrategy, handler: &str) -> JobId {
        self.job_with(group, strategy, handler, RetryPolicy::default())
            .await
    }

    pub(crate) async fn job_with(
        &self,
        group: JobGroupId,
        strategy: RouteStrategy,
        handler: &str,
        retry: RetryPolicy,
    ) -> JobId {
        let mut job: NewJob = new_job(group, handler);
        job.settings.route_strategy = Some(Lenient::Known(strategy));
        job.settings.handler = Some(handler.to_owned());
        job.settings.block_strategy = Some(Lenient::Known(BlockStrategy::SerialExecution));
        job.settings.retry = retry;
        job.settings.child_job_id = None;
        self.store.insert_job(&job, now()).await.unwrap()
    }

    /// Submits and waits for the log ids.
    pub(crate) async fn trigger(&self, request: TriggerRequest) -> Vec<LogId> {
        self.queue.trigger(request).await.unwrap()
    }

    pub(crate) async fn manual(&self, job_id: JobId) -> Vec<LogId> {
        self.trigger(TriggerRequest::new(job_id, TriggerType::Manual))
            .await
    }

    /// Waits until the row has its trigger result.
    pub(crate) async fn settled(&self, id: LogId) -> JobLog {
        assert!(
            wait_until(WAIT, || async {
                self.store
                    .log(id)
                    .await
                    .unwrap()
                    .is_some_and(|log| log.trigger.code != 0)
            })
            .await,
            "log {} never got its trigger result",
            id.0
        );
        self.store.log(id).await.unwrap().unwrap()
    }

    pub(crate) async fn shutdown(self) {
        self.pipeline.shutdown().await;
    }
}

/// An address nothing listens on.
pub(crate) fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/")
}
