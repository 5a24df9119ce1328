//! Recording results in batches, and the protocol generation kept with registrations.

use chrono::TimeDelta;
use xjob_admin::model::{JobGroupId, JobId, LogHandle, LogId, NewJobLog};
use xjob_admin::store::{HANDLE_MSG_MAX_CHARS, Store};
use xjob_protocol::Generation;

use crate::support::{each_store, new_job, now};

pub(crate) async fn running_log(store: &Store, job_id: i32) -> LogId {
    store
        .insert_log(&NewJobLog {
            job_group: JobGroupId(1),
            job_id: JobId(job_id),
            trigger_time: now(),
        })
        .await
        .unwrap()
}

fn handle(code: i32, msg: Option<&str>) -> LogHandle {
    LogHandle {
        time: Some(now() + TimeDelta::seconds(5)),
        code,
        msg: msg.map(str::to_owned),
    }
}

#[tokio::test]
async fn batched_results_are_written_once() {
    each_store(|store, _| async move {
        let first = running_log(&store, 1).await;
        let second = running_log(&store, 1).await;
        let finished = running_log(&store, 2).await;
        assert!(
            store
                .complete_log(finished, &handle(500, Some("boom")))
                .await
                .unwrap()
        );
        let long: String = "é".repeat(HANDLE_MSG_MAX_CHARS + 10);
        let unknown = LogId(first.0 + 1_000_000);
        let written = store
            .complete_logs(&[
                (first, handle(200, None)),
                (unknown, handle(200, Some("ghost"))),
                (finished, handle(200, Some("late"))),
                (second, handle(502, Some(&long))),
                // A second result for the same log in the same batch changes nothing.
                (first, handle(500, Some("again"))),
            ])
            .await
            .unwrap();
        assert_eq!(written, [first, second]);

        let row = store.log(first).await.unwrap().unwrap();
        assert_eq!(row.handle, handle(200, None));
        let row = store.log(second).await.unwrap().unwrap();
        assert_eq!(row.handle.code, 502);
        let msg = row.handle.msg.unwrap();
        assert_eq!(msg.chars().count(), HANDLE_MSG_MAX_CHARS, "cut in characters");
        assert!(msg.chars().all(|character| character == 'é'));
        let row = store.log(finished).await.unwrap().unwrap();
        assert_eq!(row.handle.code, 500, "a recorded result is never replaced");
        assert_eq!(row.handle.msg.as_deref(), Some("boom"));
        assert!(store.log(unknown).await.unwrap().is_none());
        assert!(store.complete_logs(&[]).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn running_log_jobs_lists_only_logs_without_result() {
    each_store(|store, _| async move {
        let running = running_log(&store, 4).await;
        let done = running_log(&store, 5).await;
        store.complete_log(done, &handle(200, None)).await.unwrap();
        let many: Vec<LogId> = (0..1500)
            .map(|offset| LogId(running.0 + 10_000 + offset))
            .collect();
        let mut asked = vec![done, running];
        asked.extend(many);
        assert_eq!(
            store.running_log_jobs(&asked).await.unwrap(),
            [(running, JobId(4))]
        );
    })
    .await;
}

#[tokio::test]
async fn batches_of_every_size_write_each_result_once() {
    each_store(|store, _| async move {
        // Sizes around the statement lengths results are grouped in, and more than one UPDATE's worth.
        for size in [1, 2, 5, 16, 17, 300, 501, 1100] {
            let logs: Vec<LogId> = store
                .insert_logs(&vec![
                    NewJobLog {
                        job_group: JobGroupId(1),
                        job_id: JobId(3),
                        trigger_time: now(),
                    };
                    size
                ])
                .await
                .unwrap();
            // Every third log already has its result.
            for log in logs.iter().step_by(3) {
                assert!(
                    store
                        .complete_log(*log, &handle(500, Some("first")))
                        .await
                        .unwrap()
                );
            }
            let results: Vec<(LogId, LogHandle)> = logs
                .iter()
                .enumerate()
                .map(|(index, log)| (*log, handle(200, Some(format!("result {index}").as_str()))))
                .collect();
            let expected: Vec<LogId> = logs
                .iter()
                .enumerate()
                .filter(|(index, _)| index % 3 != 0)
                .map(|(_, log)| *log)
                .collect();
            assert_eq!(
                store.complete_logs(&results).await.unwrap(),
                expected,
                "size {size}"
            );
            assert!(
                store.complete_logs(&results).await.unwrap().is_empty(),
                "size {size}"
            );
            for (index, log) in logs.iter().enumerate() {
                let row = store.log(*log).await.unwrap().unwrap();
                if index % 3 == 0 {
                    assert_eq!(row.handle.msg.as_deref(), Some("first"), "size {size}");
                } else {
                    assert_eq!(row.handle.code, 200, "size {size}");
                    assert_eq!(row.handle.msg, Some(format!("result {index}")), "size {size}");
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn only_logs_of_jobs_with_children_are_read_for_child_triggers() {
    each_store(|store, _| async move {
        let group = JobGroupId(1);
        // `new_job` lists children 7 and 8.
        let parent = store.insert_job(&new_job(group, "parent"), now()).await.unwrap();
        let mut plain = new_job(group, "plain");
        plain.settings.child_job_id = None;
        let plain = store.insert_job(&plain, now()).await.unwrap();
        let mut blank = new_job(group, "blank");
        blank.settings.child_job_id = Some(String::new());
        let blank = store.insert_job(&blank, now()).await.unwrap();

        let running = running_log(&store, parent.0).await;
        let done = running_log(&store, parent.0).await;
        store.complete_log(done, &handle(200, None)).await.unwrap();
        let plain_log = running_log(&store, plain.0).await;
        let blank_log = running_log(&store, blank.0).await;
        let mut asked = vec![plain_log, done, running, blank_log, running];
        asked.extend((0..1200).map(|offset| LogId(running.0 + 10_000 + offset)));
        assert_eq!(
            store.running_logs_with_child_jobs(&asked).await.unwrap(),
            [(running, parent)]
        );
        assert_eq!(
            store.running_log_jobs(&asked).await.unwrap(),
            [(running, parent), (plain_log, plain), (blank_log, blank)]
        );
    })
    .await;
}

#[tokio::test]
async fn registrations_keep_their_protocol_generation() {
    each_store(|store, _| async move {
        let key = ("EXECUTOR", "orders-app");
        store
            .record_heartbeat(key.0, key.1, "http://a:9999/", Some(Generation::G1), now())
            .await
            .unwrap();
        store
            .record_heartbeat(key.0, key.1, "http://b:9999", Some(Generation::G3), now())
            .await
            .unwrap();
        // A heartbeat that shows no generation, and upstream's plain upsert, keep the stored one.
        store
            .record_heartbeat(
                key.0,
                key.1,
                "http://a:9999/",
                None,
                now() + TimeDelta::seconds(30),
            )
            .await
            .unwrap();
        store
            .upsert_registry(key.0, key.1, "http://b:9999", now() + TimeDelta::seconds(30))
            .await
            .unwrap();
        store
            .upsert_registry(key.0, key.1, "http://c:9999/", now())
            .await
            .unwrap();
        // A later generation replaces an earlier one (an executor upgraded in place).
        store
            .record_heartbeat(
                key.0,
                key.1,
                "http://b:9999",
                Some(Generation::G2),
                now() + TimeDelta::seconds(31),
            )
            .await
            .unwrap();
        let mut live: Vec<(String, Option<Generation>)> = store
            .live_registries(now() - TimeDelta::seconds(1))
            .await
            .unwrap()
            .into_iter()
            .map(|registry| (registry.value, registry.generation))
            .collect();
        live.sort();
        assert_eq!(
            live,
            [
                ("http://a:9999/".to_owned(), Some(Generation::G1)),
                ("http://b:9999".to_owned(), Some(Generation::G2)),
                ("http://c:9999/".to_owned(), None),
            ]
        );
    })
    .await;
}
