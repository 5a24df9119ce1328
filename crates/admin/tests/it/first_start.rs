//! The first administrator, adopted default passwords and password resets, on every engine.

use xjob_admin::auth::first_start::{FIRST_ADMIN, FirstStart, ResetError, ensure_admin, reset_password};
use xjob_admin::auth::password::{self, Verdict};
use xjob_admin::model::{NewUser, UserRole};

use crate::support::each_store;

/// Upstream's seed hash of `123456` (SHA-256 hex, 3.2.0 and later).
const UPSTREAM_DEFAULT: &str = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92";

#[tokio::test]
async fn a_fresh_database_gets_one_admin_with_a_generated_password() {
    each_store(|store, _| async move {
        let FirstStart::Created(credentials) = ensure_admin(&store).await.unwrap() else {
            panic!("no administrator was created");
        };
        assert_eq!(credentials.username, FIRST_ADMIN);
        assert!(credentials.password.len() >= 20);
        assert!(!format!("{credentials:?}").contains(&credentials.password));

        let stored = store.user_by_name(FIRST_ADMIN).await.unwrap().unwrap();
        assert_eq!(stored.role, UserRole::Admin);
        assert!(
            stored.password_hash.starts_with("$argon2id$"),
            "{}",
            stored.password_hash
        );
        assert_eq!(
            password::verify(&credentials.password, &stored.password_hash),
            Verdict::Valid { rehash: false }
        );
        assert_eq!(
            password::verify("123456", &stored.password_hash),
            Verdict::Invalid
        );

        // A second start creates nothing and shows no password.
        assert_eq!(ensure_admin(&store).await.unwrap(), FirstStart::Ready);
        assert_eq!(store.count_users().await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn adopted_default_passwords_are_reported_and_reset() {
    each_store(|store, _| async move {
        for (name, hash) in [
            ("admin", UPSTREAM_DEFAULT.to_owned()),
            ("ops", password::hash("kept").unwrap()),
            ("legacy", "e10adc3949ba59abbe56e057f20f883e".to_owned()),
        ] {
            store
                .insert_user(&NewUser {
                    username: name.to_owned(),
                    password_hash: hash,
                    role: UserRole::Admin,
                    permission: Vec::new(),
                })
                .await
                .unwrap();
        }
        let FirstStart::DefaultPasswords(mut users) = ensure_admin(&store).await.unwrap() else {
            panic!("default passwords were not reported");
        };
        users.sort();
        assert_eq!(users, ["admin", "legacy"]);
        let admin = store.user_by_name("admin").await.unwrap().unwrap();
        assert_eq!(
            password::verify("123456", &admin.password_hash),
            Verdict::ResetRequired
        );

        store
            .set_user_token(admin.id, Some("0123456789abcdef0123456789abcdef"))
            .await
            .unwrap();
        let credentials = reset_password(&store, "admin").await.unwrap();
        let admin = store.user_by_name("admin").await.unwrap().unwrap();
        assert_eq!(
            password::verify(&credentials.password, &admin.password_hash),
            Verdict::Valid { rehash: false }
        );
        assert_eq!(admin.token.as_deref(), Some(""), "the old session ends");
        let ops = store.user_by_name("ops").await.unwrap().unwrap();
        assert_eq!(
            password::verify("kept", &ops.password_hash),
            Verdict::Valid { rehash: false }
        );

        reset_password(&store, "legacy").await.unwrap();
        assert_eq!(ensure_admin(&store).await.unwrap(), FirstStart::Ready);
        assert!(matches!(
            reset_password(&store, "nobody").await,
            Err(ResetError::NoSuchUser(name)) if name == "nobody"
        ));
    })
    .await;
}
