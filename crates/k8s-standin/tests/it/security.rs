//! Authentication, TLS with the generated CA, and access reviews with their enforcement.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{LogParams, PostParams};
use xjob_k8s_standin::{AccessRule, Options, StandIn};

use crate::support::{Setup, api_error, phase, pod};

#[tokio::test]
async fn wrong_or_missing_tokens_get_401() {
    let standin = StandIn::start(Options::default()).await.unwrap();
    for token in [Some("wrong"), None] {
        let config = standin.kube_config_with_token(token).await.unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let pods: kube::Api<Pod> = kube::Api::namespaced(client, "default");
        let status = api_error(pods.list(&Default::default()).await);
        assert_eq!(
            (status.code, status.reason.as_str(), status.message.as_str()),
            (401, "Unauthorized", "Unauthorized")
        );
    }
    assert!(standin.requests().iter().all(|r| r.status == 401));
    standin.shutdown().await;
}

#[tokio::test]
async fn tls_with_the_generated_ca_and_a_kubeconfig_file() {
    let setup = Setup::with(Options::tls()).await;
    assert!(setup.standin.url().starts_with("https://127.0.0.1:"));
    assert!(
        setup
            .standin
            .ca_pem()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    setup
        .pods()
        .create(&PostParams::default(), &pod("secure", "echo over tls"))
        .await
        .unwrap();
    setup
        .wait_pod("secure", "done", |p| phase(p) == "Succeeded")
        .await;
    assert_eq!(
        setup.pods().logs("secure", &LogParams::default()).await.unwrap(),
        "over tls\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    setup.standin.write_kubeconfig(&path).unwrap();
    let options = kube::config::KubeConfigOptions::default();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    let from_file: kube::Api<Pod> = kube::Api::default_namespaced(kube::Client::try_from(config).unwrap());
    assert!(from_file.get_opt("secure").await.unwrap().is_some());

    // A client that does not trust the CA cannot talk to the server.
    let mut untrusting = setup.standin.kube_config().await.unwrap();
    untrusting.root_cert = None;
    let client = kube::Client::try_from(untrusting).unwrap();
    let pods: kube::Api<Pod> = kube::Api::default_namespaced(client);
    assert!(matches!(pods.get_opt("secure").await, Err(error) if !matches!(error, kube::Error::Api(_))));
    setup.standin.shutdown().await;
}

async fn review(client: &kube::Client, verb: &str, resource: &str, subresource: Option<&str>) -> bool {
    let api: kube::Api<SelfSubjectAccessReview> = kube::Api::all(client.clone());
    let request = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some("default".into()),
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                subresource: subresource.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = api.create(&PostParams::default(), &request).await.unwrap();
    answer.status.expect("status").allowed
}

#[tokio::test]
async fn access_reviews_follow_the_configured_rules() {
    let setup = Setup::start().await;
    assert!(
        review(&setup.client, "get", "pods", Some("log")).await,
        "allowed by default"
    );
    setup
        .standin
        .set_access(AccessRule::new("get", "pods/log"), false);
    assert!(!review(&setup.client, "get", "pods", Some("log")).await);
    assert!(
        review(&setup.client, "get", "pods", None).await,
        "other permissions are unaffected"
    );

    // The rule also governs real requests.
    setup
        .pods()
        .create(&PostParams::default(), &pod("quiet", "echo hidden"))
        .await
        .unwrap();
    setup.wait_pod("quiet", "done", |p| phase(p) == "Succeeded").await;
    let denied = api_error(setup.pods().logs("quiet", &LogParams::default()).await);
    assert_eq!(denied.code, 403);
    assert!(
        denied.message.contains("cannot get resource \"pods/log\""),
        "{}",
        denied.message
    );

    setup
        .standin
        .set_access(AccessRule::new("get", "pods/log").in_namespace("default"), true);
    assert!(
        review(&setup.client, "get", "pods", Some("log")).await,
        "a later rule wins"
    );
    setup.standin.reset_access();
    assert_eq!(
        setup.pods().logs("quiet", &LogParams::default()).await.unwrap(),
        "hidden\n"
    );
    setup.standin.shutdown().await;
}
