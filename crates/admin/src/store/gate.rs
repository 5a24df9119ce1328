//! The order in which SQLite writers get the one writer connection.
//!
//! Writes on SQLite are serialised anyway (one write lock per database). What matters is who waits: an
//! executor's callback is answered only once its results are stored, and the executor sends its next
//! batch only after that answer, so every millisecond a result write spends queued behind a large
//! trigger-row insert or trigger-result update caps the rate at which results come back. Results
//! therefore go first: an [`Urgency::Urgent`] writer is let in before every [`Urgency::Normal`] one
//! that has not started yet; otherwise writers go in arrival order. Overtaking is bounded: once urgent
//! writers have gone ahead of a waiting normal one [`MAX_OVERTAKES`] times in a row, the normal writers
//! queue in arrival order with them until one of them has written. Urgent writes never stop while
//! results keep coming (many executors, or spooled callbacks re-sent after an outage), and without the
//! bound trigger rows, registrations and job edits would wait for as long as that lasts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Urgent writes in a row that may go ahead of a waiting normal one; a normal write is as large as a few
/// result batches, so results keep most of the turns.
const MAX_OVERTAKES: usize = 4;

/// How soon a write must run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Urgency {
    /// Someone is waiting for the answer (execution results): ahead of every normal write.
    Urgent,
    /// Everything else, in arrival order.
    Normal,
}

/// The turn-taking of one database's writers; see the module docs.
#[derive(Debug)]
pub(crate) struct WriteGate {
    turn: Arc<Semaphore>,
    urgent_waiting: AtomicUsize,
    urgent_in: Notify,
    /// Normal writers in [`WriteGate::enter`].
    normal_waiting: AtomicUsize,
    /// Urgent writers that got in while a normal one waited, since a normal one last got in.
    overtakes: AtomicUsize,
}

/// The right to write, held until dropped.
pub(crate) type Turn = Option<OwnedSemaphorePermit>;

impl WriteGate {
    pub(crate) fn new() -> WriteGate {
        WriteGate {
            turn: Arc::new(Semaphore::new(1)),
            urgent_waiting: AtomicUsize::new(0),
            urgent_in: Notify::new(),
            normal_waiting: AtomicUsize::new(0),
            overtakes: AtomicUsize::new(0),
        }
    }

    /// Waits for this writer's turn.
    pub(crate) async fn enter(&self, urgency: Urgency) -> Turn {
        match urgency {
            Urgency::Urgent => {
                self.urgent_waiting.fetch_add(1, Ordering::SeqCst);
                let turn = Arc::clone(&self.turn).acquire_owned().await.ok();
                self.urgent_waiting.fetch_sub(1, Ordering::SeqCst);
                if self.normal_waiting.load(Ordering::SeqCst) > 0 {
                    self.overtakes.fetch_add(1, Ordering::SeqCst);
                }
                self.urgent_in.notify_waiters();
                turn
            }
            Urgency::Normal => {
                self.normal_waiting.fetch_add(1, Ordering::SeqCst);
                // Counted out however the wait ends, cancellation included.
                let _waiting = Waiting(&self.normal_waiting);
                loop {
                    let urgent_in = self.urgent_in.notified();
                    tokio::pin!(urgent_in);
                    // Registered before the check, so an urgent writer getting in between is not missed.
                    urgent_in.as_mut().enable();
                    if self.must_yield() {
                        urgent_in.await;
                        continue;
                    }
                    let turn = Arc::clone(&self.turn).acquire_owned().await.ok();
                    if !self.must_yield() {
                        self.overtakes.store(0, Ordering::SeqCst);
                        return turn;
                    }
                    // An urgent writer queued while this one waited: the semaphore serves in order, so
                    // giving the turn back hands it to the urgent one.
                    drop(turn);
                }
            }
        }
    }

    /// Whether a normal writer steps back: an urgent one waits and has not yet overtaken too often.
    fn must_yield(&self) -> bool {
        self.urgent_waiting.load(Ordering::SeqCst) > 0
            && self.overtakes.load(Ordering::SeqCst) < MAX_OVERTAKES
    }
}

/// Decrements a waiting count when dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn urgent_writers_overtake_queued_normal_ones() {
        let gate = Arc::new(WriteGate::new());
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = gate.enter(Urgency::Normal).await;
        let mut waiting = Vec::new();
        for (name, urgency) in [
            ("normal 1", Urgency::Normal),
            ("normal 2", Urgency::Normal),
            ("urgent 1", Urgency::Urgent),
            ("urgent 2", Urgency::Urgent),
        ] {
            let (gate, order) = (Arc::clone(&gate), Arc::clone(&order));
            waiting.push(tokio::spawn(async move {
                let _turn = gate.enter(urgency).await;
                order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }));
            // Each writer is queued before the next one arrives.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(first);
        for task in waiting {
            task.await.unwrap();
        }
        let order = order.lock().unwrap();
        assert_eq!(order[..2], ["urgent 1", "urgent 2"], "{order:?}");
        assert_eq!(order.len(), 4, "{order:?}");
    }

    #[tokio::test]
    async fn a_normal_writer_gets_in_while_urgent_writers_keep_coming() {
        // Two urgent writers take turns without pause, so one of them is always waiting; a bounded number
        // of turns each.
        const TURNS: usize = 200;
        let gate = Arc::new(WriteGate::new());
        let urgent_turns = Arc::new(AtomicUsize::new(0));
        let mut flood = Vec::new();
        for _ in 0..2 {
            let (gate, urgent_turns) = (Arc::clone(&gate), Arc::clone(&urgent_turns));
            flood.push(tokio::spawn(async move {
                for _ in 0..TURNS {
                    let _turn = gate.enter(Urgency::Urgent).await;
                    urgent_turns.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }));
        }
        wait_for_turns(&urgent_turns, 10).await;
        let arrived = urgent_turns.load(Ordering::SeqCst);
        let turn = gate.enter(Urgency::Normal).await;
        let overtaken = urgent_turns.load(Ordering::SeqCst) - arrived;
        drop(turn);
        assert!(
            overtaken <= MAX_OVERTAKES + 2,
            "urgent writers went ahead {overtaken} times (flood of {} turns)",
            2 * TURNS
        );
        // And again once it has had its turn: the count starts over.
        let arrived = urgent_turns.load(Ordering::SeqCst);
        let turn = gate.enter(Urgency::Normal).await;
        let overtaken = urgent_turns.load(Ordering::SeqCst) - arrived;
        drop(turn);
        assert!(overtaken <= MAX_OVERTAKES + 2, "second time: {overtaken}");
        assert!(
            urgent_turns.load(Ordering::SeqCst) < 2 * TURNS,
            "the normal writer only got in after the flood"
        );
        for task in flood {
            task.await.unwrap();
        }
    }

    async fn wait_for_turns(turns: &AtomicUsize, at_least: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while turns.load(Ordering::SeqCst) < at_least {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_lone_writer_enters_at_once() {
        let gate = WriteGate::new();
        for urgency in [Urgency::Normal, Urgency::Urgent, Urgency::Normal] {
            let turn = tokio::time::timeout(Duration::from_secs(1), gate.enter(urgency)).await;
            assert!(matches!(turn, Ok(Some(_))), "{urgency:?}");
        }
    }
}
