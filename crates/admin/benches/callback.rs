//! Results recorded per second through `/api/callback` over loopback HTTP on SQLite: the real endpoint,
//! whose writer coalesces concurrent callbacks into shared transactions, against a baseline endpoint that
//! parses the same bodies and records each result with its own `complete_log` statement. Both run in the
//! same process on fresh log rows, with the same clients.
//!
//! Run with `cargo bench -p xjob-admin --bench callback`. `BENCH_CLIENTS` (default 64) concurrent clients
//! each send callbacks of `BENCH_ITEMS` (default 10) results until `BENCH_RESULTS` (default 40 000) are
//! sent. Every loop is bounded by that count.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // A bench binary: setup failures abort, results go to stdout.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use chrono::Utc;
use xjob_admin::complete::{Completer, ResultWriter, ResultWriterOptions};
use xjob_admin::executor_api::{ExecutorApiConfig, ExecutorApiState, router};
use xjob_admin::model::{LogHandle, LogId};
use xjob_admin::registry::GroupTokens;
use xjob_admin::store::Store;
use xjob_admin::trigger::{ExecutorGenerations, TriggerQueue};
use xjob_protocol::{CallbackBody, CallbackItem, Dialect, Generation};

use common::{seed_logs, setting};

fn main() {
    common::block_on(run());
}

async fn run() {
    let clients = setting("BENCH_CLIENTS", 64);
    let items = setting("BENCH_ITEMS", 10);
    let results = setting("BENCH_RESULTS", 40_000);
    let (_database, store) = common::sqlite_store().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    println!("SQLite, {clients} clients, {items} results per callback, {results} results per run");

    // Baseline first, so the batched run does not profit from a warmer file.
    let baseline_logs = seed_logs(&store, results).await;
    let baseline_router = Router::new()
        .route("/api/callback", post(per_row_callback))
        .with_state(store.clone());
    let (baseline_rate, _) = drive(baseline_router, &baseline_logs, clients, items).await;
    check_completed(&store, &baseline_logs).await;

    let batched_logs = seed_logs(&store, results).await;
    let (queue, _receiver) = TriggerQueue::bounded(1024);
    let (sender, writer) = ResultWriter::start(
        Completer::new(store.clone(), queue),
        ResultWriterOptions::default(),
    );
    let state = ExecutorApiState::new(
        store.clone(),
        ExecutorApiConfig {
            allow_no_token: true,
            ..ExecutorApiConfig::default()
        },
        ExecutorGenerations::new(Generation::G3),
        GroupTokens::new(),
        sender.clone(),
    );
    let (batched_rate, _) = drive(router(state), &batched_logs, clients, items).await;
    check_completed(&store, &batched_logs).await;
    let stats = sender.stats();
    writer.shutdown().await;

    println!("| endpoint | results/s | results per transaction |");
    println!("|---|---:|---:|");
    println!("| per-row `complete_log` (baseline) | {baseline_rate:.0} | 1 |");
    println!(
        "| batched `/api/callback` | {batched_rate:.0} | {:.0} |",
        stats.results as f64 / stats.batches.max(1) as f64
    );
    println!("batched / per-row: {:.1}x", batched_rate / baseline_rate);
}

/// The baseline endpoint: the same body decoding, one UPDATE per result.
async fn per_row_callback(State(store): State<Store>, body: Bytes) -> String {
    let body: CallbackBody = serde_json::from_slice(&body).unwrap();
    for item in body.items {
        let handle = LogHandle {
            time: Some(Utc::now()),
            code: item.handle_code,
            msg: item.handle_msg,
        };
        store.complete_log(item.log_id, &handle).await.unwrap();
    }
    r#"{"code":200,"msg":"Success","data":null,"success":true}"#.to_owned()
}

/// Serves `app` on loopback and sends results for every log in `logs` from `clients` tasks; returns results
/// per second.
async fn drive(app: Router, logs: &[LogId], clients: usize, items: usize) -> (f64, usize) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/callback", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        logs.chunks(items)
            .map(|chunk| {
                let items = chunk
                    .iter()
                    .map(|log| CallbackItem {
                        log_id: *log,
                        log_date_time: 1,
                        handle_code: 200,
                        handle_msg: Some("ok".to_owned()),
                    })
                    .collect();
                serde_json::to_vec(&CallbackBody::new(Generation::G3, items).encode(Dialect::G3)).unwrap()
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bodies, next, http, url) = (Arc::clone(&bodies), Arc::clone(&next), http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(index) else { return };
                let reply = http.post(&url).body(body.clone()).send().await.unwrap();
                assert_eq!(reply.status(), 200);
                let text = reply.bytes().await.unwrap();
                assert!(text.starts_with(br#"{"code":200"#), "{text:?}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    server.abort();
    (logs.len() as f64 / elapsed, bodies.len())
}

async fn check_completed(store: &Store, logs: &[LogId]) {
    for log in logs.iter().step_by(997) {
        assert_eq!(store.log(*log).await.unwrap().unwrap().handle.code, 200);
    }
}
