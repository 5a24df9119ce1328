//! The ten routing strategies over three registered executors, as the composed admin routes triggers.

use std::collections::HashSet;

use serde_json::json;
use xjob_admin::model::{JobGroupId, JobId, JobLog};
use xjob_protocol::ACCESS_TOKEN_HEADER;

use super::{Node, Rig, TOKEN, all_calls, on_every_engine, stop_all};

const APP: &str = "e2e-routing";
/// Nothing listens on port 1; as an address it sorts before every other loopback port.
const DEAD: &str = "http://127.0.0.1:1/";

/// Three executors registered with the admin (one through the `/xxl-job-admin` context path) and their
/// group's address list in routing order.
async fn cluster(rig: &Rig) -> (Vec<Node>, JobGroupId, Vec<String>) {
    let nodes = vec![
        Node::start(APP, &rig.url()).await,
        Node::start(APP, &rig.context_path_url()).await,
        Node::start(APP, &rig.url()).await,
    ];
    let group = rig.group(APP).await;
    let addresses: Vec<String> = nodes.iter().map(Node::address).collect();
    let order = rig.addresses_become(group, &addresses).await;
    (nodes, group, order)
}

/// Triggers `job` `times` times, one after the other finished; returns the addresses chosen.
async fn route(rig: &Rig, job: JobId, times: usize) -> Vec<String> {
    let mut chosen = Vec::new();
    for _ in 0..times {
        let ids = rig.trigger(job, None).await;
        let row = rig.finished(ids[0]).await;
        assert_eq!((row.trigger.code, row.handle.code), (200, 200), "{row:#?}");
        chosen.push(row.trigger.executor_address.unwrap());
    }
    chosen
}

async fn strategy_job(rig: &Rig, group: JobGroupId, strategy: &str, handler: &str) -> JobId {
    rig.job(
        group,
        handler,
        json!({"executorRouteStrategy": strategy, "name": strategy}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_routing_strategy_picks_executors_as_designed() {
    on_every_engine(|engine| async move {
        let rig = Rig::start(engine).await;
        let (nodes, group, order) = cluster(&rig).await;
        let known: HashSet<&String> = order.iter().collect();

        let first = strategy_job(&rig, group, "FIRST", "record").await;
        assert_eq!(
            route(&rig, first, 2).await,
            [order[0].clone(), order[0].clone()],
            "{engine:?}: FIRST"
        );
        let last = strategy_job(&rig, group, "LAST", "record").await;
        assert_eq!(
            route(&rig, last, 2).await,
            [order[2].clone(), order[2].clone()],
            "{engine:?}: LAST"
        );

        let round = strategy_job(&rig, group, "ROUND", "record").await;
        let chosen = route(&rig, round, 4).await;
        for pair in chosen.windows(2) {
            let at = order.iter().position(|address| *address == pair[0]).unwrap();
            assert_eq!(
                pair[1],
                order[(at + 1) % 3],
                "{engine:?}: ROUND goes round: {chosen:?}"
            );
        }

        let random = strategy_job(&rig, group, "RANDOM", "record").await;
        let chosen = route(&rig, random, 4).await;
        assert!(
            chosen.iter().all(|address| known.contains(address)),
            "{engine:?}: RANDOM {chosen:?}"
        );

        for name in ["hash one", "hash two"] {
            let hash = rig
                .job(
                    group,
                    "record",
                    json!({"executorRouteStrategy": "CONSISTENT_HASH", "name": name}),
                )
                .await;
            let chosen = route(&rig, hash, 3).await;
            assert!(
                chosen.iter().all(|address| *address == chosen[0]),
                "{engine:?}: CONSISTENT_HASH is stable per job: {chosen:?}"
            );
        }

        // Counts start below the number of addresses, so within seven picks the least used reaches all.
        let lfu = strategy_job(&rig, group, "LEAST_FREQUENTLY_USED", "record").await;
        let chosen = route(&rig, lfu, 7).await;
        assert_eq!(
            chosen.iter().collect::<HashSet<_>>(),
            known,
            "{engine:?}: LFU reaches every executor: {chosen:?}"
        );

        let lru = strategy_job(&rig, group, "LEAST_RECENTLY_USED", "record").await;
        let chosen = route(&rig, lru, 4).await;
        assert_eq!(
            chosen.iter().take(3).collect::<HashSet<_>>(),
            known,
            "{engine:?}: LRU {chosen:?}"
        );
        assert_eq!(
            chosen[3], chosen[0],
            "{engine:?}: LRU comes back to the least recent: {chosen:?}"
        );

        // BUSYOVER: the first executor is busy running the job, so the next idle one gets it.
        let busy = strategy_job(&rig, group, "BUSYOVER", "sleep").await;
        let running = rig.trigger(busy, None).await;
        let row = settled(&rig, running[0]).await;
        assert_eq!(row.trigger.executor_address.as_deref(), Some(order[0].as_str()));
        let node = nodes.iter().find(|node| node.address() == order[0]).unwrap();
        node.call_for(running[0]).await;
        let next = rig.trigger(busy, None).await;
        let row = settled(&rig, next[0]).await;
        assert_eq!(row.trigger.code, 200, "{engine:?}: {row:#?}");
        assert_eq!(
            row.trigger.executor_address.as_deref(),
            Some(order[1].as_str()),
            "{engine:?}: BUSYOVER skips the busy executor: {row:#?}"
        );

        // FAILOVER: a registered address nobody answers at is skipped.
        register(&rig, DEAD).await;
        let mut with_dead = order.clone();
        with_dead.push(DEAD.to_owned());
        let listed = rig.addresses_become(group, &with_dead).await;
        assert_eq!(listed[0], DEAD, "the dead address is tried first");
        let failover = strategy_job(&rig, group, "FAILOVER", "record").await;
        let ids = rig.trigger(failover, None).await;
        let row = rig.finished(ids[0]).await;
        assert_eq!(
            (row.trigger.code, row.handle.code),
            (200, 200),
            "{engine:?}: {row:#?}"
        );
        assert_eq!(
            row.trigger.executor_address.as_deref(),
            Some(listed[1].as_str()),
            "{engine:?}: FAILOVER skips the dead executor"
        );

        // Every row ran where it says it was sent.
        for call in all_calls(&nodes) {
            let log = rig
                .store()
                .log(xjob_admin::model::LogId(call.log_id))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(log.trigger.executor_address.as_deref(), Some(call.node.as_str()));
        }
        stop_all(nodes).await;
        rig.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharding_broadcast_runs_once_on_every_executor() {
    on_every_engine(|engine| async move {
        let rig = Rig::start(engine).await;
        let (nodes, group, order) = cluster(&rig).await;
        let job = strategy_job(&rig, group, "SHARDING_BROADCAST", "record").await;
        let ids = rig.trigger(job, Some("wide")).await;
        assert_eq!(ids.len(), 3, "{engine:?}: one row per executor");
        let mut shards = Vec::new();
        for id in &ids {
            let row = rig.finished(*id).await;
            assert_eq!(
                (row.trigger.code, row.handle.code),
                (200, 200),
                "{engine:?}: {row:#?}"
            );
            let address = row.trigger.executor_address.clone().unwrap();
            let sharding = row.trigger.executor_sharding_param.clone().unwrap();
            let node = nodes.iter().find(|node| node.address() == address).unwrap();
            let call = node.call_for(*id).await;
            assert_eq!(format!("{}/{}", call.shard.0, call.shard.1), sharding);
            assert_eq!(call.param, "wide");
            // Shard i goes to the i-th address of the list.
            assert_eq!(order[call.shard.0 as usize], address, "{engine:?}");
            shards.push(sharding);
        }
        shards.sort();
        assert_eq!(shards, ["0/3", "1/3", "2/3"], "{engine:?}");
        assert_eq!(all_calls(&nodes).len(), 3, "{engine:?}: nothing else ran");
        stop_all(nodes).await;
        rig.shutdown().await;
    })
    .await;
}

/// Waits until the row has its trigger result.
async fn settled(rig: &Rig, id: xjob_admin::model::LogId) -> JobLog {
    let reached = xjob_test_support::wait_until(super::WAIT, || async {
        rig.store()
            .log(id)
            .await
            .unwrap()
            .is_some_and(|log| log.trigger.code != 0)
    })
    .await;
    assert!(
        reached,
        "{:?}: log {} never got its trigger result",
        rig.engine, id.0
    );
    rig.store().log(id).await.unwrap().unwrap()
}

/// Registers `address` for the routing group as an upstream 2.x executor would.
async fn register(rig: &Rig, address: &str) {
    let body = json!({"registryGroup": "EXECUTOR", "registryKey": APP, "registryValue": address});
    let reply: serde_json::Value = reqwest::Client::new()
        .post(format!("{}api/registry", rig.url()))
        .header(ACCESS_TOKEN_HEADER, TOKEN)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap();
    assert_eq!(reply["code"], 200, "{reply}");
}
