//! Jobs: round trips, edits, start/stop, paging, the due-job scan and batched schedule writes, deletion.

use std::collections::BTreeSet;

use chrono::TimeDelta;
use xjob_admin::model::{
    JobGroupId, JobId, Lenient, NewJobLog, Schedule, ScheduleState, ScheduleType, TriggerStatus,
};
use xjob_admin::store::{JobFilter, Page, ScheduleUpdate};

use crate::support::{each_store, new_job, now};

const SAMPLE_GROUP: JobGroupId = JobGroupId(1);

#[tokio::test]
async fn job_round_trip_and_edits() {
    each_store(|store, _| async move {
        let new = new_job(SAMPLE_GROUP, "nightly export");
        let id = store.insert_job(&new, now()).await.unwrap();
        let job = store.job(id).await.unwrap().unwrap();
        assert_eq!(job.id, id);
        assert_eq!(job.group, SAMPLE_GROUP);
        assert_eq!(job.settings, new.settings);
        assert_eq!(job.glue.glue_type, new.glue.glue_type);
        assert_eq!(job.glue.remark.as_deref(), Some("GLUE init"));
        assert_eq!(job.glue.update_time, Some(now()));
        assert_eq!(job.state, ScheduleState::STOPPED);
        assert_eq!((job.add_time, job.update_time), (Some(now()), Some(now())));
        assert!(store.job(JobId(id.0 + 1000)).await.unwrap().is_none());

        // An edit keeps the next time unless one is given, and never touches GLUE or status.
        let mut settings = new.settings.clone();
        settings.name = "nightly export v2".into();
        settings.schedule = Schedule::fix_rate(10).unwrap();
        settings.time_zone = None;
        settings.retry.interval_seconds = None;
        settings.retry.backoff = false;
        settings.child_job_id = None;
        settings.route_strategy = Some(Lenient::Unknown("SOMETHING_NEW".into()));
        let later = now() + TimeDelta::seconds(5);
        assert!(
            store
                .set_job_state(id, ScheduleState::started(1_000), now())
                .await
                .unwrap()
        );
        assert!(
            store
                .update_job(id, JobGroupId(1), &settings, None, later)
                .await
                .unwrap()
        );
        let edited = store.job(id).await.unwrap().unwrap();
        assert_eq!(edited.settings, settings);
        assert_eq!(edited.state, ScheduleState::started(1_000));
        assert_eq!(edited.update_time, Some(later));
        assert_eq!(edited.glue.update_time, Some(now()));
        assert!(
            store
                .update_job(id, JobGroupId(1), &settings, Some(5_000), later)
                .await
                .unwrap()
        );
        assert_eq!(store.job(id).await.unwrap().unwrap().state.next_time, 5_000);
        assert!(
            !store
                .update_job(JobId(9999), JobGroupId(1), &settings, None, later)
                .await
                .unwrap()
        );

        assert!(
            store
                .set_job_state(id, ScheduleState::STOPPED, later)
                .await
                .unwrap()
        );
        assert_eq!(
            store.job(id).await.unwrap().unwrap().state,
            ScheduleState::STOPPED
        );
        assert!(
            !store
                .set_job_state(JobId(9999), ScheduleState::STOPPED, later)
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn job_pages_filter_and_order() {
    each_store(|store, _| async move {
        let mut ids = Vec::new();
        for (name, author, handler) in [
            ("Alpha report", "ops", "reportHandler"),
            ("beta cleanup", "dev", "cleanupHandler"),
            ("Gamma report", "Ops", "reportHandler"),
        ] {
            let mut job = new_job(SAMPLE_GROUP, name);
            job.settings.author = Some(author.into());
            job.settings.handler = Some(handler.into());
            ids.push(store.insert_job(&job, now()).await.unwrap());
        }
        let mut other = new_job(JobGroupId(2), "other group");
        other.settings.author = None;
        other.settings.handler = None;
        let other_id = store.insert_job(&other, now()).await.unwrap();
        store
            .set_job_state(ids[1], ScheduleState::started(1), now())
            .await
            .unwrap();

        let all = store
            .jobs_page(&JobFilter::default(), Page::first(10))
            .await
            .unwrap();
        assert_eq!(all.total, 4);
        assert_eq!(
            all.rows.iter().map(|job| job.id).collect::<Vec<_>>(),
            [other_id, ids[2], ids[1], ids[0]]
        );

        let report = JobFilter {
            group: Some(SAMPLE_GROUP),
            name: "REPORT".into(),
            author: "ops".into(),
            ..JobFilter::default()
        };
        let page = store
            .jobs_page(&report, Page { offset: 0, limit: 1 })
            .await
            .unwrap();
        assert_eq!(page.total, 2);
        assert_eq!(page.rows.iter().map(|job| job.id).collect::<Vec<_>>(), [ids[2]]);

        let running = JobFilter {
            status: Some(TriggerStatus::Running),
            ..JobFilter::default()
        };
        let page = store.jobs_page(&running, Page::first(10)).await.unwrap();
        assert_eq!(page.rows.iter().map(|job| job.id).collect::<Vec<_>>(), [ids[1]]);
        let by_handler = JobFilter {
            handler: "cleanup".into(),
            ..JobFilter::default()
        };
        assert_eq!(
            store.jobs_page(&by_handler, Page::first(10)).await.unwrap().total,
            1
        );

        assert_eq!(store.count_jobs(Some(SAMPLE_GROUP)).await.unwrap(), 3);
        assert_eq!(store.count_jobs(None).await.unwrap(), 4);
        let found = store.jobs_by_ids(&[ids[0], JobId(9999), other_id]).await.unwrap();
        assert_eq!(
            found.iter().map(|job| job.id).collect::<Vec<_>>(),
            [ids[0], other_id]
        );
        assert!(store.jobs_by_ids(&[]).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn due_scan_and_batched_schedule_updates() {
    each_store(|store, _| async move {
        // Ten running jobs due at 1000, 2000, …; one stopped job that is never due.
        let mut ids = Vec::new();
        for index in 0..10i64 {
            let id = store
                .insert_job(&new_job(SAMPLE_GROUP, &format!("job {index}")), now())
                .await
                .unwrap();
            store
                .set_job_state(id, ScheduleState::started((index + 1) * 1000), now())
                .await
                .unwrap();
            ids.push(id);
        }
        let stopped = store
            .insert_job(&new_job(SAMPLE_GROUP, "stopped"), now())
            .await
            .unwrap();

        let mut tx = store.lock_schedule().await.unwrap();
        let due = tx.due_jobs(5_000, 3).await.unwrap();
        assert_eq!(due.iter().map(|job| job.id).collect::<Vec<_>>(), ids[..3]);
        let due = tx.due_jobs(5_000, 100).await.unwrap();
        assert_eq!(due.iter().map(|job| job.id).collect::<Vec<_>>(), ids[..5]);
        assert_eq!(
            due[4].settings.schedule.schedule_type,
            Lenient::Known(ScheduleType::Cron)
        );

        let updates: Vec<ScheduleUpdate> = due
            .iter()
            .map(|job| ScheduleUpdate {
                id: job.id,
                last_time: job.state.next_time,
                next_time: job.state.next_time + 60_000,
                status: if job.id == ids[4] {
                    TriggerStatus::Stopped
                } else {
                    TriggerStatus::Running
                },
            })
            .chain(std::iter::once(ScheduleUpdate {
                id: stopped,
                last_time: 1,
                next_time: 2,
                status: TriggerStatus::Running,
            }))
            .collect();
        // The stopped job is not re-enabled: only rows still running are written.
        assert_eq!(tx.update_schedules(&updates).await.unwrap(), 5);
        tx.commit().await.unwrap();

        let jobs = store.jobs_by_ids(&ids).await.unwrap();
        for (index, job) in jobs.iter().enumerate().take(4) {
            let due_at = (index as i64 + 1) * 1000;
            assert_eq!(
                job.state,
                ScheduleState {
                    status: TriggerStatus::Running,
                    last_time: due_at,
                    next_time: due_at + 60_000
                }
            );
        }
        assert_eq!(jobs[4].state.status, TriggerStatus::Stopped);
        assert_eq!(jobs[5].state, ScheduleState::started(6_000));
        assert_eq!(
            store.job(stopped).await.unwrap().unwrap().state,
            ScheduleState::STOPPED
        );

        // More than one batch of updates in one call.
        let many: Vec<ScheduleUpdate> = (0..250)
            .map(|index| ScheduleUpdate {
                id: ids[index % 10],
                last_time: index as i64,
                next_time: 7_000_000 + index as i64,
                status: TriggerStatus::Running,
            })
            .collect();
        // Rows written, not updates: three statements each touching the nine running jobs.
        assert_eq!(store.update_schedules(&many).await.unwrap(), 27);
        let mut tx = store.begin().await.unwrap();
        let due: BTreeSet<JobId> = tx
            .due_jobs(i64::MAX, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|job| job.id)
            .collect();
        tx.commit().await.unwrap();
        assert_eq!(due.len(), 9);
    })
    .await;
}

#[tokio::test]
async fn deleting_a_job_removes_logs_and_glue_history() {
    each_store(|store, _| async move {
        let kept = store
            .insert_job(&new_job(SAMPLE_GROUP, "kept"), now())
            .await
            .unwrap();
        let removed = store
            .insert_job(&new_job(SAMPLE_GROUP, "removed"), now())
            .await
            .unwrap();
        for job_id in [kept, removed] {
            store
                .insert_logs(
                    &[NewJobLog {
                        job_group: SAMPLE_GROUP,
                        job_id,
                        trigger_time: now(),
                    }; 3],
                )
                .await
                .unwrap();
            assert!(
                store
                    .save_glue(job_id, "echo 1", "first version", now())
                    .await
                    .unwrap()
            );
        }
        assert!(store.delete_job(removed).await.unwrap());
        assert!(!store.delete_job(removed).await.unwrap());
        assert!(store.job(removed).await.unwrap().is_none());
        assert!(store.glue_history(removed).await.unwrap().is_empty());
        assert_eq!(store.glue_history(kept).await.unwrap().len(), 1);
        let logs = store
            .logs_page(&Default::default(), Page::first(100))
            .await
            .unwrap();
        assert_eq!(logs.total, 3);
        assert!(logs.rows.iter().all(|log| log.job_id == kept));
    })
    .await;
}

#[tokio::test]
async fn glue_history_keeps_the_newest_thirty() {
    each_store(|store, _| async move {
        let mut job = new_job(SAMPLE_GROUP, "script");
        job.glue.glue_type = Lenient::Known(xjob_admin::model::GlueType::Shell);
        let id = store.insert_job(&job, now()).await.unwrap();
        for version in 1..=32 {
            let at = now() + TimeDelta::seconds(version);
            assert!(
                store
                    .save_glue(id, &format!("echo {version}"), &format!("version {version}"), at)
                    .await
                    .unwrap()
            );
        }
        let history = store.glue_history(id).await.unwrap();
        assert_eq!(history.len(), 30);
        assert_eq!(history[0].source.as_deref(), Some("echo 32"));
        assert_eq!(history[0].remark, "version 32");
        assert_eq!(
            history[0].glue_type,
            Some(Lenient::Known(xjob_admin::model::GlueType::Shell))
        );
        assert_eq!(history[29].remark, "version 3");
        let job = store.job(id).await.unwrap().unwrap();
        assert_eq!(job.glue.source.as_deref(), Some("echo 32"));
        assert_eq!(job.glue.update_time, Some(now() + TimeDelta::seconds(32)));
        assert!(
            !store
                .save_glue(JobId(9999), "x", "missing job", now())
                .await
                .unwrap()
        );
        assert!(store.glue_history(JobId(9999)).await.unwrap().is_empty());
    })
    .await;
}
