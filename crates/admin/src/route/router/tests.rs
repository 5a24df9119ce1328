use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;

use xjob_protocol::Envelope;

use super::*;

/// Hands out scripted numbers in order and records each bound it was asked for.
struct Scripted {
    numbers: Mutex<VecDeque<u32>>,
    bounds: Mutex<Vec<u32>>,
}

impl Scripted {
    fn new(numbers: &[u32]) -> Arc<Scripted> {
        Arc::new(Scripted {
            numbers: Mutex::new(numbers.iter().copied().collect()),
            bounds: Mutex::new(Vec::new()),
        })
    }
}

impl RandomSource for Scripted {
    fn below(&self, bound: u32) -> u32 {
        self.bounds.lock().unwrap().push(bound);
        let number = self
            .numbers
            .lock()
            .unwrap()
            .pop_front()
            .expect("the script has another number");
        assert!(number < bound, "scripted {number} is not below {bound}");
        number
    }
}

const A: &str = "http://10.0.0.1:9999/";
const B: &str = "http://10.0.0.2:9999/";
const C: &str = "http://10.0.0.3:9999/";
const D: &str = "http://10.0.0.4:9999/";
const ABC: &[&str] = &[A, B, C];
const DAY: i64 = 24 * 60 * 60 * 1000;
const T0: i64 = 1_781_856_000_000;

/// One routing call: (job id, address list, now, expected address).
type Step = (i32, &'static [&'static str], i64, &'static str);

/// Runs `steps` in order on one fresh router whose random source yields `random`, all of which must be
/// used, and checks each chosen address.
fn check(strategy: RouteStrategy, random: &[u32], steps: &[Step]) {
    let scripted = Scripted::new(random);
    let router = Router::with_random(scripted.clone());
    for (number, &(job, list, now, expected)) in steps.iter().enumerate() {
        let addresses: Vec<String> = list.iter().map(|address| (*address).to_owned()).collect();
        let chosen = router.pick(strategy, JobId(job), &addresses, now);
        assert_eq!(
            chosen,
            Ok(expected),
            "{strategy} step {number}: job {job} at {now}"
        );
    }
    let left = scripted.numbers.lock().unwrap().len();
    assert_eq!(left, 0, "{strategy}: {left} scripted numbers unused");
}

#[test]
fn first_and_last() {
    check(
        RouteStrategy::First,
        &[],
        &[(1, ABC, T0, A), (2, &[C], T0, C), (1, &[B, A], T0, B)],
    );
    check(
        RouteStrategy::Last,
        &[],
        &[(1, ABC, T0, C), (2, &[C], T0, C), (1, &[B, A], T0, A)],
    );
}

#[test]
fn round_walks_from_a_random_start_per_job() {
    check(
        RouteStrategy::Round,
        &[5, 99, 0, 50],
        &[
            (1, ABC, T0, C),           // start 5 → 5 mod 3 = 2
            (1, ABC, T0 + 1, A),       // 6
            (2, ABC, T0 + 2, A),       // job 2 starts at 99 → 0
            (1, ABC, T0 + 3, B),       // 7
            (1, &[A, B], T0 + 4, A),   // 8 over a shorter list
            (2, ABC, T0 + DAY, B),     // 100; the deadline itself is still valid
            (1, ABC, T0 + DAY + 1, A), // past the day: every counter dropped, job 1 restarts at 0
            (2, ABC, T0 + DAY + 2, C), // and job 2 at 50
        ],
    );
}

#[test]
fn round_counter_restarts_past_the_limit() {
    // (previous counter, random number, expected next counter)
    let table = [
        (None, 42, 42),
        (Some(0), 7, 1),
        (Some(999_999), 7, 1_000_000),
        (Some(1_000_000), 7, 1_000_001),
        (Some(1_000_001), 7, 7),
        (Some(u32::MAX), 3, 3),
    ];
    for (previous, random, expected) in table {
        let scripted = Scripted::new(&[random]);
        assert_eq!(next_round(previous, &*scripted), expected, "{previous:?}");
        let asked = scripted.bounds.lock().unwrap().clone();
        let expected_bounds: &[u32] = if expected == random { &[100] } else { &[] };
        assert_eq!(asked, expected_bounds, "{previous:?}");
    }
}

#[test]
fn random_picks_the_drawn_index() {
    check(
        RouteStrategy::Random,
        &[2, 0, 1, 0],
        &[
            (1, ABC, T0, C),
            (1, ABC, T0, A),
            (7, ABC, T0, B),
            (7, &[D], T0, D),
        ],
    );
}

#[test]
fn consistent_hash_matches_independent_values() {
    // Expected addresses computed independently with Python's hashlib over the same ring definition.
    check(
        RouteStrategy::ConsistentHash,
        &[],
        &[
            (0, ABC, T0, B),
            (1, ABC, T0, C),
            (2, ABC, T0, C),
            (3, ABC, T0, A),
            (12, ABC, T0, A),
            (100, ABC, T0, C),
            (9999, ABC, T0, B),
            (-5, ABC, T0, B),
            (i32::MAX, ABC, T0, B),
            (1, &[A, B], T0, A),
            (2, &[A, B], T0, A),
            (100, &[A, B], T0, A),
            (9999, &[A, B], T0, B),
            (0, &[A, B], T0, B),
            (12, &["http://127.0.0.1:8081"], T0, "http://127.0.0.1:8081"),
        ],
    );
}

#[test]
fn least_frequently_used_counts_per_job() {
    check(
        RouteStrategy::LeastFrequentlyUsed,
        &[2, 0, 1, 1, 0, 2],
        &[
            (1, ABC, T0, B),        // counts a=2 b=0 c=1 → b
            (1, ABC, T0, B),        // a=2 b=1 c=1 → b (tie goes to the earlier address)
            (1, ABC, T0, C),        // a=2 b=2 c=1 → c
            (1, ABC, T0, A),        // a=2 b=2 c=2 → a
            (2, &[A, B], T0, B),    // job 2: a=1 b=0
            (1, &[A, C, D], T0, C), // b forgotten, d new: a=3 c=2 d=2 → c
            (1, &[A, C, D], T0, D), // a=3 c=3 d=2 → d
        ],
    );
}

#[test]
fn least_recently_used_follows_access_order() {
    check(
        RouteStrategy::LeastRecentlyUsed,
        &[],
        &[
            (1, ABC, T0, A),
            (1, ABC, T0, B),
            (2, ABC, T0, A), // job 2 has its own order
            (1, ABC, T0, C),
            (1, ABC, T0, A),
            // order is now b, c, a; b leaves, d joins at the young end: c, a, d
            (1, &[D, C, A], T0, C),
            (1, &[D, C, A], T0, A),
            (1, &[D, C, A], T0, D),
            (1, &[D, C, A], T0 + DAY + 1, D), // past the day: a fresh order in list order
            (1, &[D, C, A], T0 + DAY + 1, C),
        ],
    );
}

#[test]
fn empty_lists_and_unrouted_strategies() {
    let router = Router::with_random(Scripted::new(&[]));
    for &strategy in <RouteStrategy as xjob_protocol::WireEnum>::ALL {
        let expected = match strategy {
            RouteStrategy::Failover | RouteStrategy::Busyover | RouteStrategy::ShardingBroadcast => {
                Err(RouteFailure::NotRouted(strategy))
            }
            _ => Err(RouteFailure::NoAddress),
        };
        let addresses = if expected == Err(RouteFailure::NoAddress) {
            vec![]
        } else {
            vec![A.to_owned()]
        };
        assert_eq!(
            router.pick(strategy, JobId(1), &addresses, T0),
            expected,
            "{strategy}"
        );
    }
}

#[test]
fn shard_addresses() {
    let addresses: Vec<String> = ABC.iter().map(|address| (*address).to_owned()).collect();
    // (index, expected)
    let table = [
        (0, Some(A)),
        (1, Some(B)),
        (2, Some(C)),
        (3, Some(A)),
        (usize::MAX, Some(A)),
    ];
    for (index, expected) in table {
        assert_eq!(shard_address(&addresses, index), expected, "{index}");
    }
    assert_eq!(shard_address(&[], 0), None);
}

/// Answers probes from a fixed table of (address, code, msg); records the calls.
struct TableProbe {
    replies: Vec<(&'static str, i32, Option<&'static str>)>,
    calls: Mutex<Vec<String>>,
}

impl TableProbe {
    fn answer(&self, call: String, address: &str) -> Envelope<String> {
        self.calls.lock().unwrap().push(call);
        let (_, code, msg) = self
            .replies
            .iter()
            .find(|(listed, _, _)| *listed == address)
            .expect("every probed address has a reply");
        Envelope {
            code: *code,
            msg: msg.map(str::to_owned),
            data: None,
        }
    }
}

impl Probe for TableProbe {
    fn beat<'a>(&'a self, address: &'a str) -> impl Future<Output = Envelope<String>> + Send + 'a {
        let reply = self.answer(format!("beat {address}"), address);
        async move { reply }
    }

    fn idle_beat<'a>(
        &'a self,
        address: &'a str,
        job_id: JobId,
    ) -> impl Future<Output = Envelope<String>> + Send + 'a {
        let reply = self.answer(format!("idleBeat {job_id} {address}"), address);
        async move { reply }
    }
}

fn attempt(kind: ProbeKind, address: &str, code: i32, msg: Option<&str>) -> ProbeAttempt {
    ProbeAttempt {
        kind,
        address: address.to_owned(),
        code,
        msg: msg.map(str::to_owned),
    }
}

#[tokio::test]
async fn failover_and_busyover_probe_in_order() {
    let probe = TableProbe {
        replies: vec![
            (A, 500, Some("connection refused")),
            (B, 500, Some("job thread is running or has trigger queue.")),
            (C, 200, None),
            (D, 500, None),
        ],
        calls: Mutex::new(Vec::new()),
    };
    let router = Router::with_random(Scripted::new(&[]));
    let list = |addresses: &[&str]| addresses.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();

    let addresses = list(ABC);
    let routed = router
        .route(RouteStrategy::Failover, JobId(4), &addresses, T0, &probe)
        .await;
    assert_eq!(
        routed,
        Ok(Routed {
            address: C,
            probes: vec![
                attempt(ProbeKind::Beat, A, 500, Some("connection refused")),
                attempt(
                    ProbeKind::Beat,
                    B,
                    500,
                    Some("job thread is running or has trigger queue.")
                ),
                attempt(ProbeKind::Beat, C, 200, None),
            ],
        })
    );

    let addresses = list(&[D, C]);
    let routed = router
        .route(RouteStrategy::Busyover, JobId(4), &addresses, T0, &probe)
        .await;
    assert_eq!(
        routed,
        Ok(Routed {
            address: C,
            probes: vec![
                attempt(ProbeKind::IdleBeat, D, 500, None),
                attempt(ProbeKind::IdleBeat, C, 200, None),
            ],
        })
    );

    let addresses = list(&[A, D]);
    let failed = router
        .route(RouteStrategy::Failover, JobId(4), &addresses, T0, &probe)
        .await;
    assert_eq!(
        failed,
        Err(RouteFailure::ProbesFailed(vec![
            attempt(ProbeKind::Beat, A, 500, Some("connection refused")),
            attempt(ProbeKind::Beat, D, 500, None),
        ]))
    );

    let failed = router
        .route(RouteStrategy::Busyover, JobId(4), &[], T0, &probe)
        .await;
    assert_eq!(failed, Err(RouteFailure::NoAddress));

    // Other strategies never probe.
    let addresses = list(ABC);
    let routed = router
        .route(RouteStrategy::Last, JobId(4), &addresses, T0, &probe)
        .await;
    assert_eq!(
        routed,
        Ok(Routed {
            address: C,
            probes: vec![]
        })
    );

    let calls = probe.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            format!("beat {A}"),
            format!("beat {B}"),
            format!("beat {C}"),
            format!("idleBeat 4 {D}"),
            format!("idleBeat 4 {C}"),
            format!("beat {A}"),
            format!("beat {D}"),
        ]
    );
}
