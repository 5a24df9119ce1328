//! The routing strategy enum with its upstream spellings (`executor_route_strategy`) and English titles.
//!
//! How each strategy decides lives in the router; this file only names them.

use std::fmt;
use std::str::FromStr;

use xjob_protocol::WireEnum;

/// A job's routing strategy, spelled on the wire and in the database as upstream's enum constant names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteStrategy {
    /// `FIRST`: the first address of the list.
    First,
    /// `LAST`: the last address.
    Last,
    /// `ROUND`: a per-job counter walks the list, starting at a random offset.
    Round,
    /// `RANDOM`: a uniformly random address.
    Random,
    /// `CONSISTENT_HASH`: the job id's place on a ring of 100 virtual nodes per address.
    ConsistentHash,
    /// `LEAST_FREQUENTLY_USED`: the address this job used least often.
    LeastFrequentlyUsed,
    /// `LEAST_RECENTLY_USED`: the address this job used longest ago.
    LeastRecentlyUsed,
    /// `FAILOVER`: the first address whose `/beat` succeeds.
    Failover,
    /// `BUSYOVER`: the first address whose `/idleBeat` for the job succeeds.
    Busyover,
    /// `SHARDING_BROADCAST`: one trigger per address, handled by the trigger procedure, not routed.
    ShardingBroadcast,
}

/// A strategy name that matches no [`RouteStrategy`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown routing strategy `{0}`")]
pub struct UnknownRouteStrategy(pub String);

impl RouteStrategy {
    /// The English title the console shows and the trigger message prints.
    pub fn title(self) -> &'static str {
        match self {
            RouteStrategy::First => "First",
            RouteStrategy::Last => "Last",
            RouteStrategy::Round => "Round",
            RouteStrategy::Random => "Random",
            RouteStrategy::ConsistentHash => "Consistent Hash",
            RouteStrategy::LeastFrequentlyUsed => "Least Frequently Used",
            RouteStrategy::LeastRecentlyUsed => "Least Recently Used",
            RouteStrategy::Failover => "Failover",
            RouteStrategy::Busyover => "Busyover",
            RouteStrategy::ShardingBroadcast => "Sharding Broadcast",
        }
    }
}

impl WireEnum for RouteStrategy {
    const ALL: &'static [Self] = &[
        RouteStrategy::First,
        RouteStrategy::Last,
        RouteStrategy::Round,
        RouteStrategy::Random,
        RouteStrategy::ConsistentHash,
        RouteStrategy::LeastFrequentlyUsed,
        RouteStrategy::LeastRecentlyUsed,
        RouteStrategy::Failover,
        RouteStrategy::Busyover,
        RouteStrategy::ShardingBroadcast,
    ];

    fn wire_name(self) -> &'static str {
        match self {
            RouteStrategy::First => "FIRST",
            RouteStrategy::Last => "LAST",
            RouteStrategy::Round => "ROUND",
            RouteStrategy::Random => "RANDOM",
            RouteStrategy::ConsistentHash => "CONSISTENT_HASH",
            RouteStrategy::LeastFrequentlyUsed => "LEAST_FREQUENTLY_USED",
            RouteStrategy::LeastRecentlyUsed => "LEAST_RECENTLY_USED",
            RouteStrategy::Failover => "FAILOVER",
            RouteStrategy::Busyover => "BUSYOVER",
            RouteStrategy::ShardingBroadcast => "SHARDING_BROADCAST",
        }
    }
}

impl fmt::Display for RouteStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

impl FromStr for RouteStrategy {
    type Err = UnknownRouteStrategy;

    /// Exact, case-sensitive match, as upstream's `ExecutorRouteStrategyEnum.match`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        RouteStrategy::from_wire_name(name).ok_or_else(|| UnknownRouteStrategy(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_and_titles() {
        use RouteStrategy::*;
        fn check(strategy: RouteStrategy, wire: &str, title: &str) {
            assert_eq!(strategy.to_string(), wire);
            assert_eq!(wire.parse::<RouteStrategy>(), Ok(strategy));
            assert_eq!(strategy.title(), title);
        }
        check(First, "FIRST", "First");
        check(Last, "LAST", "Last");
        check(Round, "ROUND", "Round");
        check(Random, "RANDOM", "Random");
        check(ConsistentHash, "CONSISTENT_HASH", "Consistent Hash");
        check(
            LeastFrequentlyUsed,
            "LEAST_FREQUENTLY_USED",
            "Least Frequently Used",
        );
        check(LeastRecentlyUsed, "LEAST_RECENTLY_USED", "Least Recently Used");
        check(Failover, "FAILOVER", "Failover");
        check(Busyover, "BUSYOVER", "Busyover");
        check(ShardingBroadcast, "SHARDING_BROADCAST", "Sharding Broadcast");
        assert_eq!(RouteStrategy::ALL.len(), 10);
    }

    #[test]
    fn unknown_names_are_errors() {
        for name in ["first", "ROUND ", "", "SHARDING"] {
            let error = name.parse::<RouteStrategy>().unwrap_err();
            assert_eq!(error.to_string(), format!("unknown routing strategy `{name}`"));
        }
    }
}
