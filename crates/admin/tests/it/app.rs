//! A whole admin started in-process on 127.0.0.1:0 with a fresh SQLite data directory.

use std::time::Duration;

use xjob_admin::auth::first_start::FirstStart;
use xjob_admin::config::{AdminConfig, Secret};
use xjob_admin::{Admin, AdminHandle};

fn config(data_dir: &std::path::Path) -> AdminConfig {
    AdminConfig {
        port: 0,
        data_dir: Some(data_dir.to_owned()),
        access_token: Some(Secret::from("app-test-token".to_owned())),
        shutdown_grace: Duration::from_secs(5),
        ..AdminConfig::default()
    }
}

async fn health(admin: &AdminHandle) -> (u16, serde_json::Value) {
    // reqwest is built without a default TLS provider; an earlier install is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::get(format!("http://{}/healthz", admin.addr()))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn first_start_creates_the_database_and_a_password_shown_once() {
    let home = tempfile::tempdir().unwrap();
    let data_dir = home.path().join("nested/data");

    let mut admin = Admin::start(config(&data_dir)).await.unwrap();
    assert!(admin.addr().ip().is_loopback());
    assert_ne!(admin.addr().port(), 0);
    assert!(data_dir.join("xjob-admin.db").is_file());
    assert!(matches!(admin.take_first_start(), FirstStart::Created(_)));
    assert_eq!(admin.take_first_start(), FirstStart::Ready, "handed out once");
    assert_eq!(admin.context().admin_address, format!("http://{}/", admin.addr()));
    assert_eq!(
        health(&admin).await,
        (200, serde_json::json!({"status": "up", "database": "up"}))
    );
    let address = admin.addr();
    admin.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "the listener is closed after shutdown"
    );

    let mut again = Admin::start(config(&data_dir)).await.unwrap();
    assert_eq!(again.take_first_start(), FirstStart::Ready);
    assert_eq!(again.context().store.count_users().await.unwrap(), 1);
    again.shutdown().await;
}

#[tokio::test]
async fn health_reports_an_unreachable_database() {
    let home = tempfile::tempdir().unwrap();
    let admin = Admin::start(config(home.path())).await.unwrap();
    admin.context().store.close().await;
    assert_eq!(
        health(&admin).await,
        (
            503,
            serde_json::json!({"status": "down", "database": "unreachable"})
        )
    );
    admin.shutdown().await;
}

#[tokio::test]
async fn invalid_settings_and_a_taken_port_stop_start_up() {
    let home = tempfile::tempdir().unwrap();
    let mut no_token = config(home.path());
    no_token.access_token = None;
    let error = Admin::start(no_token).await.unwrap_err();
    assert!(
        error.to_string().starts_with("invalid setting `access_token`"),
        "{error}"
    );

    let first = Admin::start(config(home.path())).await.unwrap();
    let mut same_port = config(home.path());
    same_port.port = first.addr().port();
    let error = Admin::start(same_port).await.unwrap_err();
    assert_eq!(error.to_string(), format!("listening on {}", first.addr()));
    first.shutdown().await;
}

/// An extension: its group is created once, its routes answer on the admin's listener from the start, it
/// sees the bound address, and at shutdown it is stopped while the admin still answers.
#[tokio::test]
async fn extensions_get_their_group_routes_and_stop_first() {
    use std::sync::{Arc, Mutex};

    use axum::routing::get;
    use xjob_admin::model::AddressType;
    use xjob_admin::{Background, Extension, ExtensionGroup, Mounted};

    fn extension(seen: Arc<Mutex<Vec<String>>>) -> Extension {
        Extension::new("echo part", move |context| async move {
            seen.lock().unwrap().push(context.admin_address.clone());
            let admin = context.admin_address.clone();
            let router = axum::Router::new().route("/echo-part/ping", get(|| async { "pong" }));
            let stop = Background::new("echo part", async move {
                // The admin's own endpoints still answer while extensions stop.
                let status = reqwest::get(format!("{admin}healthz"))
                    .await
                    .map(|r| r.status().as_u16());
                seen.lock()
                    .unwrap()
                    .push(format!("stopped with healthz {status:?}"));
            });
            Ok(Mounted { router, stop })
        })
        .with_executor_group(ExtensionGroup {
            app_name: "echo-part-executor".to_owned(),
            title: "Echo".to_owned(),
        })
    }

    let _ = rustls::crypto::ring::default_provider().install_default();
    let home = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for round in 0..2 {
        let admin = Admin::start_with(config(home.path()), vec![extension(Arc::clone(&seen))])
            .await
            .unwrap();
        let groups = admin.context().store.groups().await.unwrap();
        let ours: Vec<_> = groups
            .iter()
            .filter(|group| group.app_name == "echo-part-executor")
            .collect();
        assert_eq!(ours.len(), 1, "created once, round {round}");
        assert_eq!(
            (
                ours[0].name.as_str(),
                ours[0].address_type,
                ours[0].access_token.as_deref()
            ),
            ("Echo", AddressType::Automatic, Some("app-test-token"))
        );
        let pong = reqwest::get(format!("http://{}/echo-part/ping", admin.addr()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(pong, "pong");
        let address = admin.context().admin_address.clone();
        admin.shutdown().await;
        assert_eq!(
            seen.lock().unwrap().drain(..).collect::<Vec<_>>(),
            [address, "stopped with healthz Ok(200)".to_owned()]
        );
    }

    // An extension that fails to start stops start-up with its error, and nothing is left listening.
    let failing = Extension::new("broken part", |_| async { anyhow::bail!("no cluster") });
    let error = Admin::start_with(config(home.path()), vec![failing])
        .await
        .unwrap_err();
    assert_eq!(format!("{error:#}"), "starting the broken part: no cluster");
}
