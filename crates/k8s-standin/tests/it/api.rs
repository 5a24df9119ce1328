//! Object semantics through `kube::Api`: create/get/list/patch/delete, server-owned metadata, errors, selectors
//! and paging.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use xjob_k8s_standin::Resource;

use crate::support::{NAMESPACE, Setup, api_error, phase, pod, pod_json, terminated, typed};

#[tokio::test]
async fn pods_get_server_metadata_and_run_to_completion() {
    let setup = Setup::start().await;
    let pods = setup.pods();
    let created = pods
        .create(&PostParams::default(), &pod("hello", "echo hello"))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().expect("uid");
    assert_eq!(uid.len(), 36);
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.namespace.as_deref(), Some(NAMESPACE));
    let first_version: u64 = created
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    assert_eq!(
        spec.containers[0].termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );

    let done = setup
        .wait_pod("hello", "pod succeeded", |p| phase(p) == "Succeeded")
        .await;
    let state = terminated(&done, "main").expect("terminated state");
    assert_eq!(state.exit_code, 0);
    assert_eq!(state.reason.as_deref(), Some("Completed"));
    assert!(state.started_at.is_some() && state.finished_at.is_some());
    let status = done.status.as_ref().unwrap();
    assert_eq!(
        done.spec.as_ref().unwrap().node_name.as_deref(),
        Some("standin-node")
    );
    assert!(
        status
            .pod_ip
            .as_deref()
            .is_some_and(|ip| ip.starts_with("10.244."))
    );
    assert!(status.start_time.is_some());
    let conditions: BTreeSet<(String, String)> = status
        .conditions
        .iter()
        .flatten()
        .map(|c| (c.type_.clone(), c.status.clone()))
        .collect();
    for expected in [
        ("PodScheduled", "True"),
        ("Initialized", "True"),
        ("Ready", "False"),
        ("ContainersReady", "False"),
    ] {
        assert!(
            conditions.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{conditions:?}"
        );
    }
    let done_version: u64 = done.metadata.resource_version.clone().unwrap().parse().unwrap();
    assert!(done_version > first_version);
    assert_eq!(
        setup.standin.object(Resource::Pods, NAMESPACE, "hello").unwrap()["metadata"]["uid"],
        uid.as_str()
    );

    // A finished pod is deleted at once and answers with the object.
    let deleted = pods.delete("hello", &DeleteParams::default()).await.unwrap();
    assert!(deleted.is_left());
    assert!(pods.get_opt("hello").await.unwrap().is_none());
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn errors_carry_status_bodies() {
    let setup = Setup::start().await;
    let pods = setup.pods();
    pods.create(&PostParams::default(), &pod("dup", "sleep 5"))
        .await
        .unwrap();
    let conflict = api_error(pods.create(&PostParams::default(), &pod("dup", "true")).await);
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(conflict.message, "pods \"dup\" already exists");

    let dry = pods
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &pod("dry", "true"),
        )
        .await
        .unwrap();
    assert_eq!(dry.metadata.name.as_deref(), Some("dry"));
    assert!(
        pods.get_opt("dry").await.unwrap().is_none(),
        "a dry run stores nothing"
    );
    let dry_conflict = api_error(
        pods.create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &pod("dup", "true"),
        )
        .await,
    );
    assert_eq!(dry_conflict.code, 409);

    let missing = api_error(pods.get("nope").await);
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "pods \"nope\" not found");

    let mut invalid = pod_json("Bad_Name", "true");
    invalid["spec"]["containers"] = json!([]);
    let invalid = api_error(pods.create(&PostParams::default(), &typed::<Pod>(invalid)).await);
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    assert!(
        invalid
            .message
            .starts_with("Pod \"Bad_Name\" is invalid: [metadata.name: Invalid value"),
        "{}",
        invalid.message
    );
    assert!(
        invalid.message.contains("spec.containers: Required value"),
        "{}",
        invalid.message
    );

    let immutable = api_error(
        pods.patch(
            "dup",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"restartPolicy": "Always"}})),
        )
        .await,
    );
    assert_eq!(immutable.code, 422);
    assert!(
        immutable.message.contains("pod updates may not change fields"),
        "{}",
        immutable.message
    );

    let stale = json!({"metadata": {"resourceVersion": "1", "labels": {"x": "y"}}});
    let stale = api_error(
        pods.patch("dup", &PatchParams::default(), &Patch::Merge(stale))
            .await,
    );
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn generate_name_selectors_and_paging() {
    let setup = Setup::start().await;
    let pods = setup.pods();
    let mut generated = pod_json("", "sleep 30");
    generated["metadata"] = json!({"generateName": "gen-", "labels": {"tier": "a"}});
    let first = pods
        .create(&PostParams::default(), &typed(generated.clone()))
        .await
        .unwrap();
    let second = pods
        .create(&PostParams::default(), &typed(generated))
        .await
        .unwrap();
    let (first, second) = (first.metadata.name.unwrap(), second.metadata.name.unwrap());
    assert!(first.starts_with("gen-") && first.len() == 9, "{first}");
    assert_ne!(first, second);
    let mut other = pod_json("other", "true");
    other["metadata"]["labels"] = json!({"tier": "b", "extra": "1"});
    pods.create(&PostParams::default(), &typed(other)).await.unwrap();

    let names = |list: kube::core::ObjectList<Pod>| -> Vec<String> {
        list.items.into_iter().map(|p| p.metadata.name.unwrap()).collect()
    };
    let cases = [
        ("tier=a", 2),
        ("tier==b", 1),
        ("tier!=a", 1),
        ("tier in (a,b)", 3),
        ("tier notin (a)", 1),
        ("extra", 1),
        ("!extra", 2),
    ];
    for (selector, expected) in cases {
        let list = pods.list(&ListParams::default().labels(selector)).await.unwrap();
        assert_eq!(list.items.len(), expected, "{selector}");
    }
    let by_name = pods
        .list(&ListParams::default().fields("metadata.name=other"))
        .await
        .unwrap();
    assert_eq!(names(by_name), vec!["other"]);
    setup
        .wait_pod("other", "other succeeded", |p| phase(p) == "Succeeded")
        .await;
    let succeeded = pods
        .list(&ListParams::default().fields("status.phase=Succeeded"))
        .await
        .unwrap();
    assert_eq!(names(succeeded), vec!["other"]);
    let bad = api_error(pods.list(&ListParams::default().fields("spec.image=x")).await);
    assert_eq!(bad.code, 400);

    let page = pods.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let token = page.metadata.continue_.clone().expect("continue token");
    let rest = pods
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.metadata.continue_.as_deref().is_none_or(str::is_empty));
    assert_eq!(rest.metadata.resource_version, page.metadata.resource_version);
    let mut all = names(page);
    all.extend(names(rest));
    all.sort();
    let mut expected = vec![first, second, "other".to_owned()];
    expected.sort();
    assert_eq!(all, expected);

    // The collection spans namespaces when listed at cluster scope.
    let everywhere: kube::Api<Pod> = kube::Api::all(setup.client.clone());
    assert_eq!(
        everywhere.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
    let removed = pods
        .delete_collection(
            &DeleteParams::default().grace_period(0),
            &ListParams::default().labels("tier=a"),
        )
        .await
        .unwrap();
    assert_eq!(removed.left().expect("a list of deleted pods").items.len(), 2);
    assert_eq!(pods.list(&ListParams::default()).await.unwrap().items.len(), 1);
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn finalizers_hold_deletion_until_patched_away() {
    let setup = Setup::start().await;
    let pods = setup.pods();
    let mut held = pod_json("held", "true");
    held["metadata"]["finalizers"] = json!(["xjob.test/keep"]);
    pods.create(&PostParams::default(), &typed(held)).await.unwrap();
    setup
        .wait_pod("held", "held pod done", |p| phase(p) == "Succeeded")
        .await;

    let annotated = pods
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"note": "kept"}}})),
        )
        .await
        .unwrap();
    assert_eq!(annotated.metadata.annotations.unwrap()["note"], "kept");

    let pending = pods.delete("held", &DeleteParams::default()).await.unwrap();
    let pending = pending.left().expect("the object while finalizers hold it");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let still = pods.get("held").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());

    let adding = json!({"metadata": {"finalizers": ["xjob.test/keep", "xjob.test/another"]}});
    let forbidden = api_error(
        pods.patch("held", &PatchParams::default(), &Patch::Merge(adding))
            .await,
    );
    assert_eq!(forbidden.code, 422);

    pods.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    setup.wait_pod_gone("held").await;
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn replace_checks_versions_and_events_v1_round_trip() {
    let setup = Setup::start().await;
    let pods = setup.pods();
    pods.create(&PostParams::default(), &pod("replaced", "sleep 30"))
        .await
        .unwrap();
    // The fake kubelet writes the pod's status until it is ready; each write bumps the resource version, so
    // the replace below would race it. Once ready, nothing else changes the pod.
    let mut current = setup
        .wait_pod("replaced", "pod ready", |p| {
            p.status
                .as_ref()
                .and_then(|status| status.conditions.as_ref())
                .is_some_and(|conditions| {
                    conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                })
        })
        .await;
    current
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("replaced".into(), "yes".into());
    let stale = current.clone();
    let updated = pods
        .replace("replaced", &PostParams::default(), &current)
        .await
        .unwrap();
    assert_eq!(updated.metadata.labels.unwrap()["replaced"], "yes");
    let conflict = api_error(pods.replace("replaced", &PostParams::default(), &stale).await);
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));

    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(setup.client.clone(), NAMESPACE);
    let event: k8s_openapi::api::events::v1::Event = typed(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"generateName": "xjob-"},
        "eventTime": "2025-01-01T00:00:00.000000Z",
        "reportingController": "xjob/executor", "reportingInstance": "test",
        "action": "Kill", "reason": "Killed", "type": "Normal", "note": "killed by the scheduling center",
        "regarding": {"kind": "Pod", "namespace": NAMESPACE, "name": "replaced"},
    }));
    let created = events.create(&PostParams::default(), &event).await.unwrap();
    assert!(created.metadata.name.unwrap().starts_with("xjob-"));
    let listed = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(
        listed.items[0].note.as_deref(),
        Some("killed by the scheduling center")
    );
    setup.standin.shutdown().await;
}
