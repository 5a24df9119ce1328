//! The order in which SQLite writers get the one writer connection.
//!
//! Writes on SQLite are serialised anyway (one write lock per database). What matters is who waits: an
//! executor's callback is answered only once its results are stored, and the executor sends its next
//! batch only after that answer, so every millisecond a result write spends queued behind a large
//! trigger-row insert or trigger-result update caps the rate at which results come back. Results
//! therefore go first: an [`Urgency::Urgent`] writer is let in before every [`Urgency::Normal`] one
//! that has not started yet; otherwise writers go in arrival order. Normal writers can
//! only be held back while urgent ones keep arriving, and urgent writes are bounded by what executors
//! send, which in turn waits for triggers, so the trigger side always gets its turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

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
}

/// The right to write, held until dropped.
pub(crate) type Turn = Option<OwnedSemaphorePermit>;

impl WriteGate {
    pub(crate) fn new() -> WriteGate {
        WriteGate {
            turn: Arc::new(Semaphore::new(1)),
            urgent_waiting: AtomicUsize::new(0),
            urgent_in: Notify::new(),
        }
    }

    /// Waits for this writer's turn.
    pub(crate) async fn enter(&self, urgency: Urgency) -> Turn {
        match urgency {
            Urgency::Urgent => {
                self.urgent_waiting.fetch_add(1, Ordering::SeqCst);
                let turn = Arc::clone(&self.turn).acquire_owned().await.ok();
                self.urgent_waiting.fetch_sub(1, Ordering::SeqCst);
                self.urgent_in.notify_waiters();
                turn
            }
            Urgency::Normal => loop {
                let urgent_in = self.urgent_in.notified();
                tokio::pin!(urgent_in);
                // Registered before the check, so an urgent writer getting in between is not missed.
                urgent_in.as_mut().enable();
                if self.urgent_waiting.load(Ordering::SeqCst) > 0 {
                    urgent_in.await;
                    continue;
                }
                let turn = Arc::clone(&self.turn).acquire_owned().await.ok();
                if self.urgent_waiting.load(Ordering::SeqCst) == 0 {
                    return turn;
                }
                // An urgent writer queued while this one waited: the semaphore serves in order, so
                // giving the turn back hands it to the urgent one.
                drop(turn);
            },
        }
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
    async fn a_lone_writer_enters_at_once() {
        let gate = WriteGate::new();
        for urgency in [Urgency::Normal, Urgency::Urgent, Urgency::Normal] {
            let turn = tokio::time::timeout(Duration::from_secs(1), gate.enter(urgency)).await;
            assert!(matches!(turn, Ok(Some(_))), "{urgency:?}");
        }
    }
}
