//! A fresh database: schema version, seed, idempotent reopening.

use xjob_admin::model::AddressType;
use xjob_admin::store::{Naming, migrate};
use xjob_test_support::db::{TestDatabase, engines};

use crate::support::{each_store, open};

#[tokio::test]
async fn fresh_database_is_migrated_and_seeded() {
    each_store(|store, _| async move {
        assert_eq!(migrate::applied_versions(&store).await.unwrap(), [1, 2, 3, 4]);
        assert_eq!(store.naming(), Naming::Current);
        let groups = store.groups().await.unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].app_name, "xxl-job-executor-sample");
        assert_eq!(groups[0].name, "通用执行器Sample");
        assert_eq!(groups[0].address_type, AddressType::Automatic);
        assert_eq!(groups[0].address_list, None);
        // No default secret survives first start: no user, no group token.
        assert_eq!(groups[0].access_token, None);
        assert_eq!(store.count_users().await.unwrap(), 0);
        assert_eq!(store.count_jobs(None).await.unwrap(), 0);
        // The lock row exists.
        store.lock_schedule().await.unwrap().commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert!(tx.due_jobs(i64::MAX, 10).await.unwrap().is_empty());
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn reopening_applies_nothing_twice() {
    for engine in engines() {
        let database = TestDatabase::create(engine).await;
        let first = open(&database).await;
        first.close().await;
        let second = open(&database).await;
        assert_eq!(
            migrate::applied_versions(&second).await.unwrap(),
            [1, 2, 3, 4],
            "{engine:?}"
        );
        assert_eq!(second.count_groups().await.unwrap(), 1, "{engine:?}");
        second.close().await;
    }
}

#[tokio::test]
async fn unsupported_url_is_a_clear_error() {
    let options = xjob_admin::store::StoreOptions {
        url: "oracle://scott:tiger@db/orcl".into(),
        time_zone: chrono_tz::UTC,
        max_connections: None,
    };
    let error = xjob_admin::store::Store::open(&options).await.unwrap_err();
    // The URL's password must not appear in the message.
    assert_eq!(
        error.to_string(),
        "unsupported database URL scheme `oracle` (expected sqlite, mysql or postgres)"
    );
}

#[tokio::test]
async fn concurrent_first_starts_migrate_once() {
    // SQLite files are opened by one admin; the servers serialise migrations with a lock.
    for engine in engines()
        .into_iter()
        .filter(|engine| *engine != xjob_test_support::db::Engine::Sqlite)
    {
        let database = TestDatabase::create(engine).await;
        let (first, second) = tokio::join!(open(&database), open(&database));
        assert_eq!(
            migrate::applied_versions(&first).await.unwrap(),
            [1, 2, 3, 4],
            "{engine:?}"
        );
        assert_eq!(second.count_groups().await.unwrap(), 1, "{engine:?}");
        first.close().await;
        second.close().await;
    }
}
