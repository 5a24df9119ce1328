//! The engine loop and shared fixtures of the storage tests.

use std::future::Future;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use xjob_admin::model::{
    Glue, GlueType, JobGroupId, JobSettings, Lenient, MisfireStrategy, RetryPolicy, RouteStrategy, Schedule,
};
use xjob_admin::store::{NewJob, Store, StoreOptions};
use xjob_test_support::db::{Engine, TestDatabase, engines};

/// The zone DATETIME columns are written in: not UTC, so conversions are exercised.
pub(crate) fn zone() -> Tz {
    "Asia/Shanghai".parse().unwrap()
}

/// A fixed "now" (10:00:00 in Shanghai).
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 19, 2, 0, 0).unwrap()
}

/// Opens a migrated store on a test database.
pub(crate) async fn open(database: &TestDatabase) -> Store {
    Store::open(&StoreOptions {
        url: database.url().to_owned(),
        time_zone: zone(),
        max_connections: Some(4),
    })
    .await
    .unwrap_or_else(|error| panic!("open {:?}: {error}", database.engine()))
}

/// Runs `test` once per configured engine, each time on a fresh, migrated database.
pub(crate) async fn each_store<F, Fut>(test: F)
where
    F: Fn(Store, Engine) -> Fut,
    Fut: Future<Output = ()>,
{
    for engine in engines() {
        eprintln!("engine: {engine:?}");
        let database = TestDatabase::create(engine).await;
        let store = open(&database).await;
        test(store.clone(), engine).await;
        store.close().await;
    }
}

/// A CRON BEAN job in `group` with every field set.
pub(crate) fn new_job(group: JobGroupId, name: &str) -> NewJob {
    NewJob {
        group,
        settings: JobSettings {
            name: name.to_owned(),
            author: Some("ops".into()),
            alarm_email: Some("a@example.com,b@example.com".into()),
            schedule: Schedule::cron("0 0 0 * * ? *"),
            misfire_strategy: Lenient::Known(MisfireStrategy::FireOnceNow),
            route_strategy: Some(Lenient::Known(RouteStrategy::ConsistentHash)),
            handler: Some("demoJobHandler".into()),
            param: Some("p=1".into()),
            block_strategy: Some(Lenient::Known(xjob_admin::model::BlockStrategy::DiscardLater)),
            timeout_seconds: 30,
            retry: RetryPolicy {
                count: 2,
                interval_seconds: Some(15),
                backoff: true,
            },
            child_job_id: Some("7,8".into()),
            time_zone: Some("Europe/Berlin".parse().unwrap()),
        },
        glue: Glue {
            glue_type: Lenient::Known(GlueType::Bean),
            source: Some(String::new()),
            remark: Some("GLUE init".into()),
            update_time: None,
        },
    }
}
