//! Executor liveness: the [`RegistryMonitor`] (every 30 s: forget registrations silent for 90 s, rewrite
//! the address lists of automatic groups from the live ones, refresh the AppName → token cache the
//! executor API checks G3 credentials against, and the address → protocol generation directory), and the
//! [`LostResultDetector`] (every 60 s: executions whose executor vanished are recorded as failed).
//!
//! Both run a pass immediately at start and then on multiples of their period counted from the Unix epoch,
//! as upstream aligns them to wall-clock :00/:30; a failing pass is logged and the loop goes on. Writing
//! registrations is the executor API's; SQL is the store's.

mod cycle;
mod lost;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use xjob_protocol::{REGISTRY_BEAT_INTERVAL, REGISTRY_DEAD_TIMEOUT};

use crate::model::{AddressType, JobGroup};
use crate::store::{Store, StoreError};
use crate::trigger::ExecutorGenerations;

pub use lost::{LOST_RESULT_MESSAGE, LostResultDetector, LostResultOptions};

/// Each executor group's access token by AppName, as of the last refresh: what `/api/*` checks G3
/// credentials against. Cheap to clone; clones share the map.
#[derive(Clone, Debug, Default)]
pub struct GroupTokens {
    by_app_name: Arc<RwLock<HashMap<String, Option<String>>>>,
}

/// Settings of the [`RegistryMonitor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistryOptions {
    /// Time between passes (upstream 30 s).
    pub period: Duration,
    /// Silence after which a registration is deleted and its address leaves its group (upstream 90 s).
    pub dead_after: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            period: REGISTRY_BEAT_INTERVAL,
            dead_after: REGISTRY_DEAD_TIMEOUT,
        }
    }
}

/// The registry monitor; [`RegistryMonitor::pass`] runs one pass, [`RegistryMonitor::start`] the loop.
#[derive(Clone, Debug)]
pub struct RegistryMonitor {
    store: Store,
    generations: ExecutorGenerations,
    tokens: GroupTokens,
    options: RegistryOptions,
}

/// What one monitor pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryPass {
    /// Registrations deleted as dead.
    pub removed: u64,
    /// Automatic groups whose address list was rewritten.
    pub groups_updated: usize,
}

/// A running background loop; [`LoopHandle::shutdown`] stops it.
#[derive(Debug)]
pub struct LoopHandle {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl GroupTokens {
    /// An empty cache.
    pub fn new() -> GroupTokens {
        GroupTokens::default()
    }

    /// `Some(token)` when a group with this AppName is known (its token may be unset), `None` when no group
    /// has it.
    pub fn token(&self, app_name: &str) -> Option<Option<String>> {
        let map = self
            .by_app_name
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(app_name).cloned()
    }

    /// Records one group (a group read on a cache miss, or a newly saved one).
    pub fn insert(&self, group: &JobGroup) {
        let mut map = self
            .by_app_name
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.insert(group.app_name.clone(), group.access_token.clone());
    }

    /// Replaces the whole cache with `groups`.
    pub fn replace(&self, groups: &[JobGroup]) {
        let fresh: HashMap<String, Option<String>> = groups
            .iter()
            .map(|group| (group.app_name.clone(), group.access_token.clone()))
            .collect();
        let mut map = self
            .by_app_name
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *map = fresh;
    }
}

impl RegistryMonitor {
    /// A monitor over `store` that refreshes `generations` and `tokens`.
    pub fn new(
        store: Store,
        generations: ExecutorGenerations,
        tokens: GroupTokens,
        options: RegistryOptions,
    ) -> RegistryMonitor {
        RegistryMonitor {
            store,
            generations,
            tokens,
            options,
        }
    }

    /// One pass at `now` (upstream's registry monitor body, plus the generation directory).
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<RegistryPass, StoreError> {
        let mut report = RegistryPass::default();
        let groups = self.store.groups().await?;
        let dead_after = TimeDelta::from_std(self.options.dead_after).unwrap_or(TimeDelta::seconds(90));
        let alive_after = now - dead_after;
        let automatic: Vec<&JobGroup> = groups
            .iter()
            .filter(|group| group.address_type == AddressType::Automatic)
            .collect();
        // Upstream only maintains registrations while some group follows them.
        if !automatic.is_empty() {
            report.removed = self.store.delete_dead_registries(alive_after).await?;
            let live = self.store.live_executor_addresses(alive_after).await?;
            for group in automatic {
                // Sets iterate sorted, so the list is in lexicographic order as upstream writes it.
                let list = live
                    .get(&group.app_name)
                    .filter(|addresses| !addresses.is_empty())
                    .map(|addresses| addresses.iter().cloned().collect::<Vec<_>>().join(","));
                self.store
                    .set_group_addresses(group.id, list.as_deref(), now)
                    .await?;
                report.groups_updated += 1;
            }
        }
        self.tokens.replace(&groups);
        for registry in self.store.live_registries(alive_after).await? {
            if let Some(generation) = registry.generation {
                self.generations.set(&registry.value, generation);
            }
        }
        Ok(report)
    }

    /// Runs a pass now and then every period until the handle is shut down.
    pub fn start(self) -> LoopHandle {
        let period = self.options.period;
        cycle::spawn("registry monitor", period, move || {
            let monitor = self.clone();
            async move { monitor.pass(Utc::now()).await.map(drop) }
        })
    }
}

impl LoopHandle {
    /// Stops the loop (a pass in progress is abandoned at its next await) and waits for it.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "background loop failed");
        }
    }
}
