//! The trigger pipeline end to end: requests in, log rows written, real SDK executors called over
//! loopback, trigger results stored — on every configured engine.

use std::collections::BTreeSet;

use chrono::Utc;
use xjob_admin::model::{JobId, RouteStrategy};
use xjob_admin::trigger::message::ADDRESS_EMPTY;
use xjob_admin::trigger::{TriggerRejected, TriggerRequest, TriggerType};
use xjob_protocol::Generation;
use xjob_test_support::wait_until;

use crate::support::each_store;
use crate::trigger_rig::{ADMIN_ADDRESS, Rig, TestExecutor, WAIT, dead_address};

#[tokio::test]
async fn a_trigger_writes_its_row_and_reaches_the_executor_with_the_job_fields() {
    each_store(|store, _| async move {
        let rig = Rig::start(&store);
        let (first, second) = (TestExecutor::start(None).await, TestExecutor::start(None).await);
        let group = rig.group(&[first.address(), second.address()]).await;
        let job = rig.job(group, RouteStrategy::First, "record").await;
        let before = Utc::now().timestamp_millis();

        let mut request = TriggerRequest::new(job, TriggerType::Manual);
        request.executor_param = Some("day=2026-06-19".into());
        let ids = rig.trigger(request).await;
        assert_eq!(ids.len(), 1);
        let call = first.call_for(ids[0]).await;
        assert_eq!(call.job_id, job.0);
        assert_eq!(call.param, "day=2026-06-19");
        assert_eq!(call.shard, (0, 1));
        assert_eq!(call.timeout, Some(std::time::Duration::from_secs(30)));
        assert!((before..=Utc::now().timestamp_millis()).contains(&call.log_date_time));

        let log = rig.settled(ids[0]).await;
        assert_eq!(log.job_id, job);
        assert_eq!(log.job_group, group);
        assert_eq!(log.trigger.code, 200);
        assert_eq!(log.trigger.executor_address, Some(first.address()));
        assert_eq!(log.trigger.executor_handler.as_deref(), Some("record"));
        assert_eq!(log.trigger.executor_param.as_deref(), Some("day=2026-06-19"));
        assert_eq!(log.trigger.executor_sharding_param, None);
        assert_eq!(log.trigger.executor_fail_retry_count, 0);
        assert_eq!(
            log.trigger_time.map(|time| time.timestamp()),
            Some(call.log_date_time.div_euclid(1000)),
            "the row keeps the executor's trigger time, in whole seconds"
        );
        let msg = log.trigger.msg.unwrap();
        assert!(
            msg.starts_with(&format!(
                "Trigger type：Manual trigger<br>Admin address：{ADMIN_ADDRESS}"
            )),
            "{msg}"
        );
        assert!(msg.contains("Manual registration"), "{msg}");
        assert!(msg.ends_with("Trigger result：success"), "{msg}");
        // Without an override the job's own parameter is sent.
        let ids = rig.manual(job).await;
        assert_eq!(first.call_for(ids[0]).await.param, "p=1");
        assert!(second.calls().is_empty());

        // A job that does not exist leaves no row.
        let rejected = rig
            .queue
            .trigger(TriggerRequest::new(JobId(9999), TriggerType::Cron))
            .await;
        assert_eq!(rejected, Err(TriggerRejected::NoSuchJob(JobId(9999))));
        assert!(store.log(ids[0]).await.unwrap().is_some());
        assert_eq!(
            store.log(xjob_admin::model::LogId(ids[0].0 + 1)).await.unwrap(),
            None
        );
        rig.shutdown().await;
        first.stop().await;
        second.stop().await;
    })
    .await;
}

#[tokio::test]
async fn every_picking_strategy_chooses_a_listed_executor() {
    each_store(|store, _| async move {
        let rig = Rig::start(&store);
        let executors = [TestExecutor::start(None).await, TestExecutor::start(None).await];
        let addresses: Vec<String> = executors.iter().map(TestExecutor::address).collect();
        let mut sorted = addresses.clone();
        sorted.sort();
        let group = rig.group(&sorted).await;
        let chosen = |strategy| {
            let rig = &rig;
            async move {
                let job = rig.job(group, strategy, "record").await;
                let mut picked = Vec::new();
                for _ in 0..2 {
                    let ids = rig.manual(job).await;
                    let log = rig.settled(ids[0]).await;
                    assert_eq!(log.trigger.code, 200, "{strategy:?}: {:?}", log.trigger.msg);
                    picked.push(log.trigger.executor_address.unwrap());
                }
                picked
            }
        };
        assert_eq!(
            chosen(RouteStrategy::First).await,
            [sorted[0].clone(), sorted[0].clone()]
        );
        assert_eq!(
            chosen(RouteStrategy::Last).await,
            [sorted[1].clone(), sorted[1].clone()]
        );
        let round = chosen(RouteStrategy::Round).await;
        assert_ne!(round[0], round[1], "ROUND alternates");
        let lru = chosen(RouteStrategy::LeastRecentlyUsed).await;
        assert_ne!(lru[0], lru[1], "LRU takes the other one next");
        let hash = chosen(RouteStrategy::ConsistentHash).await;
        assert_eq!(hash[0], hash[1], "the same job hashes to the same executor");
        for strategy in [RouteStrategy::Random, RouteStrategy::LeastFrequentlyUsed] {
            for address in chosen(strategy).await {
                assert!(sorted.contains(&address), "{strategy:?} chose {address}");
            }
        }
        let calls: usize = executors.iter().map(|executor| executor.calls().len()).sum();
        assert!(
            wait_until(WAIT, || async {
                executors
                    .iter()
                    .map(|executor| executor.calls().len())
                    .sum::<usize>()
                    == 14
            })
            .await,
            "14 executions, saw {calls} at first"
        );
        rig.shutdown().await;
        for executor in executors {
            executor.stop().await;
        }
    })
    .await;
}

#[tokio::test]
async fn failover_skips_a_dead_executor_and_busyover_a_busy_one() {
    each_store(|store, _| async move {
        let rig = Rig::start(&store);
        let (busy, idle) = (TestExecutor::start(None).await, TestExecutor::start(None).await);

        let dead = dead_address();
        let failover_group = rig.group(&[dead.clone(), idle.address()]).await;
        let job = rig.job(failover_group, RouteStrategy::Failover, "record").await;
        let log = rig.settled(rig.manual(job).await[0]).await;
        assert_eq!(log.trigger.code, 200);
        assert_eq!(log.trigger.executor_address, Some(idle.address()));
        assert!(log.trigger.msg.unwrap().ends_with("Trigger result：success"));

        // Every address dead: the probe log becomes the route message.
        let all_dead = rig.group(std::slice::from_ref(&dead)).await;
        let job = rig.job(all_dead, RouteStrategy::Failover, "record").await;
        let log = rig.settled(rig.manual(job).await[0]).await;
        assert_eq!(log.trigger.code, 500);
        assert_eq!(log.trigger.executor_address, None);
        let msg = log.trigger.msg.unwrap();
        assert!(
            msg.contains("address route fail, Heartbeat check：<br>address："),
            "{msg}"
        );
        assert!(msg.contains(&dead), "{msg}");

        // The busy executor is running this job already; BUSYOVER moves on to the idle one.
        let busyover_group = rig.group(&[busy.address(), idle.address()]).await;
        let job = rig.job(busyover_group, RouteStrategy::Busyover, "sleep").await;
        let mut occupy = TriggerRequest::new(job, TriggerType::Manual);
        occupy.address_list = Some(vec![busy.address()]);
        let occupied = rig.settled(rig.trigger(occupy).await[0]).await;
        assert_eq!(occupied.trigger.executor_address, Some(busy.address()));
        let log = rig.settled(rig.manual(job).await[0]).await;
        assert_eq!(log.trigger.code, 200, "{:?}", log.trigger.msg);
        assert_eq!(log.trigger.executor_address, Some(idle.address()));
        rig.shutdown().await;
        busy.stop().await;
        idle.stop().await;
    })
    .await;
}

#[tokio::test]
async fn sharding_broadcast_writes_one_row_per_executor() {
    each_store(|store, _| async move {
        let rig = Rig::start(&store);
        let executors = [
            TestExecutor::start(None).await,
            TestExecutor::start(None).await,
            TestExecutor::start(None).await,
        ];
        let addresses: Vec<String> = executors.iter().map(TestExecutor::address).collect();
        let group = rig.group(&addresses).await;
        let job = rig.job(group, RouteStrategy::ShardingBroadcast, "record").await;
        let ids = rig.manual(job).await;
        assert_eq!(ids.len(), 3);
        let mut trigger_times = BTreeSet::new();
        for (index, (id, executor)) in ids.iter().zip(&executors).enumerate() {
            let call = executor.call_for(*id).await;
            assert_eq!(call.shard, (index as u32, 3));
            trigger_times.insert(call.log_date_time);
            let log = rig.settled(*id).await;
            assert_eq!(log.trigger.code, 200);
            assert_eq!(
                log.trigger.executor_address.as_deref(),
                Some(addresses[index].as_str())
            );
            let label = format!("{index}/3");
            assert_eq!(
                log.trigger.executor_sharding_param.as_deref(),
                Some(label.as_str())
            );
            assert!(
                log.trigger
                    .msg
                    .unwrap()
                    .contains(&format!("Sharding Broadcast({label})"))
            );
        }
        assert_eq!(trigger_times.len(), 1, "all shards share one trigger time");

        // A retry of one shard goes to that shard's executor only.
        let mut retry = TriggerRequest::new(job, TriggerType::Retry);
        retry.shard = Some((1, 3));
        let ids = rig.trigger(retry).await;
        assert_eq!(ids.len(), 1);
        assert_eq!(executors[1].call_for(ids[0]).await.shard, (1, 3));
        let log = rig.settled(ids[0]).await;
        assert_eq!(log.trigger.executor_sharding_param.as_deref(), Some("1/3"));
        rig.shutdown().await;
        for executor in executors {
            executor.stop().await;
        }
    })
    .await;
}

#[tokio::test]
async fn failures_are_recorded_in_the_row() {
    each_store(|store, _| async move {
        let rig = Rig::start(&store);
        let executor = TestExecutor::start(None).await;
        let group = rig.group(&[executor.address()]).await;

        let missing = rig.job(group, RouteStrategy::First, "nope").await;
        let log = rig.settled(rig.manual(missing).await[0]).await;
        assert_eq!(log.trigger.code, 500);
        assert_eq!(log.trigger.executor_address, Some(executor.address()));
        let msg = log.trigger.msg.unwrap();
        assert!(msg.contains("job handler [nope] not found."), "{msg}");

        let empty = rig.group(&[]).await;
        let job = rig.job(empty, RouteStrategy::Round, "record").await;
        let log = rig.settled(rig.manual(job).await[0]).await;
        assert_eq!(log.trigger.code, 500);
        assert_eq!(log.trigger.executor_address, None);
        let msg = log.trigger.msg.unwrap();
        assert!(msg.contains("Executor addresses：null"), "{msg}");
        assert!(
            msg.contains(&format!("address route fail, {ADDRESS_EMPTY}")),
            "{msg}"
        );
        assert!(
            msg.ends_with("Trigger result：error, Address Router Fail."),
            "{msg}"
        );

        // An override replaces the group's list for one trigger.
        let mut request = TriggerRequest::new(job, TriggerType::Manual);
        request.address_list = Some(vec![format!(" {} ", executor.address())]);
        let ids = rig.trigger(request).await;
        executor.call_for(ids[0]).await;
        let log = rig.settled(ids[0]).await;
        assert_eq!(log.trigger.code, 200);
        assert_eq!(log.trigger.executor_address, Some(executor.address()));
        rig.shutdown().await;
        executor.stop().await;
    })
    .await;
}

#[tokio::test]
async fn g1_and_g3_executors_are_called_in_their_generation() {
    each_store(|store, _| async move {
        let rig = Rig::start(&store);
        let g1 = TestExecutor::start(Some(Generation::G1)).await;
        let g3 = TestExecutor::start(Some(Generation::G3)).await;
        rig.generations.set(&g1.address(), Generation::G1);
        for executor in [&g1, &g3] {
            let group = rig.group(&[executor.address()]).await;
            let job = rig.job(group, RouteStrategy::First, "record").await;
            let ids = rig.manual(job).await;
            executor.call_for(ids[0]).await;
            let log = rig.settled(ids[0]).await;
            assert_eq!(log.trigger.code, 200, "{:?}", log.trigger.msg);
        }
        // Spoken to in the wrong generation, a fixed G1 executor refuses `/trigger`.
        rig.generations.set(&g1.address(), Generation::G3);
        let group = rig.group(&[g1.address()]).await;
        let job = rig.job(group, RouteStrategy::First, "record").await;
        let log = rig.settled(rig.manual(job).await[0]).await;
        assert_ne!(log.trigger.code, 200);
        rig.shutdown().await;
        g1.stop().await;
        g3.stop().await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_triggers_everything_already_queued() {
    each_store(|store, _| async move {
        let rig = Rig::start(&store);
        let executor = TestExecutor::start(None).await;
        let group = rig.group(&[executor.address()]).await;
        let job = rig.job(group, RouteStrategy::First, "record").await;
        let mut replies = Vec::new();
        for _ in 0..200 {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let mut request = TriggerRequest::new(job, TriggerType::Cron);
            request.reply = Some(tx);
            rig.queue.try_submit(request).unwrap();
            replies.push(rx);
        }
        let queue = rig.queue.clone();
        rig.shutdown().await;
        assert!(
            queue
                .try_submit(TriggerRequest::new(job, TriggerType::Cron))
                .is_err(),
            "a stopped pipeline accepts nothing"
        );
        for reply in replies {
            let ids = reply.await.unwrap().unwrap();
            let log = store.log(ids[0]).await.unwrap().unwrap();
            assert_eq!(
                log.trigger.code, 200,
                "every queued trigger was sent and its result stored"
            );
        }
        executor.stop().await;
    })
    .await;
}
