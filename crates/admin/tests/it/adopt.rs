//! Adopting databases created by upstream XXL-JOB (MySQL only): the upstream rows survive, only
//! additive migrations run, and the scheduler's queries work on the old column names.

use chrono::TimeDelta;
use sqlx::Connection;
use xjob_admin::model::{
    GlueType, GroupScope, JobGroupId, JobId, Lenient, NewApiToken, NewJobLog, NewPlannedTrigger,
    ScheduleState, ScheduleType, TriggerStatus,
};
use xjob_admin::store::{LogFilter, Naming, Page, ScheduleUpdate, Store, migrate};
use xjob_test_support::db::{Engine, TestDatabase, mysql_enabled};

use crate::e2e::{Node, Rig, admin_config};
use crate::support::{new_job, now, open};

const UPSTREAM_2_4: &str = include_str!("fixtures/upstream_2_4.sql");
const UPSTREAM_3_4: &str = include_str!("fixtures/upstream_3_4.sql");

async fn load_fixture(database: &TestDatabase, fixture: &str) {
    load_statements(database, fixture, |_| true).await;
}

/// Runs the fixture's statements that `keep` accepts.
async fn load_statements(database: &TestDatabase, fixture: &str, keep: impl Fn(&str) -> bool) {
    let mut connection = sqlx::MySqlConnection::connect(database.url()).await.unwrap();
    for statement in fixture
        .split(";\n")
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
    {
        let statement: String = statement
            .lines()
            .filter(|line| !line.starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        if !keep(&statement) {
            continue;
        }
        sqlx::query(&statement)
            .execute(&mut connection)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
    connection.close().await.unwrap();
}

async fn column_exists(database: &TestDatabase, table: &str, column: &str) -> bool {
    let mut connection = sqlx::MySqlConnection::connect(database.url()).await.unwrap();
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?",
    )
    .bind(table)
    .bind(column)
    .fetch_optional(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();
    found.is_some()
}

/// What every adopted fixture must satisfy; `legacy_hash` is the seeded admin's password hash.
async fn check_adopted(database: &TestDatabase, store: &Store, legacy_hash: &str) {
    assert_eq!(store.naming(), Naming::Legacy);
    assert_eq!(migrate::applied_versions(store).await.unwrap(), [1, 2, 3, 4]);
    // Upstream columns were neither renamed nor dropped; ours were added.
    assert!(column_exists(database, "xxl_job_info", "job_desc").await);
    assert!(column_exists(database, "xxl_job_group", "title").await);
    assert!(column_exists(database, "xxl_job_info", "schedule_time_zone").await);
    assert!(column_exists(database, "xxl_job_group", "access_token").await);

    let groups = store.groups().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(
        (groups[0].name.as_str(), groups[0].access_token.as_deref()),
        ("sample", None)
    );
    assert_eq!(groups[0].address_list.as_deref(), Some("http://10.0.0.5:9999/"));

    let jobs = store.jobs_by_ids(&[JobId(1), JobId(2), JobId(3)]).await.unwrap();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0].settings.name, "test job 1");
    assert_eq!(
        jobs[0].settings.schedule.schedule_type,
        Lenient::Known(ScheduleType::Cron)
    );
    assert_eq!(jobs[1].glue.glue_type, Lenient::Known(GlueType::Shell));
    assert_eq!(jobs[1].glue.source.as_deref(), Some("echo hi"));
    assert_eq!(jobs[1].settings.retry.count, 2);
    assert_eq!(jobs[1].settings.retry.interval_seconds, None);
    assert_eq!(jobs[1].settings.time_zone, None);
    assert_eq!(jobs[2].settings.param, None);
    assert_eq!(
        jobs[0].add_time.map(|at| at.to_string()).as_deref(),
        Some("2018-11-03 14:21:31 UTC")
    );

    // The scheduler scans and advances the upstream jobs.
    let mut tx = store.lock_schedule().await.unwrap();
    let due = tx.due_jobs(1_700_000_086_400, 100).await.unwrap();
    assert_eq!(
        due.iter().map(|job| job.id).collect::<Vec<_>>(),
        [JobId(1), JobId(2)]
    );
    let updates: Vec<ScheduleUpdate> = due
        .iter()
        .map(|job| ScheduleUpdate {
            id: job.id,
            last_time: job.state.next_time,
            next_time: job.state.next_time + 86_400_000,
            status: TriggerStatus::Running,
        })
        .collect();
    assert_eq!(tx.update_schedules(&updates).await.unwrap(), 2);
    tx.commit().await.unwrap();
    assert_eq!(
        store.job(JobId(2)).await.unwrap().unwrap().state.next_time,
        1_700_000_030_000 + 86_400_000
    );

    // Planned triggers (migration 4) live in a table of their own beside the upstream ones.
    let planned = NewPlannedTrigger {
        job_id: JobId(1),
        trigger_time: 1_700_000_000_000,
        executor_param: Some("p".into()),
        address_list: vec!["http://10.0.0.5:9999/".into()],
        created_by: "adopt".into(),
    };
    let planned_id = store.insert_planned_trigger(&planned, now()).await.unwrap();
    let mut tx = store.lock_schedule().await.unwrap();
    let claimed = tx.claim_planned_triggers(1_700_000_000_000, 10).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        claimed.iter().map(|trigger| trigger.id).collect::<Vec<_>>(),
        [planned_id]
    );
    assert!(store.planned_triggers(JobId(1)).await.unwrap().is_empty());

    // New rows go through the old column names.
    let new_id = store
        .insert_job(&new_job(JobGroupId(1), "added later"), now())
        .await
        .unwrap();
    assert_eq!(new_id, JobId(4));
    let added = store.job(new_id).await.unwrap().unwrap();
    assert_eq!(added.settings, new_job(JobGroupId(1), "added later").settings);
    assert!(
        store
            .set_job_state(new_id, ScheduleState::started(5), now())
            .await
            .unwrap()
    );

    // Logs, GLUE history, users, registrations and tokens.
    let logs = store
        .logs_page(&LogFilter::default(), Page::first(10))
        .await
        .unwrap();
    assert_eq!(logs.total, 1);
    assert_eq!(logs.rows[0].handle.code, 200);
    let ids = store
        .insert_logs(
            &[NewJobLog {
                job_group: JobGroupId(1),
                job_id: JobId(1),
                trigger_time: now(),
            }; 3],
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids[0].0 > logs.rows[0].id.0 && ids[2].0 == ids[0].0 + 2);
    assert_eq!(store.glue_history(JobId(2)).await.unwrap().len(), 1);
    assert!(
        store
            .save_glue(JobId(2), "echo new", "second version", now())
            .await
            .unwrap()
    );
    assert_eq!(
        store.glue_history(JobId(2)).await.unwrap()[0].remark,
        "second version"
    );

    let admin = store.user_by_name("admin").await.unwrap().unwrap();
    assert_eq!(admin.password_hash, legacy_hash);
    let modern =
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
    assert!(store.update_password(admin.id, modern).await.unwrap());
    assert_eq!(store.user(admin.id).await.unwrap().unwrap().password_hash, modern);
    assert!(store.set_user_token(admin.id, Some("abc")).await.unwrap());

    store
        .upsert_registry(
            "EXECUTOR",
            "xxl-job-executor-sample",
            "http://10.0.0.5:9999/",
            now(),
        )
        .await
        .unwrap();
    let live = store
        .live_registries(now() - TimeDelta::seconds(1))
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    let token = NewApiToken {
        name: "ci".into(),
        token_hash: "h".into(),
        scope: GroupScope::All,
        created_by: Some(admin.id),
    };
    store.insert_api_token(&token, now()).await.unwrap();
}

async fn adopt(fixture: &str, legacy_hash: &str) {
    if !mysql_enabled() {
        return;
    }
    let database = TestDatabase::create(Engine::MySql).await;
    load_fixture(&database, fixture).await;
    let store = open(&database).await;
    check_adopted(&database, &store, legacy_hash).await;
    store.close().await;
    // A second start changes nothing and still reads the data.
    let again = open(&database).await;
    assert_eq!(migrate::applied_versions(&again).await.unwrap(), [1, 2, 3, 4]);
    assert_eq!(again.count_jobs(None).await.unwrap(), 4);
    again.close().await;
}

#[tokio::test]
async fn adopts_upstream_2_4_database() {
    adopt(UPSTREAM_2_4, "e10adc3949ba59abbe56e057f20f883e").await;
}

#[tokio::test]
async fn adopts_upstream_3_4_database() {
    adopt(
        UPSTREAM_3_4,
        "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92",
    )
    .await;
}

/// Upstream's tables with their lock row and administrator, an automatic group for `APP` and two BEAN
/// jobs firing every second from the next second on, as an upstream console would have saved them.
async fn seed_upstream(database: &TestDatabase, fixture: &str) {
    load_statements(database, fixture, |statement| {
        statement.starts_with("CREATE TABLE")
            || statement.starts_with("INSERT INTO xxl_job_lock")
            || statement.starts_with("INSERT INTO xxl_job_user")
    })
    .await;
    let next = (chrono::Utc::now().timestamp() + 2) * 1000;
    let mut connection = sqlx::MySqlConnection::connect(database.url()).await.unwrap();
    sqlx::query(
        "INSERT INTO xxl_job_group (id, app_name, title, address_type, address_list, update_time) \
         VALUES (1, ?, 'upstream', 0, NULL, NOW())",
    )
    .bind(UPSTREAM_APP)
    .execute(&mut connection)
    .await
    .unwrap();
    for (id, route, param) in [(1, "FIRST", "p1"), (2, "ROUND", "p2")] {
        sqlx::query(
            "INSERT INTO xxl_job_info (id, job_group, job_desc, add_time, update_time, author, alarm_email, \
             schedule_type, schedule_conf, misfire_strategy, executor_route_strategy, executor_handler, \
             executor_param, executor_block_strategy, executor_timeout, executor_fail_retry_count, glue_type, \
             glue_source, glue_remark, glue_updatetime, child_jobid, trigger_status, trigger_last_time, \
             trigger_next_time) \
             VALUES (?, 1, 'every second', NOW(), NOW(), 'XXL', '', 'CRON', '* * * * * ?', 'DO_NOTHING', ?, \
             'record', ?, 'SERIAL_EXECUTION', 0, 0, 'BEAN', '', 'GLUE init', NOW(), '', 1, 0, ?)",
        )
        .bind(id)
        .bind(route)
        .bind(param)
        .bind(next)
        .execute(&mut connection)
        .await
        .unwrap();
    }
    connection.close().await.unwrap();
}

fn finished_ok(row: &xjob_admin::model::JobLog) -> bool {
    row.trigger.code == 200 && row.handle.code == 200
}

const UPSTREAM_APP: &str = "xxl-job-executor-upstream";

/// An admin started on an upstream database fires its jobs on an executor that registers for the
/// group's AppName.
async fn adopted_jobs_fire(label: &str, fixture: &str) {
    let database = TestDatabase::create(Engine::MySql).await;
    seed_upstream(&database, fixture).await;
    let rig = Rig::start_on(Engine::MySql, admin_config(database.url())).await;
    assert_eq!(rig.store().naming(), Naming::Legacy, "{label}");
    let node = Node::start(UPSTREAM_APP, &rig.context_path_url()).await;
    for (job, param) in [(JobId(1), "p1"), (JobId(2), "p2")] {
        let rows = rig
            .logs_when(job, "fired twice on the executor", |rows| {
                rows.iter().filter(|row| finished_ok(row)).count() >= 2
            })
            .await;
        for row in rows.iter().filter(|row| finished_ok(row)) {
            assert_eq!(
                row.trigger.executor_address.as_deref(),
                Some(node.address().as_str())
            );
            assert_eq!(node.call_for(row.id).await.param, param, "{label}");
        }
    }
    node.stop().await;
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopted_upstream_jobs_fire_on_a_registered_executor() {
    if !mysql_enabled() {
        eprintln!("skipping adopted_upstream_jobs_fire_on_a_registered_executor: TEST_MYSQL_URL not set");
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::join!(
        adopted_jobs_fire("2.4", UPSTREAM_2_4),
        adopted_jobs_fire("3.4", UPSTREAM_3_4)
    );
}
