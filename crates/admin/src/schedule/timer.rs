//! The in-memory timer: claimed fires and planned triggers ordered by their planned millisecond, one task
//! sleeping until the earliest and submitting everything due by then to the trigger queue in one go.
//! When the pass loop ends, what is due by then goes out, the rest is handed back to the database (see
//! the module docs of [`crate::schedule`]) and whatever cannot be handed back fires on time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use xjob_protocol::JobId;

use crate::model::PlannedTrigger;
use crate::schedule::claim::Fire;
use crate::schedule::scheduler::Counters;
use crate::store::{ScheduleRewind, Store};
use crate::trigger::{TriggerQueue, TriggerRequest, TriggerType};

/// Something a pass claimed, waiting in the timer for its millisecond.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// A fire of a job's schedule.
    Scheduled(Fire),
    /// A trigger planned through the job API; it fires as a MANUAL trigger with its own parameter and
    /// executors.
    Planned(PlannedTrigger),
}

/// The timer task's state.
pub(crate) struct Timer {
    pending: BTreeMap<i64, Vec<Due>>,
    queue: TriggerQueue,
    store: Store,
    counters: Arc<Counters>,
    pipeline_gone: bool,
}

/// Everything that moves the timer.
enum TimerEvent {
    /// A pass committed these claims.
    Claimed(Vec<Due>),
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
    pub(crate) async fn run(mut self, mut claims: mpsc::UnboundedReceiver<Vec<Due>>) {
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

    async fn next_event(&self, claims: &mut mpsc::UnboundedReceiver<Vec<Due>>) -> TimerEvent {
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

    fn add(&mut self, claimed: Vec<Due>) {
        for due in claimed {
            self.pending.entry(due.planned()).or_default().push(due);
        }
    }

    /// Submits every fire planned up to now, earliest first.
    async fn fire_due(&mut self) {
        let now = wall_millis();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > now {
                break;
            }
            for due in entry.remove() {
                self.submit(due).await;
            }
        }
    }

    async fn submit(&mut self, due: Due) {
        let job_id = due.job_id();
        let request = due.into_request();
        match self.queue.submit(request).await {
            Ok(()) => self.counters.add_submitted(1),
            Err(error) => {
                self.counters.add_dropped(1);
                if !self.pipeline_gone {
                    self.pipeline_gone = true;
                    tracing::error!(%error, job_id = job_id.0, "scheduled fires are being dropped");
                }
            }
        }
    }

    /// Rewinds the schedule of every job with unfired claims to its earliest unfired time and puts the
    /// unfired planned triggers back, under the cluster lock in one transaction, and forgets what was
    /// handed back.
    async fn hand_back(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut rewinds: HashMap<JobId, ScheduleRewind> = HashMap::new();
        let mut planned = Vec::new();
        // Ascending planned order: the first fire seen for a job is its earliest.
        for due in self.pending.values().flatten() {
            let fire = match due {
                Due::Scheduled(fire) => fire,
                Due::Planned(trigger) => {
                    planned.push(trigger.clone());
                    continue;
                }
            };
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
        let rewound = match self.rewind(&rewinds, &planned).await {
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
            // Restoring the planned triggers either committed with the rewinds or failed with them.
            fires.retain(|due| match due {
                Due::Scheduled(fire) => !rewound.contains(&fire.job_id),
                Due::Planned(_) => false,
            });
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

    async fn rewind(
        &self,
        rewinds: &[ScheduleRewind],
        planned: &[PlannedTrigger],
    ) -> Result<Vec<JobId>, RewindError> {
        let mut tx = self
            .store
            .lock_schedule()
            .await
            .map_err(RewindError::BeforeCommit)?;
        let rewound = tx
            .rewind_schedules(rewinds)
            .await
            .map_err(RewindError::BeforeCommit)?;
        tx.restore_planned_triggers(planned)
            .await
            .map_err(RewindError::BeforeCommit)?;
        tx.commit().await.map_err(RewindError::Commit)?;
        Ok(rewound)
    }
}

impl Due {
    /// The millisecond it is planned for; a planned trigger found late is due at once.
    fn planned(&self) -> i64 {
        match self {
            Due::Scheduled(fire) => fire.planned,
            Due::Planned(trigger) => trigger.trigger_time,
        }
    }

    fn job_id(&self) -> JobId {
        match self {
            Due::Scheduled(fire) => fire.job_id,
            Due::Planned(trigger) => trigger.job_id,
        }
    }

    /// What the pipeline gets. A planned trigger's chosen executors were checked when it was planned,
    /// possibly long ago, so the pipeline checks them again against the group (see
    /// [`TriggerRequest::only_registered_addresses`]). A planned trigger whose job has been deleted
    /// since is dropped there with a warning, like any trigger of a missing job.
    fn into_request(self) -> TriggerRequest {
        match self {
            Due::Scheduled(fire) => {
                let mut request = TriggerRequest::new(fire.job_id, fire.trigger_type);
                request.planned_ms = Some(fire.planned);
                request
            }
            Due::Planned(trigger) => {
                let mut request = TriggerRequest::new(trigger.job_id, TriggerType::Manual);
                request.planned_ms = Some(trigger.trigger_time);
                request.executor_param = trigger.executor_param;
                if !trigger.address_list.is_empty() {
                    request.address_list = Some(trigger.address_list);
                    request.only_registered_addresses = true;
                }
                request
            }
        }
    }
}

/// Where a hand-back failed: before the commit nothing was stored; a failed commit leaves it unknown.
enum RewindError {
    BeforeCommit(crate::store::StoreError),
    Commit(crate::store::StoreError),
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::model::PlannedTriggerId;

    fn planned(addresses: &[&str]) -> Due {
        Due::Planned(PlannedTrigger {
            id: PlannedTriggerId(3),
            job_id: JobId(7),
            trigger_time: 1_800_000_000_123,
            executor_param: Some("p".into()),
            address_list: addresses.iter().map(|address| (*address).to_owned()).collect(),
            created_at: Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
            created_by: "t".into(),
        })
    }

    /// `(job, type, planned ms, param, addresses, re-checked)` of a request.
    type Inputs = (
        JobId,
        TriggerType,
        Option<i64>,
        Option<String>,
        Option<Vec<String>>,
        bool,
    );

    /// The inputs of the request `due` becomes.
    fn request_of(due: Due) -> Inputs {
        let request = due.into_request();
        (
            request.job_id,
            request.trigger_type,
            request.planned_ms,
            request.executor_param,
            request.address_list,
            request.only_registered_addresses,
        )
    }

    #[test]
    fn planned_triggers_become_manual_triggers_with_their_own_inputs() {
        assert_eq!(
            request_of(planned(&["http://a:9999/"])),
            (
                JobId(7),
                TriggerType::Manual,
                Some(1_800_000_000_123),
                Some("p".into()),
                Some(vec!["http://a:9999/".into()]),
                true
            )
        );
        assert_eq!(
            request_of(planned(&[])),
            (
                JobId(7),
                TriggerType::Manual,
                Some(1_800_000_000_123),
                Some("p".into()),
                None,
                false
            )
        );
        let fire = Fire {
            job_id: JobId(8),
            planned: 1_800_000_001_000,
            trigger_type: TriggerType::Cron,
            previous: 0,
            claimed_next: 1_800_000_002_000,
        };
        assert_eq!(Due::Scheduled(fire).planned(), 1_800_000_001_000);
        assert_eq!(planned(&[]).planned(), 1_800_000_000_123);
        assert_eq!(
            request_of(Due::Scheduled(fire)),
            (
                JobId(8),
                TriggerType::Cron,
                Some(1_800_000_001_000),
                None,
                None,
                false
            )
        );
    }
}
