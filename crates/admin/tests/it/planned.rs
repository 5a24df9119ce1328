//! Planned triggers in the store, on every engine: listing order, the scheduler's claim (due ones only,
//! gone once committed, back after a rollback), the hand-back with the same ids, cancelling, and the
//! cleanup when their job is deleted.

use xjob_admin::model::{JobGroupId, JobId, NewPlannedTrigger, PlannedTrigger, PlannedTriggerId};
use xjob_admin::store::Store;

use crate::support::{each_store, new_job, now};

fn planned(job_id: JobId, trigger_time: i64, param: Option<&str>, addresses: &[&str]) -> NewPlannedTrigger {
    NewPlannedTrigger {
        job_id,
        trigger_time,
        executor_param: param.map(str::to_owned),
        address_list: addresses.iter().map(|address| (*address).to_owned()).collect(),
        created_by: "tests (token 1)".to_owned(),
    }
}

async fn ids(store: &Store, job: JobId) -> Vec<PlannedTriggerId> {
    store
        .planned_triggers(job)
        .await
        .unwrap()
        .iter()
        .map(|trigger| trigger.id)
        .collect()
}

#[tokio::test]
async fn planned_triggers_are_listed_claimed_once_restored_and_cancelled() {
    each_store(|store, engine| async move {
        let job = store
            .insert_job(&new_job(JobGroupId(1), "planned"), now())
            .await
            .unwrap();
        let other = store
            .insert_job(&new_job(JobGroupId(1), "other"), now())
            .await
            .unwrap();
        let late = store
            .insert_planned_trigger(&planned(job, 3_000, None, &[]), now())
            .await
            .unwrap();
        let early = store
            .insert_planned_trigger(
                &planned(
                    job,
                    1_000,
                    Some("p=1"),
                    &["http://127.0.0.1:7001/", "http://127.0.0.1:7002/"],
                ),
                now(),
            )
            .await
            .unwrap();
        let elsewhere = store
            .insert_planned_trigger(&planned(other, 2_000, Some(""), &[]), now())
            .await
            .unwrap();
        assert_eq!(ids(&store, job).await, [early, late], "{engine:?}");
        let listed = store.planned_trigger(early).await.unwrap().unwrap();
        assert_eq!(
            listed,
            PlannedTrigger {
                id: early,
                job_id: job,
                trigger_time: 1_000,
                executor_param: Some("p=1".into()),
                address_list: vec!["http://127.0.0.1:7001/".into(), "http://127.0.0.1:7002/".into()],
                created_at: now(),
                created_by: "tests (token 1)".into(),
            },
            "{engine:?}"
        );
        assert_eq!(
            store
                .planned_trigger(elsewhere)
                .await
                .unwrap()
                .unwrap()
                .executor_param
                .as_deref(),
            Some(""),
            "{engine:?}: an empty parameter is not the job's own"
        );

        // A rolled-back claim leaves them in place.
        let mut tx = store.lock_schedule().await.unwrap();
        assert_eq!(tx.claim_planned_triggers(2_000, 10).await.unwrap().len(), 2);
        drop(tx);
        assert_eq!(ids(&store, job).await, [early, late], "{engine:?}");

        // A committed claim takes the due ones, earliest first and at most the limit; nobody sees them
        // again.
        let mut tx = store.lock_schedule().await.unwrap();
        let claimed = tx.claim_planned_triggers(2_000, 1).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(claimed, std::slice::from_ref(&listed), "{engine:?}");
        let mut tx = store.lock_schedule().await.unwrap();
        let next = tx.claim_planned_triggers(2_000, 10).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            next.iter().map(|trigger| trigger.id).collect::<Vec<_>>(),
            [elsewhere],
            "{engine:?}"
        );
        assert_eq!(ids(&store, job).await, [late], "{engine:?}");
        assert!(!store.delete_planned_trigger(early).await.unwrap(), "{engine:?}");

        // Handed back, they are there again under their ids; a new one gets a fresh id.
        let mut tx = store.lock_schedule().await.unwrap();
        tx.restore_planned_triggers(&claimed).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            store.planned_trigger(early).await.unwrap(),
            Some(listed),
            "{engine:?}"
        );
        let fresh = store
            .insert_planned_trigger(&planned(job, 4_000, None, &[]), now())
            .await
            .unwrap();
        assert!(fresh.0 > elsewhere.0, "{engine:?}: {fresh} reuses an id");
        assert_eq!(ids(&store, job).await, [early, late, fresh], "{engine:?}");

        // Cancelled once; deleting the job takes the rest.
        assert!(store.delete_planned_trigger(late).await.unwrap(), "{engine:?}");
        assert!(!store.delete_planned_trigger(late).await.unwrap(), "{engine:?}");
        assert!(store.delete_job(job).await.unwrap(), "{engine:?}");
        assert!(ids(&store, job).await.is_empty(), "{engine:?}");
        assert_eq!(store.planned_trigger(early).await.unwrap(), None, "{engine:?}");
    })
    .await;
}
