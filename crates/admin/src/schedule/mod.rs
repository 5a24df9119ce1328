//! When jobs fire. [`next`] computes a job's fire times from its schedule and zone; it is shared by the
//! scheduler loop and by job operations (start, edit, "next N fire times").

mod next;

pub use next::{FireTimeError, START_DELAY_MS, fire_times, first_fire_after, next_fire_after};
