//! When jobs fire. [`next`] computes a job's fire times from its schedule and zone; it is shared by the
//! scheduler and by job operations (start, edit, "next N fire times"). [`Scheduler`] turns stored
//! schedules into [`crate::trigger::TriggerRequest`]s at their planned millisecond. How a fire reaches an
//! executor is the trigger pipeline's business, not this module's.
//!
//! # How the scheduler works
//!
//! A *pass* takes the cluster lock ([`crate::store::Store::lock_schedule`]), reads the running jobs due
//! within the look-ahead window (`trigger_next_time <= now + window`, in pages), decides for each job
//! every fire inside the window plus its new next time (misfire and late rules as upstream; the job's
//! zone, else the admin's), writes all new schedules in batched statements and commits. Only then are
//! the claimed fires handed to an in-memory timer, which sleeps until the earliest planned millisecond
//! and submits every fire due by then to the [`crate::trigger::TriggerQueue`] in one go. In the same
//! transaction the pass also claims the planned triggers (one-off MANUAL triggers asked for through the
//! job API, table `xjob_planned_trigger`) due within the window by deleting their rows; they wait in the
//! same timer and fire at their millisecond, or at once when found late (with a warning: they are
//! never skipped as a misfired schedule may be). The next pass
//! starts a fifth of a window before the current window ends, or at once when
//! [`SchedulerHandle::wake`] is called (a job was started or edited) or a page came back full.
//!
//! # Guarantees
//!
//! * **No fire twice, across admins and restarts.** A fire is claimed by the commit that moves the job's
//!   `trigger_next_time` past it; passes of every admin on the database are serialised by the cluster
//!   lock and each reads only fires not yet moved past. So each `(job, planned ms)` is claimed by at
//!   most one pass of one admin, whatever the admins' clocks say. A planned trigger is claimed by the
//!   commit that deletes its row, so it too is claimed by one pass of one admin only.
//! * **Graceful shutdown loses nothing.** [`SchedulerHandle::shutdown`] stops passing, submits the fires
//!   already due, and hands the other claimed fires back: under the lock, each job's `trigger_next_time`
//!   rewinds to its earliest unfired time, but only where the row still holds the value the claim stored
//!   (a job stopped, edited or re-claimed since keeps its newer state). The next pass of any admin, or of
//!   a restarted one, claims them again. Unfired planned triggers are inserted back with their ids in
//!   the same transaction. Fires whose rewind did not apply still belong to this admin
//!   alone and fire on time before `shutdown` returns (at most one window later). If the commit of the
//!   hand-back itself fails, whether it was stored is unknown, and those fires are dropped with an error
//!   line rather than risk firing twice.
//! * **A crash loses at most one window.** Fires claimed by a process that dies before their planned time
//!   are not fired by anyone: up to one window (5 s by default) of fires, the same exposure as upstream's
//!   in-memory time ring. They are never fired twice. A durable record per claimed fire would close the
//!   gap at the price of a write per fire on the hot path; it is deliberately not made.
//! * Like upstream, fires already claimed still go out when a job is stopped or edited during the
//!   window; they are at most one window old. Likewise a planned trigger can no longer be cancelled
//!   once claimed.
//!
//! # SQLite
//!
//! SQLite has no row locks; the lock statement is a write to the lock row, which takes the database's
//! write lock until commit. Passes of several admin processes on one SQLite file (WAL mode, busy
//! timeout) are therefore serialised exactly like MySQL/PostgreSQL `SELECT … FOR UPDATE`, and the
//! guarantees above hold there too (for processes on one host: SQLite locks do not work over network
//! file systems).

mod claim;
mod next;
mod scheduler;
mod timer;

pub use next::{FireTimeError, START_DELAY_MS, fire_times, first_fire_after, next_fire_after};
pub use scheduler::{Scheduler, SchedulerHandle, SchedulerOptions, SchedulerStats, SchedulerWaker};
