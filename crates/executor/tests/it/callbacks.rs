//! Results survive admin outages and executor restarts through the callback spool.

use xjob_protocol::Generation;
use xjob_test_support::wait_until;

use crate::harness::{self, Running, WAIT, accept, callback, trigger};

fn spooled_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("callbacklogs")).map_or(0, |entries| entries.count())
}

#[tokio::test]
async fn callbacks_survive_an_admin_outage() {
    for generation in Generation::ALL {
        let Running {
            mut admin,
            dir,
            observed: _,
            executor,
            address,
        } = Running::start(generation).await;
        admin.stop().await;
        accept(&admin, &address, &trigger(1, 1, "echo", "during outage")).await;
        assert!(
            wait_until(WAIT, || async { spooled_files(dir.path()) == 1 }).await,
            "{generation}: spooled"
        );
        admin.restart().await;
        let item = callback(&admin, 1).await;
        assert_eq!(
            item.handle_msg.as_deref(),
            Some("during outage 0/1"),
            "{generation}"
        );
        assert!(wait_until(WAIT, || async { spooled_files(dir.path()) == 0 }).await);
        executor.shutdown().await;
    }
}

#[tokio::test]
async fn callbacks_survive_a_failing_admin_and_an_executor_restart() {
    let Running {
        mut admin,
        dir,
        observed,
        executor,
        address,
    } = Running::start(Generation::G3).await;
    admin.set_failing(true);
    accept(&admin, &address, &trigger(1, 1, "echo", "a")).await;
    accept(&admin, &address, &trigger(2, 2, "sleep", "20000")).await;
    assert!(
        wait_until(WAIT, || async { spooled_files(dir.path()) >= 1 }).await,
        "first result spooled"
    );
    admin.stop().await;
    // Shutdown kills the running execution; its result is spooled too.
    executor.shutdown().await;
    assert!(admin.callbacks().is_empty());
    assert!(spooled_files(dir.path()) >= 1);

    admin.set_failing(false);
    admin.restart().await;
    let restarted = harness::start(harness::config(&admin, dir.path()), &observed).await;
    assert_eq!(callback(&admin, 1).await.handle_msg.as_deref(), Some("a 0/1"));
    assert_eq!(
        callback(&admin, 2).await.handle_msg.as_deref(),
        Some("web container destroy and kill the job. [job running, killed]")
    );
    assert!(wait_until(WAIT, || async { spooled_files(dir.path()) == 0 }).await);
    restarted.shutdown().await;
}
