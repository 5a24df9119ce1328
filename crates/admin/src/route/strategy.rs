//! The routing strategies' English titles and parsing. The enum itself and its upstream spellings
//! (`executor_route_strategy`) are the domain type [`RouteStrategy`] of `model`, so each spelling lives once.
//!
//! How each strategy decides lives in the router; this file only names them.

use std::str::FromStr;

use xjob_protocol::WireEnum;

pub use crate::model::RouteStrategy;

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
