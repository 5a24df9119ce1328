//! Job threads over HTTP: block strategies, duplicate log ids, kill, timeout, panics, sharding, GLUE
//! handler caching, log paging and shutdown.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use xjob_executor::CancelReason;
use xjob_protocol::{BlockStrategy, Generation, GlueType, Lenient, LogId, LogRequest};
use xjob_test_support::wait_until;

use crate::harness::{self, Observed, Running, WAIT, accept, callback, trigger, with_strategy};

#[tokio::test]
async fn block_strategies_and_kill() {
    for generation in [Generation::G1, Generation::G3] {
        let Running {
            admin,
            dir: _dir,
            observed,
            executor,
            address,
        } = Running::start(generation).await;

        // Serial: the second waits for the first; the job is busy meanwhile.
        accept(&admin, &address, &trigger(1, 1, "sleep", "300")).await;
        accept(&admin, &address, &trigger(1, 2, "sleep", "1")).await;
        let busy = admin.idle_beat(&address, 1).await;
        assert_eq!(
            busy.msg(),
            Some("job thread is running or has trigger queue."),
            "{}",
            busy.body
        );
        assert_eq!(callback(&admin, 2).await.handle_msg.as_deref(), Some("slept"));
        let order: Vec<i64> = admin.callbacks().iter().map(|item| item.log_id.0).collect();
        assert_eq!(order, [1, 2], "{generation}: serial order");

        // Discard later.
        accept(&admin, &address, &trigger(2, 10, "sleep", "20000")).await;
        let discarded = admin
            .trigger(
                &address,
                &with_strategy(trigger(2, 11, "sleep", "1"), BlockStrategy::DiscardLater),
            )
            .await;
        assert_eq!(discarded.msg(), Some("block strategy effect：Discard Later"));

        // Cover early replaces the running execution.
        accept(&admin, &address, &trigger(3, 20, "sleep", "20000")).await;
        assert!(
            wait_until(WAIT, || async {
                admin.idle_beat(&address, 3).await.code() == 500
            })
            .await
        );
        let cover = with_strategy(trigger(3, 21, "sleep", "1"), BlockStrategy::CoverEarly);
        accept(&admin, &address, &cover).await;
        let replaced = callback(&admin, 20).await;
        assert_eq!(replaced.handle_code, 500);
        assert_eq!(
            replaced.handle_msg.as_deref(),
            Some("block strategy effect：Cover Early [job running, killed]")
        );
        assert_eq!(callback(&admin, 21).await.handle_msg.as_deref(), Some("slept"));

        // A duplicate log id is refused; kill reports the running and the queued execution.
        accept(&admin, &address, &trigger(4, 30, "sleep", "20000")).await;
        accept(&admin, &address, &trigger(4, 31, "sleep", "1")).await;
        let repeat = admin.trigger(&address, &trigger(4, 31, "sleep", "1")).await;
        let expected = match generation {
            Generation::G3 => "repeat trigger job, logId:31",
            Generation::G1 | Generation::G2 => "repeate trigger job, logId:31",
        };
        assert_eq!(repeat.msg(), Some(expected));
        assert!(
            wait_until(WAIT, || async {
                admin.idle_beat(&address, 4).await.code() == 500
            })
            .await
        );
        assert_eq!(admin.kill(&address, 4).await.code(), 200);
        assert_eq!(
            callback(&admin, 30).await.handle_msg.as_deref(),
            Some("scheduling center kill job. [job running, killed]")
        );
        let queued = callback(&admin, 31).await;
        assert_eq!(queued.handle_code, 500);
        assert_eq!(
            queued.handle_msg.as_deref(),
            Some("scheduling center kill job. [job not executed, in the job queue, killed.]")
        );
        assert_eq!(admin.kill(&address, 2).await.code(), 200);
        assert_eq!(callback(&admin, 10).await.handle_code, 500);

        let reasons = observed.cancel_reasons.lock().unwrap().clone();
        assert_eq!(
            reasons,
            [CancelReason::Replaced, CancelReason::Killed, CancelReason::Killed]
        );
        executor.shutdown().await;
    }
}

#[tokio::test]
async fn timeout_panic_lost_result_and_sharding() {
    let Running {
        admin,
        dir: _dir,
        observed,
        executor,
        address,
    } = Running::start(Generation::G3).await;

    let mut slow = trigger(1, 1, "sleep", "20000");
    slow.executor_timeout = 1;
    accept(&admin, &address, &slow).await;
    let timed_out = callback(&admin, 1).await;
    assert_eq!(timed_out.handle_code, 502);
    assert_eq!(timed_out.handle_msg.as_deref(), Some("job execute timeout "));
    assert_eq!(*observed.cancel_reasons.lock().unwrap(), [CancelReason::TimedOut]);

    accept(&admin, &address, &trigger(2, 2, "panic", "")).await;
    let panicked = callback(&admin, 2).await;
    assert_eq!(panicked.handle_code, 500);
    assert_eq!(
        panicked.handle_msg.as_deref(),
        Some("job handler panicked: handler bug")
    );

    accept(&admin, &address, &trigger(3, 3, "lost", "")).await;
    assert_eq!(
        callback(&admin, 3).await.handle_msg.as_deref(),
        Some("job handle result lost.")
    );

    let mut shard = trigger(4, 4, "echo", "s");
    shard.broadcast_index = 2;
    shard.broadcast_total = 3;
    accept(&admin, &address, &shard).await;
    assert_eq!(callback(&admin, 4).await.handle_msg.as_deref(), Some("s 2/3"));

    let missing = admin.trigger(&address, &trigger(5, 5, "nope", "")).await;
    assert_eq!(missing.msg(), Some("job handler [nope] not found."));
    let mut odd = trigger(5, 6, "echo", "");
    odd.glue_type = Some(Lenient::Unknown("GLUE_RUBY".to_owned()));
    assert_eq!(
        admin.trigger(&address, &odd).await.msg(),
        Some("glueType[GLUE_RUBY] is not valid.")
    );

    // The timed-out execution's log records it.
    let page = admin
        .log_page(
            &address,
            LogRequest {
                log_id: LogId(1),
                log_date_time: timed_out.log_date_time,
                from_line_num: 1,
            },
        )
        .await;
    assert!(
        page.log_content
            .contains("<br>----------- xxl-job job execute timeout\n"),
        "{}",
        page.log_content
    );
    executor.shutdown().await;
}

#[tokio::test]
async fn glue_handlers_are_cached_per_source_version() {
    let Running {
        admin,
        dir,
        observed,
        executor,
        address,
    } = Running::start(Generation::G2).await;
    let glue = |log_id: i64, source: &str, updated: i64| {
        let mut request = trigger(7, log_id, "", "");
        request.glue_type = Some(Lenient::Known(GlueType::Shell));
        request.glue_source = Some(source.to_owned());
        request.glue_updatetime = updated;
        request
    };
    accept(&admin, &address, &glue(1, "echo a", 100)).await;
    assert_eq!(
        callback(&admin, 1).await.handle_msg.as_deref(),
        Some("echo a@100")
    );
    accept(&admin, &address, &glue(2, "echo a", 100)).await;
    assert_eq!(
        callback(&admin, 2).await.handle_msg.as_deref(),
        Some("echo a@100")
    );
    assert_eq!(
        observed.glue_builds.load(Ordering::SeqCst),
        1,
        "same version reuses the handler"
    );
    accept(&admin, &address, &glue(3, "echo b", 200)).await;
    assert_eq!(
        callback(&admin, 3).await.handle_msg.as_deref(),
        Some("echo b@200")
    );
    assert_eq!(
        observed.glue_builds.load(Ordering::SeqCst),
        2,
        "a new version builds anew"
    );
    let broken = admin.trigger(&address, &glue(4, "syntax error", 300)).await;
    assert_eq!(broken.msg(), Some("compile failed: syntax error"));
    executor.shutdown().await;

    // Without GLUE support the trigger is refused with upstream's text.
    let mut config = harness::config(&admin, dir.path());
    config.glue_enabled = false;
    let plain = harness::start(config, &observed).await;
    let refused = admin.trigger(plain.address(), &glue(5, "echo", 1)).await;
    assert_eq!(
        refused.msg(),
        Some("fail, current glue type [GLUE(Shell)] not supported.")
    );
    plain.shutdown().await;
}

#[tokio::test]
async fn log_paging_in_both_numberings() {
    let dir = tempfile::tempdir().unwrap();
    for generation in [Generation::G1, Generation::G2] {
        let admin = harness::admin(generation).await;
        let observed = Arc::new(Observed::default());
        let executor = harness::start_for(&admin, dir.path(), &observed).await;
        let address = executor.address().to_owned();
        let log_id = if generation == Generation::G1 { 1 } else { 2 };
        accept(&admin, &address, &trigger(1, log_id, "echo", "x")).await;
        let date = callback(&admin, log_id).await.log_date_time;
        // The callback outcome line lands after the callback; wait for the file to settle at 5 lines.
        let request = |from| LogRequest {
            log_id: LogId(log_id),
            log_date_time: date,
            from_line_num: from,
        };
        assert!(
            wait_until(WAIT, || async {
                admin.log_page(&address, request(1)).await.to_line_num == 5
            })
            .await,
            "{generation}: start, two handler lines, end, callback"
        );
        let tail = admin.log_page(&address, request(4)).await;
        assert_eq!(tail.to_line_num, 5);
        assert_eq!(tail.log_content.lines().count(), 2);
        assert!(
            tail.log_content.ends_with("xxl-job job callback finish.\n"),
            "{}",
            tail.log_content
        );
        let beyond = admin.log_page(&address, request(6)).await;
        let expected = if generation == Generation::G1 { 5 } else { 0 };
        assert_eq!(beyond.to_line_num, expected, "{generation}");
        assert_eq!(beyond.log_content, "");
        assert!(!beyond.is_end);
        let missing = admin
            .log_page(
                &address,
                LogRequest {
                    log_id: LogId(999),
                    log_date_time: date,
                    from_line_num: 1,
                },
            )
            .await;
        assert!(missing.is_end);
        assert_eq!(missing.log_content, "readLog fail, logFile not exists");
        executor.shutdown().await;
    }
}

#[tokio::test]
async fn shutdown_cancels_running_executions() {
    let Running {
        admin,
        dir: _dir,
        observed,
        executor,
        address,
    } = Running::start(Generation::G3).await;
    accept(&admin, &address, &trigger(1, 1, "sleep", "20000")).await;
    accept(&admin, &address, &trigger(1, 2, "sleep", "1")).await;
    assert!(
        wait_until(WAIT, || async {
            admin.idle_beat(&address, 1).await.code() == 500
        })
        .await
    );
    executor.shutdown().await;
    assert_eq!(
        admin.callback_for(1).unwrap().handle_msg.as_deref(),
        Some("web container destroy and kill the job. [job running, killed]")
    );
    assert_eq!(
        admin.callback_for(2).unwrap().handle_msg.as_deref(),
        Some("web container destroy and kill the job. [job not executed, in the job queue, killed.]")
    );
    assert_eq!(*observed.cancel_reasons.lock().unwrap(), [CancelReason::Shutdown]);
    assert_eq!(admin.removals().len(), 1);
}
