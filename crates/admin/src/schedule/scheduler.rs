//! The pass loop and the handle the composition holds. See the module docs of [`crate::schedule`] for
//! the guarantees.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::schedule::claim::{Claim, ClaimNote, PassClock, claim, planned_lateness};
use crate::schedule::timer::{Due, Timer, wall_millis};
use crate::store::{ScheduleUpdate, Store, StoreError};
use crate::trigger::TriggerQueue;

/// The scheduler: claims due fires from the database under the cluster lock and fires them at their
/// planned millisecond. Start it with [`Scheduler::start`]; it runs until [`SchedulerHandle::shutdown`].
pub struct Scheduler {
    store: Store,
    options: SchedulerOptions,
    wake: Arc<Notify>,
    cancel: CancellationToken,
    counters: Arc<Counters>,
}

/// Tuning of the scheduler. The defaults are upstream's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulerOptions {
    /// How far ahead a pass claims fires (upstream's `PRE_READ_MS`, 5 s). Kept between 1 s and 1 h.
    pub window: Duration,
    /// How many due jobs one locked read returns; more are read in further pages of the same pass
    /// (upstream's pre-read count, `(fast + slow pool maximum) × 10` = 5000 by default). At least 1.
    pub page_size: u32,
    /// How late a job may be found and still fire as planned; later, its misfire strategy applies
    /// (upstream: 5 s).
    pub misfire_threshold: Duration,
}

/// A running scheduler.
pub struct SchedulerHandle {
    waker: SchedulerWaker,
    cancel: CancellationToken,
    counters: Arc<Counters>,
    passes: JoinHandle<()>,
    timer: JoinHandle<()>,
}

/// Makes the scheduler scan at once, e.g. after a job was started or its schedule edited. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SchedulerWaker {
    wake: Arc<Notify>,
}

/// What the scheduler has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Completed passes.
    pub passes: u64,
    /// Due jobs read (a job read in several passes counts each time).
    pub jobs_read: u64,
    /// Fires claimed, planned triggers included.
    pub fires_claimed: u64,
    /// Fires submitted to the trigger queue.
    pub fires_submitted: u64,
    /// Claimed fires handed back to the database at shutdown.
    pub fires_handed_back: u64,
    /// Fires lost: the pipeline had stopped, or a hand-back ended in doubt.
    pub fires_dropped: u64,
    /// Duration of the latest pass.
    pub last_pass: Duration,
    /// Duration of the longest pass.
    pub longest_pass: Duration,
}

/// Passes at most this many pages before sleeping, so one pass stays bounded whatever the table holds.
const MAX_PAGES_PER_PASS: u32 = 1_000;

/// The longest pause after failing passes (the first waits a second, each further failure doubles it).
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            window: Duration::from_secs(5),
            page_size: 5_000,
            misfire_threshold: Duration::from_secs(5),
        }
    }
}

impl Scheduler {
    /// Starts the pass loop and the timer on the current tokio runtime; the first pass runs at once.
    pub fn start(store: Store, queue: TriggerQueue, options: SchedulerOptions) -> SchedulerHandle {
        let options = SchedulerOptions {
            window: options
                .window
                .clamp(Duration::from_secs(1), Duration::from_secs(3600)),
            page_size: options.page_size.max(1),
            misfire_threshold: options.misfire_threshold,
        };
        let (claims, claimed) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let waker = SchedulerWaker {
            wake: Arc::new(Notify::new()),
        };
        let cancel = CancellationToken::new();
        let scheduler = Scheduler {
            store: store.clone(),
            options,
            wake: waker.wake.clone(),
            cancel: cancel.clone(),
            counters: counters.clone(),
        };
        let timer = tokio::spawn(Timer::new(queue, store, counters.clone()).run(claimed));
        let passes = tokio::spawn(scheduler.run(claims));
        SchedulerHandle {
            waker,
            cancel,
            counters,
            passes,
            timer,
        }
    }

    /// Passes until cancelled, then drops the claim sender, which tells the timer to wind down.
    async fn run(self, claims: mpsc::UnboundedSender<Vec<Due>>) {
        let lead = self.options.window / 5;
        let mut failures = 0u32;
        loop {
            let started = Instant::now();
            let wait = match self.pass(&claims).await {
                Ok(Pass::Stopped) => break,
                Ok(Pass::Done { horizon }) => {
                    failures = 0;
                    self.counters.record_pass(started.elapsed());
                    // The next window starts where this one ends; scan a little before, so its fires
                    // are in the timer before the first of them is due.
                    let next_start = horizon.saturating_sub(duration_ms(lead));
                    Duration::from_millis(u64::try_from(next_start - wall_millis()).unwrap_or(0))
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let backoff = Duration::from_secs(1)
                        .saturating_mul(1u32 << (failures.min(6) - 1))
                        .min(MAX_BACKOFF);
                    tracing::warn!(%error, failures, retry_in = ?backoff, "schedule pass failed");
                    backoff
                }
            };
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One pass: pages of due jobs and due planned triggers, each read, claimed, written and committed
    /// under the cluster lock, its fires handed to the timer only after the commit.
    async fn pass(&self, claims: &mpsc::UnboundedSender<Vec<Due>>) -> Result<Pass, StoreError> {
        let window = duration_ms(self.options.window);
        let misfire_threshold = duration_ms(self.options.misfire_threshold);
        let zone = self.store.time_zone();
        let mut horizon = 0;
        for _ in 0..MAX_PAGES_PER_PASS {
            let mut tx = tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Ok(Pass::Stopped),
                tx = self.store.lock_schedule() => tx?,
            };
            let now = wall_millis();
            let clock = PassClock {
                now,
                horizon: now.saturating_add(window),
                misfire_threshold,
            };
            horizon = clock.horizon;
            let jobs = tx.due_jobs(clock.horizon, self.options.page_size).await?;
            let planned = tx
                .claim_planned_triggers(clock.horizon, self.options.page_size)
                .await?;
            if jobs.is_empty() && planned.is_empty() {
                tx.commit().await?;
                break;
            }
            let page_size = self.options.page_size as usize;
            let full_page = jobs.len() >= page_size || planned.len() >= page_size;
            let claimed: Vec<Claim> = jobs.iter().map(|job| claim(job, zone, clock)).collect();
            let updates: Vec<ScheduleUpdate> = claimed.iter().map(|claim| claim.update).collect();
            tx.update_schedules(&updates).await?;
            tx.commit().await?;

            let scheduled: usize = claimed.iter().map(|claim| claim.fires.len()).sum();
            let mut fires = Vec::with_capacity(scheduled + planned.len());
            for claim in claimed {
                if let Some(note) = &claim.note {
                    report(claim.update.id.0, note);
                }
                fires.extend(claim.fires.into_iter().map(Due::Scheduled));
            }
            for trigger in planned {
                if let Some(late_ms) = planned_lateness(trigger.trigger_time, clock) {
                    tracing::warn!(
                        job_id = trigger.job_id.0,
                        planned_trigger_id = trigger.id.0,
                        late_ms,
                        "planned trigger found late; firing it once now"
                    );
                }
                fires.push(Due::Planned(trigger));
            }
            self.counters.add_claimed(jobs.len() as u64, fires.len() as u64);
            tracing::debug!(jobs = jobs.len(), fires = fires.len(), "claimed due fires");
            if !fires.is_empty() && claims.send(fires).is_err() {
                // The timer outlives this loop by construction; reaching this is a bug worth a loud line.
                tracing::error!("the scheduler's timer has stopped; claimed fires are lost");
            }
            if !full_page {
                break;
            }
        }
        Ok(Pass::Done { horizon })
    }
}

/// How a pass ended.
enum Pass {
    /// Cancelled while waiting for the lock; nothing of that page was read.
    Stopped,
    /// Done; its window ended at `horizon` (Unix ms).
    Done { horizon: i64 },
}

fn report(job_id: i32, note: &ClaimNote) {
    match note {
        ClaimNote::Misfired { late_ms, compensated } => {
            tracing::warn!(job_id, late_ms, compensated, "job misfired")
        }
        ClaimNote::Invalid(error) => {
            tracing::warn!(job_id, %error, "schedule cannot be evaluated; job stopped");
        }
        ClaimNote::Exhausted => tracing::warn!(job_id, "schedule has no further fire time; job stopped"),
    }
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl SchedulerHandle {
    /// Makes the scheduler scan at once (see [`SchedulerWaker`]).
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// A waker to give the job API.
    pub fn waker(&self) -> SchedulerWaker {
        self.waker.clone()
    }

    /// What the scheduler has done so far.
    pub fn stats(&self) -> SchedulerStats {
        self.counters.snapshot()
    }

    /// Stops scanning, submits the fires already due, hands the other claimed fires back to the
    /// database, and fires on time any whose hand-back did not take effect (at most one window).
    /// Returns the final counters.
    pub async fn shutdown(self) -> SchedulerStats {
        self.cancel.cancel();
        for (name, task) in [("pass loop", self.passes), ("timer", self.timer)] {
            if let Err(error) = task.await {
                tracing::error!(%error, task = name, "scheduler task failed");
            }
        }
        self.counters.snapshot()
    }
}

impl SchedulerWaker {
    /// Makes the scheduler start its next pass now (or right after the one running).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The notification behind [`SchedulerWaker::wake`], for parts that only know `tokio::sync::Notify`.
    pub fn notifier(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }
}

/// Counters shared by the pass loop, the timer and the handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    passes: AtomicU64,
    jobs_read: AtomicU64,
    fires_claimed: AtomicU64,
    fires_submitted: AtomicU64,
    fires_handed_back: AtomicU64,
    fires_dropped: AtomicU64,
    last_pass_micros: AtomicU64,
    longest_pass_micros: AtomicU64,
}

impl Counters {
    fn record_pass(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.last_pass_micros.store(micros, Ordering::Relaxed);
        self.longest_pass_micros.fetch_max(micros, Ordering::Relaxed);
    }

    fn add_claimed(&self, jobs: u64, fires: u64) {
        self.jobs_read.fetch_add(jobs, Ordering::Relaxed);
        self.fires_claimed.fetch_add(fires, Ordering::Relaxed);
    }

    pub(crate) fn add_submitted(&self, fires: u64) {
        self.fires_submitted.fetch_add(fires, Ordering::Relaxed);
    }

    pub(crate) fn add_handed_back(&self, fires: u64) {
        self.fires_handed_back.fetch_add(fires, Ordering::Relaxed);
    }

    pub(crate) fn add_dropped(&self, fires: u64) {
        self.fires_dropped.fetch_add(fires, Ordering::Relaxed);
    }

    fn snapshot(&self) -> SchedulerStats {
        SchedulerStats {
            passes: self.passes.load(Ordering::Relaxed),
            jobs_read: self.jobs_read.load(Ordering::Relaxed),
            fires_claimed: self.fires_claimed.load(Ordering::Relaxed),
            fires_submitted: self.fires_submitted.load(Ordering::Relaxed),
            fires_handed_back: self.fires_handed_back.load(Ordering::Relaxed),
            fires_dropped: self.fires_dropped.load(Ordering::Relaxed),
            last_pass: Duration::from_micros(self.last_pass_micros.load(Ordering::Relaxed)),
            longest_pass: Duration::from_micros(self.longest_pass_micros.load(Ordering::Relaxed)),
        }
    }
}
