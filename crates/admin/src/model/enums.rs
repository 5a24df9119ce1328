//! The admin-only enums: schedule type, misfire and routing strategies (stored as upstream's Java constant
//! names) and the small integer codes (address type, trigger status, alarm status, user role).
//!
//! The string enums implement [`WireEnum`], so `from_wire_name`/`wire_name` are the one place each
//! spelling lives; the integer enums convert with `code`/`from_code`.

use std::fmt;

use xjob_protocol::WireEnum;

macro_rules! upstream_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl WireEnum for $name {
            const ALL: &'static [Self] = &[$( $name::$variant, )+];

            fn wire_name(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.wire_name())
            }
        }
    };
}

macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($int:ty) {
            $( $(#[$variant_meta:meta])* $variant:ident = $code:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every value, in upstream order.
            pub const ALL: &'static [Self] = &[$( $name::$variant, )+];

            /// The stored integer.
            pub fn code(self) -> $int {
                match self {
                    $( $name::$variant => $code, )+
                }
            }

            /// The value stored as `code`, if it is one upstream defines.
            pub fn from_code(code: $int) -> Option<Self> {
                match code {
                    $( $code => Some($name::$variant), )+
                    _ => None,
                }
            }
        }
    };
}

upstream_enum! {
    /// How a job's fire times are computed (`schedule_type`). Upstream has no `FIX_DELAY`.
    pub enum ScheduleType {
        /// Never fires by itself; manual, API and parent triggers still work.
        None = "NONE",
        /// A Quartz cron expression in `schedule_conf`.
        Cron = "CRON",
        /// Every `schedule_conf` seconds.
        FixRate = "FIX_RATE",
    }
}

upstream_enum! {
    /// What the scheduler does with a job found more than five seconds late (`misfire_strategy`).
    pub enum MisfireStrategy {
        /// Skip the missed fire (also what an unknown value does).
        DoNothing = "DO_NOTHING",
        /// Fire once now, then continue with the regular cadence.
        FireOnceNow = "FIRE_ONCE_NOW",
    }
}

upstream_enum! {
    /// How the admin picks an executor address for a trigger (`executor_route_strategy`).
    pub enum RouteStrategy {
        /// The first address of the sorted list.
        First = "FIRST",
        /// The last address.
        Last = "LAST",
        /// A per-job round robin.
        Round = "ROUND",
        /// A uniformly random address.
        Random = "RANDOM",
        /// The MD5 hash ring with 100 virtual nodes per address.
        ConsistentHash = "CONSISTENT_HASH",
        /// The address used least often for the job.
        LeastFrequentlyUsed = "LEAST_FREQUENTLY_USED",
        /// The address used least recently for the job.
        LeastRecentlyUsed = "LEAST_RECENTLY_USED",
        /// The first address answering `/beat`.
        Failover = "FAILOVER",
        /// The first address answering `/idleBeat` with idle.
        Busyover = "BUSYOVER",
        /// One trigger per address with shard parameters.
        ShardingBroadcast = "SHARDING_BROADCAST",
    }
}

code_enum! {
    /// How a group's address list is maintained (`address_type`).
    pub enum AddressType (i16) {
        /// Rewritten from live registrations every 30 s.
        Automatic = 0,
        /// Typed by the user.
        Manual = 1,
    }
}

code_enum! {
    /// Whether the scheduler fires a job (`trigger_status`).
    pub enum TriggerStatus (i16) {
        /// Not scheduled.
        Stopped = 0,
        /// Scheduled.
        Running = 1,
    }
}

code_enum! {
    /// Progress of the fail-retry and alarm monitor on one log (`alarm_status`).
    pub enum AlarmStatus (i16) {
        /// Not examined yet; successful and running logs stay here.
        Default = 0,
        /// Claimed by one admin node while it retries and alarms.
        Locked = -1,
        /// The job no longer exists.
        NotNeeded = 1,
        /// Every alarm channel succeeded (or none was configured).
        Sent = 2,
        /// At least one alarm channel failed.
        Failed = 3,
    }
}

code_enum! {
    /// A console user's role (`role`).
    pub enum UserRole (i16) {
        /// May manage the groups listed in the user's permission.
        Normal = 0,
        /// May manage everything.
        Admin = 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<T: WireEnum>() -> Vec<&'static str> {
        T::ALL.iter().map(|value| value.wire_name()).collect()
    }

    #[test]
    fn upstream_spellings() {
        assert_eq!(names::<ScheduleType>(), ["NONE", "CRON", "FIX_RATE"]);
        assert_eq!(names::<MisfireStrategy>(), ["DO_NOTHING", "FIRE_ONCE_NOW"]);
        assert_eq!(
            names::<RouteStrategy>(),
            [
                "FIRST",
                "LAST",
                "ROUND",
                "RANDOM",
                "CONSISTENT_HASH",
                "LEAST_FREQUENTLY_USED",
                "LEAST_RECENTLY_USED",
                "FAILOVER",
                "BUSYOVER",
                "SHARDING_BROADCAST"
            ]
        );
        assert_eq!(RouteStrategy::from_wire_name("FIX_DELAY"), None);
        assert_eq!(ScheduleType::from_wire_name("FIX_DELAY"), None);
    }

    #[test]
    fn integer_codes_round_trip() {
        for status in AlarmStatus::ALL {
            assert_eq!(AlarmStatus::from_code(status.code()), Some(*status));
        }
        assert_eq!(AlarmStatus::Locked.code(), -1);
        assert_eq!(AlarmStatus::from_code(4), None);
        assert_eq!(TriggerStatus::from_code(1), Some(TriggerStatus::Running));
        assert_eq!(AddressType::from_code(1), Some(AddressType::Manual));
        assert_eq!(UserRole::from_code(2), None);
    }
}
