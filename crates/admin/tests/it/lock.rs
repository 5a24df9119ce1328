//! The cluster lock serialises scan transactions across stores (admins) sharing a database.

use std::time::Duration;

use xjob_test_support::db::{TestDatabase, engines};

use crate::support::open;

#[tokio::test]
async fn second_admin_waits_for_the_lock() {
    for engine in engines() {
        let database = TestDatabase::create(engine).await;
        let first = open(&database).await;
        let second = open(&database).await;

        let held = first.lock_schedule().await.unwrap();
        let contender = tokio::spawn(async move {
            let tx = second.lock_schedule().await.unwrap();
            tx.commit().await.unwrap();
            second
        });
        // While the first transaction holds the lock the second cannot get it. The bounded wait only
        // gives the contender a chance to (wrongly) succeed; nothing is synchronised on it.
        let early = tokio::time::timeout(Duration::from_millis(500), async {
            while !contender.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(early.is_err(), "{engine:?}: lock taken twice");
        held.commit().await.unwrap();
        let second = tokio::time::timeout(Duration::from_secs(20), contender)
            .await
            .expect("contender gets the lock after commit")
            .unwrap();
        second.close().await;
        first.close().await;
    }
}

#[tokio::test]
async fn dropping_the_transaction_releases_the_lock() {
    for engine in engines() {
        let database = TestDatabase::create(engine).await;
        let store = open(&database).await;
        drop(store.lock_schedule().await.unwrap());
        let again = tokio::time::timeout(Duration::from_secs(20), store.lock_schedule()).await;
        again
            .expect("lock released by rollback")
            .unwrap()
            .commit()
            .await
            .unwrap();
        store.close().await;
    }
}
