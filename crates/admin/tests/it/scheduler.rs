//! The scheduler against real databases and a real trigger queue: fires at their planned millisecond,
//! fixed rate, NONE, per-job zones, misfire strategies, stopping, restarts and two schedulers on one
//! database. Timing assertions are deliberately generous; the bench measures skew.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use xjob_admin::model::{
    JobGroupId, JobId, Lenient, MisfireStrategy, Schedule, ScheduleState, ScheduleType, TriggerStatus,
};
use xjob_admin::schedule::{Scheduler, SchedulerOptions, next_fire_after};
use xjob_admin::store::{ScheduleRewind, Store};
use xjob_admin::trigger::{TriggerQueue, TriggerRequest, TriggerType};
use xjob_test_support::db::TestDatabase;
use xjob_test_support::wait_until;

use crate::support::{each_store, new_job, open};

const WINDOW: Duration = Duration::from_secs(2);

/// One request that reached the queue's receiving end.
#[derive(Clone, Copy, Debug)]
struct Received {
    job_id: JobId,
    trigger_type: TriggerType,
    planned: i64,
    at: i64,
}

/// Everything a queue delivers, recorded as it arrives.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<Received>>>);

impl Inbox {
    fn all(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }

    fn of(&self, job_id: JobId) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|received| received.job_id == job_id)
            .collect()
    }

    /// Waits (bounded) until `count` requests arrived in all.
    async fn wait_total(&self, count: u64) {
        let inbox = self.clone();
        assert!(
            wait_until(Duration::from_secs(15), || {
                let inbox = inbox.clone();
                async move { inbox.all().len() as u64 >= count }
            })
            .await,
            "{} requests arrived, expected {count}",
            self.all().len()
        );
    }

    /// Waits (bounded) until `job_id` has at least `count` fires.
    async fn wait_for(&self, job_id: JobId, count: usize) {
        let inbox = self.clone();
        assert!(
            wait_until(Duration::from_secs(15), || {
                let inbox = inbox.clone();
                async move { inbox.of(job_id).len() >= count }
            })
            .await,
            "job {job_id:?} fired {} times, expected {count}",
            self.of(job_id).len()
        );
    }
}

/// A queue whose receiver records into an inbox until every sender is gone.
fn queue() -> (TriggerQueue, Inbox, JoinHandle<()>) {
    let (queue, receiver) = TriggerQueue::bounded(10_000);
    let inbox = Inbox::default();
    let collector = tokio::spawn(record(receiver, inbox.clone()));
    (queue, inbox, collector)
}

async fn record(mut receiver: mpsc::Receiver<TriggerRequest>, inbox: Inbox) {
    while let Some(request) = receiver.recv().await {
        let at = Utc::now().timestamp_millis();
        inbox.0.lock().unwrap().push(Received {
            job_id: request.job_id,
            trigger_type: request.trigger_type,
            planned: request
                .planned_ms
                .expect("scheduler fires carry their planned time"),
            at,
        });
    }
}

fn options() -> SchedulerOptions {
    SchedulerOptions {
        window: WINDOW,
        ..SchedulerOptions::default()
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Inserts a running job with `schedule`, next due at `next_time`.
async fn running_job(store: &Store, schedule: Schedule, misfire: MisfireStrategy, next_time: i64) -> JobId {
    let mut job = new_job(JobGroupId(1), "scheduled");
    job.settings.schedule = schedule;
    job.settings.misfire_strategy = Lenient::Known(misfire);
    job.settings.time_zone = None;
    let id = store.insert_job(&job, Utc::now()).await.unwrap();
    store
        .set_job_state(id, ScheduleState::started(next_time), Utc::now())
        .await
        .unwrap();
    id
}

/// The first fire of `schedule` after now (+ `delay_ms`) in the store's zone.
fn first_fire(store: &Store, schedule: &Schedule, delay_ms: i64) -> i64 {
    next_fire_after(schedule, store.time_zone(), now_ms() + delay_ms)
        .unwrap()
        .unwrap()
}

/// Asserts each (job, planned) arrived exactly once and each job's fires are every `step_ms` without a
/// gap; returns the planned times per job.
fn assert_once_without_gaps(received: &[Received], step_ms: i64) -> BTreeMap<JobId, Vec<i64>> {
    let mut per_job: BTreeMap<JobId, Vec<i64>> = BTreeMap::new();
    for fire in received {
        per_job.entry(fire.job_id).or_default().push(fire.planned);
    }
    for (job_id, planned) in &mut per_job {
        planned.sort_unstable();
        let distinct: BTreeSet<i64> = planned.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            planned.len(),
            "job {job_id:?} fired twice: {planned:?}"
        );
        for pair in planned.windows(2) {
            assert_eq!(
                pair[1] - pair[0],
                step_ms,
                "job {job_id:?} skipped a fire: {planned:?}"
            );
        }
    }
    per_job
}

#[tokio::test]
async fn cron_fires_arrive_at_their_planned_millisecond() {
    each_store(|store, engine| async move {
        let every_second = Schedule::cron("* * * * * ?");
        let every_two = Schedule::cron("*/2 * * * * ?");
        let fast = running_job(
            &store,
            every_second.clone(),
            MisfireStrategy::DoNothing,
            first_fire(&store, &every_second, 500),
        )
        .await;
        let slow = running_job(
            &store,
            every_two.clone(),
            MisfireStrategy::DoNothing,
            first_fire(&store, &every_two, 500),
        )
        .await;
        let (queue, inbox, collector) = queue();
        let scheduler = Scheduler::start(store.clone(), queue, options());
        inbox.wait_for(fast, 5).await;
        inbox.wait_for(slow, 2).await;
        scheduler.shutdown().await;
        collector.await.unwrap();

        let received = inbox.all();
        for fire in &received {
            assert_eq!(fire.trigger_type, TriggerType::Cron);
            assert_eq!(fire.planned % 1000, 0, "cron fires are whole seconds");
            // Never early; late by far less than a second on any machine that runs the suite.
            let skew = fire.at - fire.planned;
            assert!((0..1_000).contains(&skew), "{engine:?}: skew {skew} ms");
        }
        assert_once_without_gaps(&inbox.of(fast), 1_000);
        assert_once_without_gaps(&inbox.of(slow), 2_000);
        assert!(inbox.of(slow).iter().all(|fire| fire.planned % 2_000 == 0));
    })
    .await;
}

#[tokio::test]
async fn fix_rate_jobs_fire_every_interval() {
    each_store(|store, _| async move {
        let every_two = Schedule::fix_rate(2).unwrap();
        // Far enough ahead that the first pass finds it not yet due, so the cadence starts from it.
        let first = (now_ms() + 1_500) / 1000 * 1000 + 1_000;
        let job = running_job(&store, every_two, MisfireStrategy::DoNothing, first).await;
        let (queue, inbox, collector) = queue();
        let scheduler = Scheduler::start(store.clone(), queue, options());
        inbox.wait_for(job, 3).await;
        scheduler.shutdown().await;
        collector.await.unwrap();
        let planned = &assert_once_without_gaps(&inbox.all(), 2_000)[&job];
        assert_eq!(&planned[..3], [first, first + 2_000, first + 4_000]);
    })
    .await;
}

#[tokio::test]
async fn none_and_unusable_schedules_never_fire_and_are_stopped() {
    each_store(|store, _| async move {
        let soon = now_ms() + 300;
        // Running NONE and broken-cron rows can come from an adopted upstream database.
        let none = running_job(&store, Schedule::none(), MisfireStrategy::FireOnceNow, soon).await;
        let broken = running_job(
            &store,
            Schedule::cron("not a cron"),
            MisfireStrategy::FireOnceNow,
            soon,
        )
        .await;
        let mut unknown_schedule = Schedule::none();
        unknown_schedule.schedule_type = Lenient::<ScheduleType>::parse("FIX_DELAY");
        let unknown = running_job(&store, unknown_schedule, MisfireStrategy::FireOnceNow, soon).await;
        let healthy_schedule = Schedule::cron("* * * * * ?");
        let healthy = running_job(
            &store,
            healthy_schedule.clone(),
            MisfireStrategy::DoNothing,
            first_fire(&store, &healthy_schedule, 300),
        )
        .await;

        let (queue, inbox, collector) = queue();
        let scheduler = Scheduler::start(store.clone(), queue, options());
        inbox.wait_for(healthy, 2).await;
        scheduler.shutdown().await;
        collector.await.unwrap();

        assert!(inbox.all().iter().all(|fire| fire.job_id == healthy));
        for id in [none, broken, unknown] {
            let job = store.job(id).await.unwrap().unwrap();
            assert_eq!(job.state, ScheduleState::STOPPED, "job {id:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn cron_fields_are_read_in_the_job_zone() {
    each_store(|store, _| async move {
        let nine_am = Schedule::cron("0 0 9 * * ?");
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Slightly late (inside the threshold): the scheduler fires once and computes the next time
        // itself, in each job's zone.
        let late = now_ms() - 500;
        let mut ids = Vec::new();
        for zone in [Some(tokyo), Some(berlin), None] {
            let mut job = new_job(JobGroupId(1), "zoned");
            job.settings.schedule = nine_am.clone();
            job.settings.time_zone = zone;
            let id = store.insert_job(&job, Utc::now()).await.unwrap();
            store
                .set_job_state(id, ScheduleState::started(late), Utc::now())
                .await
                .unwrap();
            ids.push((id, zone.unwrap_or(store.time_zone())));
        }
        let (queue, inbox, collector) = queue();
        let scheduler = Scheduler::start(store.clone(), queue, options());
        for (id, _) in &ids {
            inbox.wait_for(*id, 1).await;
        }
        scheduler.shutdown().await;
        collector.await.unwrap();
        let mut nexts = BTreeSet::new();
        for (id, zone) in ids {
            let state = store.job(id).await.unwrap().unwrap().state;
            let expected = next_fire_after(&nine_am, zone, now_ms()).unwrap().unwrap();
            assert_eq!(state.next_time, expected, "job {id:?} in {zone}");
            assert_eq!(state.last_time, late);
            nexts.insert(state.next_time);
        }
        // Three zones, three different instants (the admin's zone is Shanghai).
        assert_eq!(nexts.len(), 3);
        assert!(
            inbox
                .all()
                .iter()
                .all(|fire| fire.planned == late && fire.trigger_type == TriggerType::Cron)
        );
    })
    .await;
}

#[tokio::test]
async fn misfire_do_nothing_skips_and_fire_once_now_compensates_once() {
    each_store(|store, _| async move {
        let hourly = Schedule::cron("0 0 * * * ?");
        let missed = now_ms() - 60_000;
        let skipped = running_job(&store, hourly.clone(), MisfireStrategy::DoNothing, missed).await;
        let compensated = running_job(&store, hourly.clone(), MisfireStrategy::FireOnceNow, missed).await;
        let marker_schedule = Schedule::cron("* * * * * ?");
        let marker = running_job(
            &store,
            marker_schedule.clone(),
            MisfireStrategy::DoNothing,
            first_fire(&store, &marker_schedule, 300),
        )
        .await;

        let (queue, inbox, collector) = queue();
        let started = now_ms();
        let scheduler = Scheduler::start(store.clone(), queue, options());
        inbox.wait_for(compensated, 1).await;
        // The marker's second fire comes after a later pass: by then a skipped job would have shown up.
        inbox.wait_for(marker, 2).await;
        scheduler.shutdown().await;
        collector.await.unwrap();

        assert!(inbox.of(skipped).is_empty());
        let fires = inbox.of(compensated);
        assert_eq!(fires.len(), 1, "{fires:?}");
        assert_eq!(fires[0].trigger_type, TriggerType::Misfire);
        assert!(
            fires[0].planned >= started,
            "a misfire fires now, not at the missed time"
        );
        for id in [skipped, compensated] {
            let state = store.job(id).await.unwrap().unwrap().state;
            assert_eq!(state.status, TriggerStatus::Running);
            assert_eq!(state.last_time, missed);
            assert_eq!(
                state.next_time,
                next_fire_after(&hourly, store.time_zone(), now_ms())
                    .unwrap()
                    .unwrap()
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_stopped_job_stops_firing_within_one_window() {
    each_store(|store, _| async move {
        let every_second = Schedule::cron("* * * * * ?");
        let stopping = running_job(
            &store,
            every_second.clone(),
            MisfireStrategy::DoNothing,
            first_fire(&store, &every_second, 300),
        )
        .await;
        let going_on = running_job(
            &store,
            every_second.clone(),
            MisfireStrategy::DoNothing,
            first_fire(&store, &every_second, 300),
        )
        .await;
        let (queue, inbox, collector) = queue();
        let scheduler = Scheduler::start(store.clone(), queue, options());
        inbox.wait_for(stopping, 2).await;
        let stopped_at = now_ms();
        store
            .set_job_state(stopping, ScheduleState::STOPPED, Utc::now())
            .await
            .unwrap();
        scheduler.wake();
        // Fires claimed before the stop still go out (as upstream's ring does), none later.
        let seen = inbox.of(going_on).len();
        inbox
            .wait_for(going_on, seen + 2 + WINDOW.as_secs() as usize)
            .await;
        scheduler.shutdown().await;
        collector.await.unwrap();

        // The last pass before the stop reached at most one window past it (plus the write's duration).
        let window_end = stopped_at + WINDOW.as_millis() as i64 + 500;
        let fires = inbox.of(stopping);
        assert!(fires.iter().all(|fire| fire.planned <= window_end), "{fires:?}");
        assert_eq!(
            store.job(stopping).await.unwrap().unwrap().state,
            ScheduleState::STOPPED
        );
        assert!(inbox.of(going_on).iter().any(|fire| fire.planned > window_end));
    })
    .await;
}

#[tokio::test]
async fn a_restart_neither_doubles_nor_loses_fires() {
    each_store(|store, _| async move {
        let every_second = Schedule::cron("* * * * * ?");
        let first = first_fire(&store, &every_second, 1_000);
        let mut jobs = Vec::new();
        for _ in 0..5 {
            jobs.push(running_job(&store, every_second.clone(), MisfireStrategy::DoNothing, first).await);
        }
        let (queue, inbox, collector) = queue();
        // With the default 5 s window every job always has claimed fires waiting in the timer.
        let before = Scheduler::start(store.clone(), queue.clone(), SchedulerOptions::default());
        inbox.wait_for(jobs[0], 2).await;
        let before_stats = before.shutdown().await;
        // The rest of the claimed window was handed back: neither fired nor forgotten.
        assert!(before_stats.fires_handed_back > 0, "{before_stats:?}");
        inbox.wait_total(before_stats.fires_submitted).await;
        let latest_fired = inbox.of(jobs[0]).iter().map(|fire| fire.planned).max().unwrap();
        let state = store.job(jobs[0]).await.unwrap().unwrap().state;
        assert_eq!(state.next_time, latest_fired + 1_000);
        assert_eq!(state.last_time, latest_fired);

        let after = Scheduler::start(store.clone(), queue, options());
        inbox.wait_for(jobs[0], 5).await;
        let stats = after.shutdown().await;
        collector.await.unwrap();
        assert!(stats.fires_submitted > 0);

        let per_job = assert_once_without_gaps(&inbox.all(), 1_000);
        assert_eq!(per_job.len(), jobs.len());
        for planned in per_job.values() {
            assert_eq!(planned[0], first);
            assert!(planned.len() >= 4, "{planned:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn two_schedulers_on_one_database_fire_each_planned_time_once() {
    for engine in xjob_test_support::db::engines() {
        eprintln!("engine: {engine:?}");
        let database = TestDatabase::create(engine).await;
        let first_admin = open(&database).await;
        let second_admin = open(&database).await;
        let every_second = Schedule::cron("* * * * * ?");
        let first = first_fire(&first_admin, &every_second, 1_500);
        let mut jobs = Vec::new();
        for _ in 0..20 {
            jobs.push(
                running_job(
                    &first_admin,
                    every_second.clone(),
                    MisfireStrategy::DoNothing,
                    first,
                )
                .await,
            );
        }
        let (queue, inbox, collector) = queue();
        let one = Scheduler::start(first_admin.clone(), queue.clone(), options());
        let two = Scheduler::start(second_admin.clone(), queue, options());
        for job in &jobs {
            inbox.wait_for(*job, 4).await;
        }
        let stats_one = one.shutdown().await;
        let stats_two = two.shutdown().await;
        collector.await.unwrap();

        let per_job = assert_once_without_gaps(&inbox.all(), 1_000);
        assert_eq!(per_job.len(), jobs.len(), "{engine:?}");
        assert!(per_job.values().all(|planned| planned[0] == first));
        // Both admins took part: each scanned under the lock and neither claimed the other's fires.
        assert!(stats_one.passes > 0 && stats_two.passes > 0);
        first_admin.close().await;
        second_admin.close().await;
    }
}

#[tokio::test]
async fn rewinding_applies_only_where_the_claim_still_holds() {
    each_store(|store, _| async move {
        let hourly = Schedule::cron("0 0 * * * ?");
        let claimed = 2_000_000;
        let kept = running_job(&store, hourly.clone(), MisfireStrategy::DoNothing, claimed).await;
        let edited = running_job(&store, hourly.clone(), MisfireStrategy::DoNothing, claimed + 5).await;
        let stopped = running_job(&store, hourly.clone(), MisfireStrategy::DoNothing, claimed).await;
        store
            .set_job_state(stopped, ScheduleState::STOPPED, Utc::now())
            .await
            .unwrap();
        let rewind = |id| ScheduleRewind {
            id,
            claimed_next: claimed,
            next_time: 1_000_000,
            last_time: 999_000,
        };
        let mut tx = store.lock_schedule().await.unwrap();
        let rewound = tx
            .rewind_schedules(&[rewind(kept), rewind(edited), rewind(stopped)])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(rewound, [kept]);
        let state = |id| {
            let store = store.clone();
            async move { store.job(id).await.unwrap().unwrap().state }
        };
        assert_eq!(
            state(kept).await,
            ScheduleState {
                status: TriggerStatus::Running,
                last_time: 999_000,
                next_time: 1_000_000
            }
        );
        assert_eq!(state(edited).await, ScheduleState::started(claimed + 5));
        assert_eq!(state(stopped).await, ScheduleState::STOPPED);
    })
    .await;
}
