//! The [`Router`]: one per admin, holding the in-memory state of ROUND, LEAST_FREQUENTLY_USED and
//! LEAST_RECENTLY_USED and the consistent-hash rings, plus the FAILOVER and BUSYOVER probe loop.
//!
//! The state is per admin node and lost on restart, as upstream's. It is split into shards by job id so
//! that concurrent triggers of different jobs rarely wait for each other; each shard's lock is held only
//! for a few integer operations.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rand::Rng;
use xjob_protocol::JobId;

use crate::route::hash::RingCache;
use crate::route::{Probe, ProbeAttempt, ProbeKind, RouteStrategy};

/// Chooses executor addresses for triggers. Cheap to share (`Arc<Router>`); every method takes `&self`.
pub struct Router {
    random: Arc<dyn RandomSource>,
    rounds: JobStates<u32>,
    frequencies: JobStates<Frequencies>,
    recencies: JobStates<Recencies>,
    rings: RingCache,
}

/// Where random numbers come from, so tests can script them.
pub trait RandomSource: Send + Sync {
    /// A uniformly distributed integer in `0..bound`; `bound` is at least 1.
    fn below(&self, bound: u32) -> u32;
}

/// The production [`RandomSource`]: the thread-local generator of the `rand` crate, which needs no lock.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadRandom;

/// A successful routing decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routed<'a> {
    /// The chosen address, borrowed from the list routed over.
    pub address: &'a str,
    /// The probes FAILOVER or BUSYOVER made on the way, in order; empty for the other strategies.
    pub probes: Vec<ProbeAttempt>,
}

/// Why no address was chosen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteFailure {
    /// The address list is empty.
    #[error("the executor address list is empty")]
    NoAddress,
    /// FAILOVER or BUSYOVER: every address failed its probe; the attempts in list order.
    #[error("every executor address failed its probe")]
    ProbesFailed(Vec<ProbeAttempt>),
    /// The strategy does not choose one address here: SHARDING_BROADCAST (see [`shard_address`]), or a
    /// probing strategy passed to [`Router::pick`] instead of [`Router::route`].
    #[error("routing strategy {0} does not choose an address here")]
    NotRouted(RouteStrategy),
}

/// The address of shard `index` under SHARDING_BROADCAST: the `index`-th address, or the first when the
/// list has shrunk below the shard count since the broadcast started; `None` for an empty list.
pub fn shard_address(addresses: &[String], index: usize) -> Option<&str> {
    addresses
        .get(index)
        .or_else(|| addresses.first())
        .map(String::as_str)
}

/// How long the per-job state lives before the whole map is dropped (upstream's `CACHE_VALID_TIME`).
const STATE_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;

/// A ROUND counter or LEAST_FREQUENTLY_USED count above this starts over at a random value.
const COUNT_LIMIT: u32 = 1_000_000;

/// ROUND starts each job at a random counter below this, so jobs do not all begin on the first address.
const ROUND_START_BOUND: u32 = 100;

/// Shards of each per-job map; a power of two comfortably above the number of cores.
const SHARDS: usize = 64;

impl Router {
    /// A router drawing random numbers from [`ThreadRandom`].
    pub fn new() -> Router {
        Router::with_random(Arc::new(ThreadRandom))
    }

    /// A router drawing random numbers from `random`.
    pub fn with_random(random: Arc<dyn RandomSource>) -> Router {
        Router {
            random,
            rounds: JobStates::new(),
            frequencies: JobStates::new(),
            recencies: JobStates::new(),
            rings: RingCache::default(),
        }
    }

    /// Routes one trigger of `job_id` over `addresses` at `now` (epoch milliseconds), probing executors
    /// through `probe` for FAILOVER and BUSYOVER.
    pub async fn route<'a, P: Probe + Sync>(
        &self,
        strategy: RouteStrategy,
        job_id: JobId,
        addresses: &'a [String],
        now: i64,
        probe: &P,
    ) -> Result<Routed<'a>, RouteFailure> {
        match strategy {
            RouteStrategy::Failover => probe_in_order(ProbeKind::Beat, job_id, addresses, probe).await,
            RouteStrategy::Busyover => probe_in_order(ProbeKind::IdleBeat, job_id, addresses, probe).await,
            _ => self.pick(strategy, job_id, addresses, now).map(|address| Routed {
                address,
                probes: Vec::new(),
            }),
        }
    }

    /// Chooses an address without calling any executor: every strategy except FAILOVER, BUSYOVER and
    /// SHARDING_BROADCAST, which give [`RouteFailure::NotRouted`].
    pub fn pick<'a>(
        &self,
        strategy: RouteStrategy,
        job_id: JobId,
        addresses: &'a [String],
        now: i64,
    ) -> Result<&'a str, RouteFailure> {
        if addresses.is_empty() {
            return Err(RouteFailure::NoAddress);
        }
        let index = match strategy {
            RouteStrategy::First => 0,
            RouteStrategy::Last => addresses.len() - 1,
            RouteStrategy::Round => self.round(job_id, addresses.len(), now),
            RouteStrategy::Random => self.random_below(addresses.len()),
            RouteStrategy::ConsistentHash => self.rings.pick(job_id, addresses),
            RouteStrategy::LeastFrequentlyUsed => self.frequencies.with(job_id, now, |state| {
                state.entry(job_id).or_default().pick(addresses, &*self.random)
            }),
            RouteStrategy::LeastRecentlyUsed => self.recencies.with(job_id, now, |state| {
                state.entry(job_id).or_default().pick(addresses)
            }),
            RouteStrategy::Failover | RouteStrategy::Busyover | RouteStrategy::ShardingBroadcast => {
                return Err(RouteFailure::NotRouted(strategy));
            }
        };
        // Every strategy yields an index below the length; falling back to the first address keeps a
        // future mistake from turning into a panic on the trigger path.
        Ok(addresses.get(index).unwrap_or(&addresses[0]))
    }

    fn round(&self, job_id: JobId, size: usize, now: i64) -> usize {
        let counter = self.rounds.with(job_id, now, |counters| {
            let previous = counters.get(&job_id).copied();
            let counter = next_round(previous, &*self.random);
            counters.insert(job_id, counter);
            counter
        });
        usize::try_from(counter).unwrap_or(0) % size
    }

    fn random_below(&self, size: usize) -> usize {
        let bound = u32::try_from(size).unwrap_or(u32::MAX);
        usize::try_from(self.random.below(bound)).unwrap_or(0)
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

impl RandomSource for ThreadRandom {
    fn below(&self, bound: u32) -> u32 {
        rand::thread_rng().gen_range(0..bound.max(1))
    }
}

/// FAILOVER and BUSYOVER: probe each address in list order; the first success wins.
async fn probe_in_order<'a, P: Probe + Sync>(
    kind: ProbeKind,
    job_id: JobId,
    addresses: &'a [String],
    probe: &P,
) -> Result<Routed<'a>, RouteFailure> {
    if addresses.is_empty() {
        return Err(RouteFailure::NoAddress);
    }
    let mut probes = Vec::new();
    for address in addresses {
        let reply = match kind {
            ProbeKind::Beat => probe.beat(address).await,
            ProbeKind::IdleBeat => probe.idle_beat(address, job_id).await,
        };
        let success = reply.is_success();
        probes.push(ProbeAttempt {
            kind,
            address: address.clone(),
            code: reply.code,
            msg: reply.msg,
        });
        if success {
            return Ok(Routed { address, probes });
        }
    }
    Err(RouteFailure::ProbesFailed(probes))
}

/// ROUND's next counter: a fresh random start for a new job or one past the limit, otherwise one more.
fn next_round(previous: Option<u32>, random: &dyn RandomSource) -> u32 {
    match previous {
        Some(counter) if counter <= COUNT_LIMIT => counter + 1,
        _ => random.below(ROUND_START_BOUND),
    }
}

/// A per-job map split into locked shards, dropped as a whole once a day.
struct JobStates<S> {
    /// Epoch milliseconds after which the next caller clears every shard; starts in the past.
    valid_until: AtomicI64,
    shards: Box<[Shard<S>]>,
}

/// One shard, aligned to its own cache lines so that neighbouring locks do not contend through false
/// sharing.
#[repr(align(128))]
struct Shard<S>(Mutex<HashMap<JobId, S>>);

impl<S> JobStates<S> {
    fn new() -> Self {
        JobStates {
            valid_until: AtomicI64::new(i64::MIN),
            shards: (0..SHARDS).map(|_| Shard(Mutex::new(HashMap::new()))).collect(),
        }
    }

    /// Runs `f` on the shard holding `job_id`, after dropping all state if its lifetime ran out.
    fn with<R>(&self, job_id: JobId, now: i64, f: impl FnOnce(&mut HashMap<JobId, S>) -> R) -> R {
        self.expire(now);
        let index = usize::try_from(job_id.0.rem_euclid(SHARDS as i32)).unwrap_or(0);
        let shard = &self.shards[index % SHARDS].0;
        // A panic while holding the lock can only leave a half-updated counter behind, which is as good
        // as any other routing state; keep serving rather than poison every later trigger.
        let mut state = shard.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }

    /// Upstream clears its whole map when `now` passes the deadline and sets the next deadline a day on.
    /// The compare-and-swap lets exactly one caller do the clearing.
    fn expire(&self, now: i64) {
        let deadline = self.valid_until.load(Ordering::Acquire);
        if now <= deadline {
            return;
        }
        let next = now.saturating_add(STATE_LIFETIME_MS);
        if self
            .valid_until
            .compare_exchange(deadline, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            for shard in &*self.shards {
                shard.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
            }
        }
    }
}

/// LEAST_FREQUENTLY_USED state of one job: the address list last routed over and a use count per entry.
#[derive(Default)]
struct Frequencies {
    addresses: Vec<String>,
    counts: Vec<u32>,
}

impl Frequencies {
    /// Upstream: addresses new to the job, or whose count passed the limit, start at a random count below
    /// the list size; addresses no longer listed are forgotten; the smallest count wins and grows by one.
    /// Ties go to the earlier address in the list (upstream leaves them to hash order).
    fn pick(&mut self, addresses: &[String], random: &dyn RandomSource) -> usize {
        let bound = u32::try_from(addresses.len()).unwrap_or(u32::MAX);
        if self.addresses != addresses {
            let counts = {
                let previous: HashMap<&str, u32> = self
                    .addresses
                    .iter()
                    .map(String::as_str)
                    .zip(self.counts.iter().copied())
                    .collect();
                addresses
                    .iter()
                    .map(|address| previous.get(address.as_str()).copied().unwrap_or(u32::MAX))
                    .collect()
            };
            self.counts = counts;
            self.addresses = addresses.to_vec();
        }
        for count in &mut self.counts {
            if *count > COUNT_LIMIT {
                *count = random.below(bound);
            }
        }
        let Some((index, _)) = self.counts.iter().enumerate().min_by_key(|&(_, count)| *count) else {
            return 0;
        };
        self.counts[index] += 1;
        index
    }
}

/// LEAST_RECENTLY_USED state of one job: the address list last routed over and its indices in access
/// order, least recently used first.
#[derive(Default)]
struct Recencies {
    addresses: Vec<String>,
    order: VecDeque<usize>,
}

impl Recencies {
    /// Upstream: append unseen addresses in list order, forget unlisted ones, then take the eldest entry and
    /// move it to the most recent end.
    fn pick(&mut self, addresses: &[String]) -> usize {
        if self.addresses != addresses {
            let order = {
                let positions: HashMap<&str, usize> = addresses
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(index, address)| (address.as_str(), index))
                    .collect();
                let mut placed = vec![false; addresses.len()];
                let mut order = VecDeque::with_capacity(addresses.len());
                let survivors = self
                    .order
                    .iter()
                    .filter_map(|&old| self.addresses.get(old))
                    .filter_map(|address| positions.get(address.as_str()).copied());
                for index in survivors.chain(0..addresses.len()) {
                    if !placed[index] {
                        placed[index] = true;
                        order.push_back(index);
                    }
                }
                order
            };
            self.order = order;
            self.addresses = addresses.to_vec();
        }
        let Some(eldest) = self.order.pop_front() else {
            return 0;
        };
        self.order.push_back(eldest);
        eldest
    }
}

#[cfg(test)]
mod tests;
