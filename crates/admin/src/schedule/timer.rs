//! The in-memory timer: claimed fires ordered by their planned millisecond, one task sleeping until the
//! earliest and submitting every fire due by then to the trigger queue in one go. When the pass loop
//! ends, fires due by then go out, later ones are handed back to the database (see the module docs of
//! [`crate::schedule`]) and whatever cannot be handed back fires on time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use xjob_protocol::JobId;

use crate::schedule::claim::Fire;
use crate::schedule::scheduler::Counters;
use crate::store::{ScheduleRewind, Store};
use crate::trigger::{TriggerQueue, TriggerRequest};

/// The timer task's state.
pub(crate) struct Timer {
    pending: BTreeMap<i64, Vec<Fire>>,
    queue: TriggerQueue,
    store: Store,
    counters: Arc<Counters>,
    pipeline_gone: bool,
}

/// Everything that moves the timer.
enum TimerEvent {
    /// A pass committed these claims.
    Claimed(Vec<Fire>),
    /// The earliest pending fire is due.
    Due,
    /// The pass loop has ended: nothing more will be claimed.
    PassesEnded,
}

/// Now as Unix microseconds (wall clock: planned times are wall-clock instants shared by every admin).
pub(crate) fn wall_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
}

/// Now as Unix milliseconds.
pub(crate) fn wall_millis() -> i64 {
    wall_micros().div_euclid(1000)
}

/// How long until the wall clock reaches `planned_ms` (zero once it has).
fn until(planned_ms: i64) -> Duration {
    let micros = planned_ms.saturating_mul(1000).saturating_sub(wall_micros());
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

impl Timer {
    pub(crate) fn new(queue: TriggerQueue, store: Store, counters: Arc<Counters>) -> Timer {
        Timer {
            pending: BTreeMap::new(),
            queue,
            store,
            counters,
            pipeline_gone: false,
        }
    }

    /// Runs until the pass loop has ended and every claimed fire was submitted or handed back.
    pub(crate) async fn run(mut self, mut claims: mpsc::UnboundedReceiver<Vec<Fire>>) {
        loop {
            match self.next_event(&mut claims).await {
                TimerEvent::Claimed(fires) => self.add(fires),
                TimerEvent::Due => self.fire_due().await,
                TimerEvent::PassesEnded => break,
            }
        }
        self.fire_due().await;
        self.hand_back().await;
        // What could not be handed back is still ours alone: fire it on time. Every pending fire lies
        // within one look-ahead window of the last pass, so this ends within that window.
        while let Some(earliest) = self.pending.first_key_value().map(|(planned, _)| *planned) {
            tokio::time::sleep(until(earliest)).await;
            self.fire_due().await;
        }
    }

    async fn next_event(&self, claims: &mut mpsc::UnboundedReceiver<Vec<Fire>>) -> TimerEvent {
        let Some(earliest) = self.pending.first_key_value().map(|(planned, _)| *planned) else {
            return claims
                .recv()
                .await
                .map_or(TimerEvent::PassesEnded, TimerEvent::Claimed);
        };
        let wait = until(earliest);
        if wait.is_zero() {
            return TimerEvent::Due;
        }
        tokio::select! {
            biased;
            claimed = claims.recv() => claimed.map_or(TimerEvent::PassesEnded, TimerEvent::Claimed),
            () = tokio::time::sleep(wait) => TimerEvent::Due,
        }
    }

    fn add(&mut self, fires: Vec<Fire>) {
        for fire in fires {
            self.pending.entry(fire.planned).or_default().push(fire);
        }
    }

    /// Submits every fire planned up to now, earliest first.
    async fn fire_due(&mut self) {
        let now = wall_millis();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > now {
                break;
            }
            for fire in entry.remove() {
                self.submit(fire).await;
            }
        }
    }

    async fn submit(&mut self, fire: Fire) {
        let mut request = TriggerRequest::new(fire.job_id, fire.trigger_type);
        request.planned_ms = Some(fire.planned);
        match self.queue.submit(request).await {
            Ok(()) => self.counters.add_submitted(1),
            Err(error) => {
                self.counters.add_dropped(1);
                if !self.pipeline_gone {
                    self.pipeline_gone = true;
                    tracing::error!(%error, job_id = fire.job_id.0, "scheduled fires are being dropped");
                }
            }
        }
    }

    /// Rewinds the schedule of every job with unfired claims to its earliest unfired time, under the
    /// cluster lock, and forgets the fires whose rewind took effect.
    async fn hand_back(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut rewinds: HashMap<JobId, ScheduleRewind> = HashMap::new();
        // Ascending planned order: the first fire seen for a job is its earliest.
        for fire in self.pending.values().flatten() {
            let rewind = rewinds.entry(fire.job_id).or_insert(ScheduleRewind {
                id: fire.job_id,
                claimed_next: fire.claimed_next,
                next_time: fire.planned,
                last_time: fire.previous,
            });
            // A later pass's claim stored a later next time; the row holds the latest one.
            rewind.claimed_next = rewind.claimed_next.max(fire.claimed_next);
        }
        let mut rewinds: Vec<ScheduleRewind> = rewinds.into_values().collect();
        rewinds.sort_by_key(|rewind| rewind.id.0);
        let rewound = match self.rewind(&rewinds).await {
            Ok(rewound) => rewound,
            Err(RewindError::BeforeCommit(error)) => {
                tracing::warn!(%error, "could not hand claimed fires back; firing them on time instead");
                return;
            }
            Err(RewindError::Commit(error)) => {
                // The rewind may or may not have been stored. Firing could then fire twice, so the
                // fires are dropped: a lost fire is logged, a doubled one would not be noticed.
                let lost: usize = self.pending.values().map(Vec::len).sum();
                self.pending.clear();
                self.counters.add_dropped(lost as u64);
                tracing::error!(%error, lost, "committing the hand-back failed; its fires are dropped");
                return;
            }
        };
        let rewound: HashSet<JobId> = rewound.into_iter().collect();
        let mut handed_back = 0;
        self.pending.retain(|_, fires| {
            let before = fires.len();
            fires.retain(|fire| !rewound.contains(&fire.job_id));
            handed_back += before - fires.len();
            !fires.is_empty()
        });
        self.counters.add_handed_back(handed_back as u64);
        tracing::info!(
            handed_back,
            kept = self.pending.values().map(Vec::len).sum::<usize>(),
            "claimed fires handed back to the database"
        );
    }

    async fn rewind(&self, rewinds: &[ScheduleRewind]) -> Result<Vec<JobId>, RewindError> {
        let mut tx = self
            .store
            .lock_schedule()
            .await
            .map_err(RewindError::BeforeCommit)?;
        let rewound = tx
            .rewind_schedules(rewinds)
            .await
            .map_err(RewindError::BeforeCommit)?;
        tx.commit().await.map_err(RewindError::Commit)?;
        Ok(rewound)
    }
}

/// Where a hand-back failed: before the commit nothing was stored; a failed commit leaves it unknown.
enum RewindError {
    BeforeCommit(crate::store::StoreError),
    Commit(crate::store::StoreError),
}
