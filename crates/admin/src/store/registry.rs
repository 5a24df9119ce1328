//! `xxl_job_registry`: executor heartbeats.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use xjob_protocol::{Generation, Lenient, RegistryGroup};

use crate::model::{Registry, RegistryId};
use crate::store::{Param, Result, Store, on_write_pool, time};

#[derive(sqlx::FromRow)]
struct RegistryRow {
    id: i64,
    registry_group: String,
    registry_key: String,
    registry_value: String,
    update_time: Option<NaiveDateTime>,
    protocol_generation: Option<String>,
}

impl Store {
    /// Records a heartbeat: inserts the registration or refreshes its `update_time`; a stored protocol
    /// generation is kept.
    pub async fn upsert_registry(
        &self,
        group: &str,
        key: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.record_heartbeat(group, key, value, None, now).await
    }

    /// Records a heartbeat together with the protocol generation the executor spoke; `None` (not
    /// recognisable) keeps whatever generation is stored.
    pub async fn record_heartbeat(
        &self,
        group: &str,
        key: &str,
        value: &str,
        generation: Option<Generation>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let sql = self.dialect.sql(format!(
            "INSERT INTO xxl_job_registry (registry_group, registry_key, registry_value, update_time, protocol_generation) \
             VALUES (?, ?, ?, ?, ?){}",
            self.dialect.upsert_keeping(
                "xxl_job_registry",
                &["registry_group", "registry_key", "registry_value"],
                &["update_time"],
                &["protocol_generation"]
            )
        ));
        let now = time::to_db(self.zone, now);
        on_write_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(group)
                .bind(key)
                .bind(value)
                .bind(now)
                .bind(generation.map(Generation::as_str))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Removes a registration (executor shutdown); false when there was none.
    pub async fn remove_registry(&self, group: &str, key: &str, value: &str) -> Result<bool> {
        let removed = self
            .execute(
                "DELETE FROM xxl_job_registry WHERE registry_group = ? AND registry_key = ? AND registry_value = ?",
                &[
                    Param::Text(group.to_owned()),
                    Param::Text(key.to_owned()),
                    Param::Text(value.to_owned()),
                ],
            )
            .await?;
        Ok(removed > 0)
    }

    /// Deletes registrations last refreshed before `dead_before` (upstream: now − 90 s); returns how many.
    pub async fn delete_dead_registries(&self, dead_before: DateTime<Utc>) -> Result<u64> {
        let cutoff = Param::Time(time::to_db(self.zone, dead_before));
        self.execute("DELETE FROM xxl_job_registry WHERE update_time < ?", &[cutoff])
            .await
    }

    /// Registrations refreshed after `alive_after`, by id.
    pub async fn live_registries(&self, alive_after: DateTime<Utc>) -> Result<Vec<Registry>> {
        let sql = "SELECT id, registry_group, registry_key, registry_value, update_time, protocol_generation FROM xxl_job_registry \
                   WHERE update_time > ? ORDER BY id";
        let cutoff = Param::Time(time::to_db(self.zone, alive_after));
        let rows: Vec<RegistryRow> = self.fetch_all(sql, &[cutoff]).await?;
        Ok(rows
            .into_iter()
            .map(|row| Registry {
                id: RegistryId(row.id),
                group: Lenient::parse(&row.registry_group),
                key: row.registry_key,
                value: row.registry_value,
                update_time: time::from_db_opt(self.zone, row.update_time),
                // A value this version does not know reads as "not known", like a NULL.
                generation: row
                    .protocol_generation
                    .as_deref()
                    .and_then(|name| name.parse().ok()),
            })
            .collect())
    }

    /// Live executor addresses per AppName, each set sorted: what the registry monitor writes into
    /// automatic groups.
    pub async fn live_executor_addresses(
        &self,
        alive_after: DateTime<Utc>,
    ) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let mut addresses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for registry in self.live_registries(alive_after).await? {
            if registry.group.known() == Some(RegistryGroup::Executor) {
                addresses.entry(registry.key).or_default().insert(registry.value);
            }
        }
        Ok(addresses)
    }
}
