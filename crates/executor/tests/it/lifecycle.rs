//! Job-thread lifecycle over HTTP: idle threads end after the configured idle time and the next trigger
//! starts a new one; handlers that ignore cancellation are aborted after the grace period.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use xjob_protocol::{Generation, LogId, LogRequest};
use xjob_test_support::wait_until;

use crate::harness::{self, Observed, WAIT, accept, callback, trigger};

/// The job thread's name as the execution log shows it: `xxl-job, JobThread-<jobId>-<startMillis>`.
async fn thread_name(
    admin: &xjob_test_support::StandinAdmin,
    address: &str,
    log_id: i64,
    date: i64,
) -> String {
    let page = admin
        .log_page(
            address,
            LogRequest {
                log_id: LogId(log_id),
                log_date_time: date,
                from_line_num: 1,
            },
        )
        .await;
    let first = page.log_content.lines().next().unwrap_or_default().to_owned();
    let start = first
        .find("[xxl-job, JobThread-")
        .unwrap_or_else(|| panic!("no thread name in {first}"));
    let name = &first[start + 1..];
    name[..name.find(']').unwrap()].to_owned()
}

#[tokio::test]
async fn idle_job_threads_end_and_the_next_trigger_starts_a_new_one() {
    const IDLE: Duration = Duration::from_millis(300);
    let admin = harness::admin(Generation::G3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = harness::config(&admin, dir.path());
    config.job_idle_timeout = IDLE;
    let executor = harness::start(config, &Arc::new(Observed::default())).await;
    let address = executor.address().to_owned();

    // Two triggers queued behind each other run on one thread.
    accept(&admin, &address, &trigger(1, 1, "sleep", "100")).await;
    accept(&admin, &address, &trigger(1, 2, "sleep", "1")).await;
    let first = callback(&admin, 1).await;
    let second = callback(&admin, 2).await;
    let name = thread_name(&admin, &address, 1, first.log_date_time).await;
    assert!(name.starts_with("xxl-job, JobThread-1-"), "{name}");
    assert_eq!(thread_name(&admin, &address, 2, second.log_date_time).await, name);

    // The rule under test is a timer: nothing observable changes until the idle time has passed.
    tokio::time::sleep(IDLE * 4).await;
    let kill = admin.kill(&address, 1).await;
    assert_eq!(
        kill.json["data"].as_str(),
        Some("job thread already killed."),
        "the idle thread has ended: {}",
        kill.body
    );

    // The next trigger starts a new thread and runs normally.
    accept(&admin, &address, &trigger(1, 3, "sleep", "1")).await;
    let third = callback(&admin, 3).await;
    assert_eq!(third.handle_msg.as_deref(), Some("slept"));
    let renewed = thread_name(&admin, &address, 3, third.log_date_time).await;
    assert!(renewed.starts_with("xxl-job, JobThread-1-"), "{renewed}");
    assert_ne!(renewed, name, "a new thread, started later");
    executor.shutdown().await;
}

#[tokio::test]
async fn handlers_ignoring_cancellation_are_aborted_after_the_grace() {
    let admin = harness::admin(Generation::G3).await;
    let dir = tempfile::tempdir().unwrap();
    let observed = Arc::new(Observed::default());
    let mut config = harness::config(&admin, dir.path());
    config.cancel_grace = Duration::from_millis(300);
    let executor = harness::start(config, &observed).await;
    let address = executor.address().to_owned();

    // Timeout: the handler sleeps a minute regardless of its token; the result cannot wait that long.
    let mut stubborn = trigger(1, 1, "stubborn", "60000");
    stubborn.executor_timeout = 1;
    accept(&admin, &address, &stubborn).await;
    let timed_out = callback(&admin, 1).await;
    assert_eq!(timed_out.handle_code, 502);
    assert_eq!(timed_out.handle_msg.as_deref(), Some("job execute timeout "));
    assert!(
        wait_until(WAIT, || async {
            observed.aborted_handlers.load(Ordering::SeqCst) == 1
        })
        .await,
        "the timed-out handler's future was dropped"
    );
    // The job's thread survived and takes the next trigger.
    accept(&admin, &address, &trigger(1, 2, "echo", "next")).await;
    assert_eq!(callback(&admin, 2).await.handle_msg.as_deref(), Some("next 0/1"));

    // Kill: reported at once as killed, the handler aborted after the grace.
    accept(&admin, &address, &trigger(2, 3, "stubborn", "60000")).await;
    assert!(
        wait_until(WAIT, || async {
            admin.idle_beat(&address, 2).await.code() == 500
        })
        .await,
        "the stubborn handler runs"
    );
    assert_eq!(admin.kill(&address, 2).await.code(), 200);
    let killed = callback(&admin, 3).await;
    assert_eq!(killed.handle_code, 500);
    assert_eq!(
        killed.handle_msg.as_deref(),
        Some("scheduling center kill job. [job running, killed]")
    );
    assert!(
        wait_until(WAIT, || async {
            observed.aborted_handlers.load(Ordering::SeqCst) == 2
        })
        .await,
        "the killed handler's future was dropped"
    );
    assert_eq!(observed.finished_stubborn.load(Ordering::SeqCst), 0);
    executor.shutdown().await;
}
