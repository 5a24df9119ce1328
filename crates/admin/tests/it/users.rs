//! Console users and API tokens.

use std::collections::BTreeSet;

use chrono::TimeDelta;
use xjob_admin::model::{GroupScope, JobGroupId, NewApiToken, NewUser, UserId, UserRole};
use xjob_admin::store::{Page, StoreError};

use crate::support::{each_store, now};

fn user(name: &str, role: UserRole) -> NewUser {
    NewUser {
        username: name.to_owned(),
        password_hash: format!(
            "$argon2id$v=19$m=19456,t=2,p=1$salt-of-{name}$0123456789abcdef0123456789abcdef0123456789a"
        ),
        role,
        permission: vec![JobGroupId(1), JobGroupId(3)],
    }
}

#[tokio::test]
async fn users_create_find_update() {
    each_store(|store, _| async move {
        let admin = store.insert_user(&user("admin", UserRole::Admin)).await.unwrap();
        let alice = store.insert_user(&user("alice", UserRole::Normal)).await.unwrap();
        assert!(matches!(
            store.insert_user(&user("alice", UserRole::Admin)).await,
            Err(StoreError::Duplicate)
        ));

        let found = store.user_by_name("alice").await.unwrap().unwrap();
        assert_eq!(found.id, alice);
        assert_eq!(found.password_hash, user("alice", UserRole::Normal).password_hash);
        assert_eq!(found.role, UserRole::Normal);
        assert_eq!(found.permission, [JobGroupId(1), JobGroupId(3)]);
        assert_eq!(found.token, None);
        assert!(store.user_by_name("bob").await.unwrap().is_none());

        assert!(store.update_password(alice, "new-hash").await.unwrap());
        assert!(
            store
                .set_user_token(alice, Some("0123456789abcdef0123456789abcdef"))
                .await
                .unwrap()
        );
        assert!(store.update_user_role(alice, UserRole::Admin, &[]).await.unwrap());
        let updated = store.user(alice).await.unwrap().unwrap();
        assert_eq!(updated.password_hash, "new-hash");
        assert_eq!(updated.token.as_deref(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!((updated.role, updated.permission.len()), (UserRole::Admin, 0));
        assert!(store.set_user_token(alice, None).await.unwrap());
        assert_eq!(
            store.user(alice).await.unwrap().unwrap().token.as_deref(),
            Some("")
        );
        assert!(!store.update_password(UserId(9999), "x").await.unwrap());

        let page = store.users_page("", None, Page::first(10)).await.unwrap();
        assert_eq!(
            page.rows.iter().map(|user| user.id).collect::<Vec<_>>(),
            [admin, alice]
        );
        let admins = store
            .users_page("LI", Some(UserRole::Admin), Page::first(10))
            .await
            .unwrap();
        assert_eq!((admins.total, admins.rows[0].id), (1, alice));

        assert!(store.delete_user(admin).await.unwrap());
        assert!(!store.delete_user(admin).await.unwrap());
        assert_eq!(store.count_users().await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn api_tokens() {
    each_store(|store, _| async move {
        let scoped = NewApiToken {
            name: "deploy script".into(),
            token_hash: "sha256:aaaa".into(),
            scope: GroupScope::Groups(BTreeSet::from([JobGroupId(1), JobGroupId(2)])),
            created_by: Some(UserId(1)),
        };
        let id = store.insert_api_token(&scoped, now()).await.unwrap();
        let global = NewApiToken {
            name: "ops".into(),
            token_hash: "sha256:bbbb".into(),
            scope: GroupScope::All,
            created_by: None,
        };
        let global_id = store.insert_api_token(&global, now()).await.unwrap();
        assert!(matches!(
            store.insert_api_token(&global, now()).await,
            Err(StoreError::Duplicate)
        ));

        let found = store.api_token_by_hash("sha256:aaaa").await.unwrap().unwrap();
        assert_eq!((found.id, found.name.as_str()), (id, "deploy script"));
        assert_eq!(found.scope, scoped.scope);
        assert!(found.scope.allows(JobGroupId(2)) && !found.scope.allows(JobGroupId(3)));
        assert_eq!(
            (found.created_by, found.add_time, found.last_used_time),
            (Some(UserId(1)), now(), None)
        );
        assert!(store.api_token_by_hash("sha256:cccc").await.unwrap().is_none());

        let used = now() + TimeDelta::seconds(5);
        store.touch_api_token(id, used).await.unwrap();
        assert_eq!(
            store
                .api_token_by_hash("sha256:aaaa")
                .await
                .unwrap()
                .unwrap()
                .last_used_time,
            Some(used)
        );
        assert_eq!(
            store
                .api_tokens()
                .await
                .unwrap()
                .iter()
                .map(|token| token.id)
                .collect::<Vec<_>>(),
            [id, global_id]
        );
        assert!(store.delete_api_token(id).await.unwrap());
        assert!(!store.delete_api_token(id).await.unwrap());
        assert_eq!(store.api_tokens().await.unwrap()[0].scope, GroupScope::All);
    })
    .await;
}
