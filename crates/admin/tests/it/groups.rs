//! Executor groups and registrations.

use chrono::TimeDelta;
use xjob_admin::model::{AddressType, AppName, JobGroupId, NewJobGroup};
use xjob_admin::store::{Page, StoreError};

use crate::support::{each_store, now};

fn group(app_name: &str, name: &str) -> NewJobGroup {
    NewJobGroup {
        app_name: AppName::new(app_name).unwrap(),
        name: name.to_owned(),
        address_type: AddressType::Manual,
        address_list: Some("http://h1:9999/,http://h2:9999/".into()),
        access_token: Some("token_1".into()),
    }
}

#[tokio::test]
async fn group_crud_and_paging() {
    each_store(|store, _| async move {
        let id = store
            .insert_group(&group("orders-app", "Orders"), now())
            .await
            .unwrap();
        let stored = store.group(id).await.unwrap().unwrap();
        assert_eq!(stored.app_name, "orders-app");
        assert_eq!(stored.name, "Orders");
        assert_eq!(stored.address_type, AddressType::Manual);
        assert_eq!(stored.addresses(), ["http://h1:9999/", "http://h2:9999/"]);
        assert_eq!(stored.access_token.as_deref(), Some("token_1"));
        assert_eq!(stored.update_time, Some(now()));
        assert_eq!(
            store.group_by_app_name("orders-app").await.unwrap().unwrap().id,
            id
        );
        assert!(store.group_by_app_name("nope").await.unwrap().is_none());

        let duplicate = store.insert_group(&group("orders-app", "Again"), now()).await;
        assert!(matches!(duplicate, Err(StoreError::Duplicate)), "{duplicate:?}");

        let mut edit = group("ignored-app", "Orders EU");
        edit.address_type = AddressType::Automatic;
        edit.address_list = None;
        assert!(store.update_group(id, &edit, now()).await.unwrap());
        let edited = store.group(id).await.unwrap().unwrap();
        assert_eq!(
            (edited.app_name.as_str(), edited.name.as_str()),
            ("orders-app", "Orders EU")
        );
        assert_eq!(edited.address_type, AddressType::Automatic);
        assert!(!store.update_group(JobGroupId(9999), &edit, now()).await.unwrap());

        let later = now() + TimeDelta::seconds(30);
        store
            .set_group_addresses(id, Some("http://a:1/"), later)
            .await
            .unwrap();
        let refreshed = store.group(id).await.unwrap().unwrap();
        assert_eq!(refreshed.address_list.as_deref(), Some("http://a:1/"));
        assert_eq!(refreshed.update_time, Some(later));
        let automatic: Vec<_> = store
            .groups_by_address_type(AddressType::Automatic)
            .await
            .unwrap()
            .into_iter()
            .map(|group| group.app_name)
            .collect();
        assert_eq!(automatic, ["xxl-job-executor-sample", "orders-app"]);

        store
            .insert_group(&group("billing-app", "Billing"), now())
            .await
            .unwrap();
        // Case-insensitive substring filters on every engine.
        let page = store
            .groups_page("APP", "", Page { offset: 0, limit: 10 })
            .await
            .unwrap();
        assert_eq!(page.total, 2);
        let names: Vec<_> = page.rows.iter().map(|group| group.app_name.as_str()).collect();
        assert_eq!(names, ["billing-app", "orders-app"]);
        let second = store
            .groups_page("app", "", Page { offset: 1, limit: 1 })
            .await
            .unwrap();
        assert_eq!(
            (second.total, second.rows[0].app_name.as_str()),
            (2, "orders-app")
        );
        let by_name = store.groups_page("", "eu", Page::first(10)).await.unwrap();
        assert_eq!(
            by_name.rows.iter().map(|group| group.id).collect::<Vec<_>>(),
            [id]
        );
        // LIKE wildcards in the filter are literal.
        assert_eq!(
            store.groups_page("%", "", Page::first(10)).await.unwrap().total,
            0
        );
        assert_eq!(
            store.groups_page("-", "", Page::first(10)).await.unwrap().total,
            3
        );
        assert_eq!(store.count_groups().await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn registry_heartbeats_and_cleanup() {
    each_store(|store, _| async move {
        let start = now();
        store
            .upsert_registry("EXECUTOR", "orders-app", "http://b:9999/", start)
            .await
            .unwrap();
        store
            .upsert_registry("EXECUTOR", "orders-app", "http://a:9999/", start)
            .await
            .unwrap();
        store
            .upsert_registry("EXECUTOR", "billing-app", "http://c:9999/", start)
            .await
            .unwrap();
        store
            .upsert_registry("ADMIN", "orders-app", "http://z:8080/", start)
            .await
            .unwrap();
        // A heartbeat 60 s later refreshes the row instead of adding one.
        let later = start + TimeDelta::seconds(60);
        store
            .upsert_registry("EXECUTOR", "orders-app", "http://a:9999/", later)
            .await
            .unwrap();

        let live = store
            .live_registries(start - TimeDelta::seconds(1))
            .await
            .unwrap();
        assert_eq!(live.len(), 4);
        let refreshed: Vec<_> = live
            .iter()
            .filter(|registry| registry.value == "http://a:9999/")
            .collect();
        assert_eq!(refreshed.len(), 1);
        assert_eq!(refreshed[0].update_time, Some(later));

        let addresses = store
            .live_executor_addresses(start - TimeDelta::seconds(1))
            .await
            .unwrap();
        assert_eq!(addresses.len(), 2);
        assert_eq!(
            addresses["orders-app"].iter().collect::<Vec<_>>(),
            ["http://a:9999/", "http://b:9999/"]
        );

        // 90 s after the first beat, only the refreshed registration is alive.
        let dead_before = start + TimeDelta::seconds(30);
        assert_eq!(store.delete_dead_registries(dead_before).await.unwrap(), 3);
        let live = store.live_registries(dead_before).await.unwrap();
        assert_eq!(
            live.iter()
                .map(|registry| registry.value.as_str())
                .collect::<Vec<_>>(),
            ["http://a:9999/"]
        );

        assert!(
            store
                .remove_registry("EXECUTOR", "orders-app", "http://a:9999/")
                .await
                .unwrap()
        );
        assert!(
            !store
                .remove_registry("EXECUTOR", "orders-app", "http://a:9999/")
                .await
                .unwrap()
        );
        assert!(store.live_registries(start).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn deleting_a_group_removes_its_registrations() {
    each_store(|store, _| async move {
        let id = store
            .insert_group(&group("orders-app", "Orders"), now())
            .await
            .unwrap();
        store
            .upsert_registry("EXECUTOR", "orders-app", "http://a:9999/", now())
            .await
            .unwrap();
        store
            .upsert_registry("EXECUTOR", "other-app", "http://b:9999/", now())
            .await
            .unwrap();
        assert!(store.delete_group(id).await.unwrap());
        assert!(!store.delete_group(id).await.unwrap());
        assert!(store.group(id).await.unwrap().is_none());
        let left: Vec<_> = store
            .live_registries(now() - TimeDelta::seconds(1))
            .await
            .unwrap()
            .into_iter()
            .map(|registry| registry.key)
            .collect();
        assert_eq!(left, ["other-app"]);
    })
    .await;
}

#[tokio::test]
async fn groups_load_by_ids_in_one_query() {
    each_store(|store, _| async move {
        let orders = store
            .insert_group(&group("orders-app", "Orders"), now())
            .await
            .unwrap();
        let billing = store
            .insert_group(&group("billing-app", "Billing"), now())
            .await
            .unwrap();
        let found = store
            .groups_by_ids(&[billing, JobGroupId(orders.0 + billing.0 + 10), orders])
            .await
            .unwrap();
        let mut expected = vec![orders, billing];
        expected.sort();
        assert_eq!(found.iter().map(|group| group.id).collect::<Vec<_>>(), expected);
        assert_eq!(
            found.iter().find(|group| group.id == billing).unwrap().app_name,
            "billing-app"
        );
        assert!(store.groups_by_ids(&[]).await.unwrap().is_empty());
    })
    .await;
}
