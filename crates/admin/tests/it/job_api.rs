//! The job API over real HTTP on 127.0.0.1:0, on every storage engine: token scope and hashing, CRUD
//! round trips with validation errors, start/stop next times, trigger now through a real queue, the
//! OpenAPI document, and the live log and kill against a real SDK executor.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use xjob_admin::job_api::{self, JobApiOptions, JobApiState, hash_token, mint_token};
use xjob_admin::model::{
    AppName, GroupScope, JobGroupId, JobId, LogHandle, LogId, LogTrigger, NewJobGroup, NewJobLog,
};
use xjob_admin::store::Store;
use xjob_admin::trigger::{
    ClientOptions, ExecutorClient, ExecutorGenerations, ExecutorTarget, TriggerQueue, TriggerRequest,
    TriggerType,
};
use xjob_executor::{Executor, ExecutorConfig, JobContext, JobResult};
use xjob_protocol::{BlockStrategy, Generation, GlueType, Lenient};
use xjob_test_support::{StandinAdmin, json_call, wait_until};

use crate::support::each_store;

/// The group every migrated database starts with.
const SAMPLE_GROUP: JobGroupId = JobGroupId(1);

/// A job API served on loopback, with the receiving end of its trigger queue.
struct Server {
    base: String,
    http: reqwest::Client,
    triggers: mpsc::Receiver<TriggerRequest>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// An answer: status and JSON body (`Value::Null` when empty).
struct Answer {
    status: u16,
    body: Value,
}

impl Server {
    async fn start(store: &Store, options: JobApiOptions) -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (queue, triggers) = TriggerQueue::bounded(16);
        let client = ExecutorClient::new(&ClientOptions::default()).unwrap();
        let wake = Arc::new(Notify::new());
        let state = JobApiState::new(
            store.clone(),
            queue,
            client,
            ExecutorGenerations::new(Generation::G3),
        )
        .with_scheduler_wake(Arc::clone(&wake))
        .with_options(options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = job_api::router(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            base,
            http: reqwest::Client::new(),
            triggers,
            wake,
            task,
        }
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}{path}", self.base);
        let (status, body) = json_call(&self.http, method, &url, token, body).await;
        Answer { status, body }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Answer {
    #[track_caller]
    fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        self.body
    }

    /// Asserts an error answer with its status, `code` and blamed field.
    #[track_caller]
    fn expect_error(self, status: u16, field: Option<&str>) -> String {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["code"], json!(status));
        assert_eq!(self.body["field"].as_str(), field, "body: {}", self.body);
        self.body["message"].as_str().unwrap().to_owned()
    }
}

async fn admin_token(store: &Store) -> String {
    mint_token(store, "admin", GroupScope::All, None, Utc::now())
        .await
        .unwrap()
        .token
}

fn job_body(group: JobGroupId, name: &str) -> Value {
    json!({
        "jobGroup": group.0,
        "name": name,
        "author": "ops",
        "scheduleType": "CRON",
        "scheduleConf": "0 0 3 * * ?",
        "executorHandler": "demoJobHandler",
        "executorParam": "p=1",
        "executorRouteStrategy": "ROUND",
        "executorFailRetryCount": 1
    })
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

#[tokio::test]
async fn tokens_are_stored_hashed_and_limit_requests_to_their_groups() {
    each_store(|store, _| async move {
        let server = Server::start(&store, JobApiOptions::default()).await;
        let admin = admin_token(&store).await;

        // Without or with a wrong token nothing is served.
        server
            .call("GET", "/api/v1/groups", None, None)
            .await
            .expect_error(401, None);
        server
            .call("GET", "/api/v1/groups", Some("xjob_not-a-token"), None)
            .await
            .expect_error(401, None);

        let other = server
            .call(
                "POST",
                "/api/v1/groups",
                Some(&admin),
                Some(json!({"appName": "billing-executor", "name": "Billing"})),
            )
            .await
            .expect(201);
        let other_group = JobGroupId(other["id"].as_i64().unwrap() as i32);

        // An administrator token mints a token for the sample group; its secret is in the answer only.
        let created = server
            .call(
                "POST",
                "/api/v1/tokens",
                Some(&admin),
                Some(json!({"name": "sample scripts", "groups": [SAMPLE_GROUP.0]})),
            )
            .await
            .expect(201);
        let scoped = created["token"].as_str().unwrap().to_owned();
        assert!(scoped.starts_with("xjob_") && scoped.len() > 40, "{scoped}");
        assert_eq!(created["groups"], json!([SAMPLE_GROUP.0]));
        assert_eq!(created["allGroups"], json!(false));
        let stored = store.api_tokens().await.unwrap();
        assert_eq!(stored.len(), 2);
        for token in &stored {
            assert_ne!(token.token_hash, scoped);
            assert!(!token.token_hash.contains(&scoped) && !token.token_hash.contains(&admin));
        }
        assert!(stored.iter().any(|token| token.token_hash == hash_token(&scoped)));
        let listed = server
            .call("GET", "/api/v1/tokens", Some(&admin), None)
            .await
            .expect(200);
        assert!(
            listed.to_string().find(&scoped).is_none(),
            "a listing never shows a secret"
        );

        // The scoped token sees its group only.
        let groups = server
            .call("GET", "/api/v1/groups", Some(&scoped), None)
            .await
            .expect(200);
        assert_eq!(groups["total"], json!(1));
        assert_eq!(groups["items"][0]["id"], json!(SAMPLE_GROUP.0));
        server
            .call(
                "GET",
                &format!("/api/v1/groups/{other_group}"),
                Some(&scoped),
                None,
            )
            .await
            .expect_error(403, None);
        server
            .call(
                "POST",
                "/api/v1/jobs",
                Some(&scoped),
                Some(job_body(other_group, "x")),
            )
            .await
            .expect_error(403, None);
        server
            .call(
                "GET",
                &format!("/api/v1/jobs?jobGroup={other_group}"),
                Some(&scoped),
                None,
            )
            .await
            .expect_error(403, None);
        server
            .call("GET", "/api/v1/tokens", Some(&scoped), None)
            .await
            .expect_error(403, None);
        server
            .call(
                "POST",
                "/api/v1/groups",
                Some(&scoped),
                Some(json!({"appName": "abcd", "name": "n"})),
            )
            .await
            .expect_error(403, None);

        // A job in the other group is invisible to it, one in its own group is not.
        let foreign = server
            .call(
                "POST",
                "/api/v1/jobs",
                Some(&admin),
                Some(job_body(other_group, "foreign")),
            )
            .await
            .expect(201);
        let own = server
            .call(
                "POST",
                "/api/v1/jobs",
                Some(&scoped),
                Some(job_body(SAMPLE_GROUP, "own")),
            )
            .await
            .expect(201);
        server
            .call(
                "GET",
                &format!("/api/v1/jobs/{}", foreign["id"]),
                Some(&scoped),
                None,
            )
            .await
            .expect_error(403, None);
        server
            .call(
                "POST",
                &format!("/api/v1/jobs/{}/trigger", foreign["id"]),
                Some(&scoped),
                Some(json!({})),
            )
            .await
            .expect_error(403, None);
        // Planned triggers follow their job's group: listing and cancelling a foreign one are refused.
        let later = (Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
        let foreign_planned = server
            .call(
                "POST",
                &format!("/api/v1/jobs/{}/trigger", foreign["id"]),
                Some(&admin),
                Some(json!({"triggerTime": later})),
            )
            .await
            .expect(202);
        server
            .call(
                "GET",
                &format!("/api/v1/jobs/{}/planned-triggers", foreign["id"]),
                Some(&scoped),
                None,
            )
            .await
            .expect_error(403, None);
        let cancel_foreign = format!("/api/v1/planned-triggers/{}", foreign_planned["plannedTriggerId"]);
        server
            .call("DELETE", &cancel_foreign, Some(&scoped), None)
            .await
            .expect_error(403, None);
        let own_planned = server
            .call(
                "POST",
                &format!("/api/v1/jobs/{}/trigger", own["id"]),
                Some(&scoped),
                Some(json!({"triggerTime": later, "executorParam": "x"})),
            )
            .await
            .expect(202);
        let own_list = server
            .call(
                "GET",
                &format!("/api/v1/jobs/{}/planned-triggers", own["id"]),
                Some(&scoped),
                None,
            )
            .await
            .expect(200);
        assert_eq!(own_list["items"].as_array().unwrap().len(), 1);
        assert_eq!(own_list["items"][0]["id"], own_planned["plannedTriggerId"]);
        assert_eq!(
            own_list["items"][0]["createdBy"],
            json!(format!("sample scripts (token {})", created["id"]))
        );
        server
            .call(
                "DELETE",
                &format!("/api/v1/planned-triggers/{}", own_planned["plannedTriggerId"]),
                Some(&scoped),
                None,
            )
            .await
            .expect(204);
        server
            .call("DELETE", &cancel_foreign, Some(&admin), None)
            .await
            .expect(204);
        // Naming a foreign job as a child is refused as well.
        server
            .call(
                "PUT",
                &format!("/api/v1/jobs/{}", own["id"]),
                Some(&scoped),
                Some(with(
                    job_body(SAMPLE_GROUP, "own"),
                    "childJobId",
                    json!(foreign["id"].to_string()),
                )),
            )
            .await
            .expect_error(403, None);
        let jobs = server
            .call("GET", "/api/v1/jobs", Some(&scoped), None)
            .await
            .expect(200);
        assert_eq!(jobs["total"], json!(1));
        assert_eq!(jobs["items"][0]["name"], json!("own"));

        // Use is recorded; revocation takes effect at once.
        let used = store
            .api_token_by_hash(&hash_token(&scoped))
            .await
            .unwrap()
            .unwrap();
        assert!(used.last_used_time.is_some());
        server
            .call(
                "DELETE",
                &format!("/api/v1/tokens/{}", created["id"]),
                Some(&admin),
                None,
            )
            .await
            .expect(204);
        server
            .call("GET", "/api/v1/jobs", Some(&scoped), None)
            .await
            .expect_error(401, None);
        server
            .call(
                "DELETE",
                &format!("/api/v1/tokens/{}", created["id"]),
                Some(&admin),
                None,
            )
            .await
            .expect_error(404, None);
    })
    .await;
}

#[tokio::test]
async fn jobs_round_trip_with_validation_and_schedule_changes() {
    each_store(|store, _| async move {
        let server = Server::start(&store, JobApiOptions::default()).await;
        let admin = admin_token(&store).await;
        let token = Some(admin.as_str());

        let created = server
            .call("POST", "/api/v1/jobs", token, Some(job_body(SAMPLE_GROUP, "nightly export")))
            .await
            .expect(201);
        let id = created["id"].as_i64().unwrap();
        assert_eq!(created["triggerStatus"], json!("stopped"));
        assert_eq!(created["misfireStrategy"], json!("DO_NOTHING"));
        assert_eq!(created["executorBlockStrategy"], json!("SERIAL_EXECUTION"));
        assert_eq!(created["glueType"], json!("BEAN"));
        let fetched = server.call("GET", &format!("/api/v1/jobs/{id}"), token, None).await.expect(200);
        assert_eq!(fetched, created);
        let stored = store.job(JobId(id as i32)).await.unwrap().unwrap();
        assert_eq!(stored.settings.handler.as_deref(), Some("demoJobHandler"));
        assert_eq!(stored.settings.retry.count, 1);

        // Validation names the field and writes nothing.
        let base = job_body(SAMPLE_GROUP, "bad");
        let cases = [
            (with(base.clone(), "scheduleConf", json!("61 * * * * ?")), "scheduleConf"),
            (with(base.clone(), "scheduleType", json!("FIX_DELAY")), "scheduleType"),
            (
                with(with(base.clone(), "scheduleType", json!("FIX_RATE")), "scheduleConf", json!("0")),
                "scheduleConf",
            ),
            (with(base.clone(), "executorRouteStrategy", json!("NEAREST")), "executorRouteStrategy"),
            (with(base.clone(), "executorBlockStrategy", json!("QUEUE")), "executorBlockStrategy"),
            (with(base.clone(), "glueType", json!("GLUE_COBOL")), "glueType"),
            (with(base.clone(), "executorHandler", json!("  ")), "executorHandler"),
            (with(base.clone(), "name", json!(" ")), "name"),
            (with(base.clone(), "childJobId", json!("999999")), "childJobId"),
            (with(base.clone(), "childJobId", json!("1,x")), "childJobId"),
            (with(base.clone(), "jobGroup", json!(424242)), "jobGroup"),
            (with(base.clone(), "scheduleTimeZone", json!("Mars/Olympus")), "scheduleTimeZone"),
            (with(base.clone(), "executorTimeout", json!("ten")), "executorTimeout"),
            (with(base.clone(), "colour", json!("red")), "colour"),
        ];
        for (body, field) in cases {
            let message = server
                .call("POST", "/api/v1/jobs", token, Some(body))
                .await
                .expect_error(400, Some(field));
            assert!(message.starts_with(field), "{message}");
        }
        let cron_error = server
            .call("POST", "/api/v1/jobs", token, Some(with(base.clone(), "scheduleConf", json!("0 0 25 * * ?"))))
            .await
            .expect_error(400, Some("scheduleConf"));
        assert!(cron_error.contains("25"), "the cron error names the token: {cron_error}");
        server
            .call("POST", "/api/v1/jobs", token, Some(json!("not an object")))
            .await
            .expect_error(400, None);
        assert_eq!(store.count_jobs(None).await.unwrap(), 1);

        // A GLUE job needs no handler.
        let glue = json!({"jobGroup": SAMPLE_GROUP.0, "name": "script", "author": "ops", "scheduleType": "NONE",
            "glueType": "GLUE_SHELL", "glueSource": "echo hi\r\n", "glueRemark": "first"});
        let glue = server.call("POST", "/api/v1/jobs", token, Some(glue)).await.expect(201);
        assert_eq!(glue["glueSource"], json!("echo hi\n"));
        assert_eq!(glue["executorHandler"], json!(""));
        server
            .call("POST", &format!("/api/v1/jobs/{}/start", glue["id"]), token, None)
            .await
            .expect_error(409, None);

        // Start: the next fire is at least five seconds ahead; the scheduler is woken.
        let every_ten = with(
            with(job_body(SAMPLE_GROUP, "nightly export"), "scheduleType", json!("FIX_RATE")),
            "scheduleConf",
            json!("10"),
        );
        server.call("PUT", &format!("/api/v1/jobs/{id}"), token, Some(every_ten)).await.expect(200);
        let woken = server.wake.notified();
        let before = Utc::now().timestamp_millis();
        let started = server
            .call("POST", &format!("/api/v1/jobs/{id}/start"), token, None)
            .await
            .expect(200);
        let after = Utc::now().timestamp_millis();
        assert_eq!(started["triggerStatus"], json!("running"));
        let next = started["triggerNextTime"].as_i64().unwrap();
        assert!(next >= before + 15_000 && next <= after + 16_000, "{before} {next} {after}");
        assert_eq!(next % 1000, 0);
        tokio::time::timeout(Duration::from_secs(5), woken).await.unwrap();

        // Editing the schedule of a running job recomputes the next time; the cron runs in the job's zone.
        let cron = with(
            job_body(SAMPLE_GROUP, "nightly export v2"),
            "scheduleTimeZone",
            json!("Asia/Tokyo"),
        );
        let edited = server.call("PUT", &format!("/api/v1/jobs/{id}"), token, Some(cron)).await.expect(200);
        assert_eq!(edited["name"], json!("nightly export v2"));
        assert_eq!(edited["triggerStatus"], json!("running"));
        let next = edited["triggerNextTime"].as_i64().unwrap();
        let next_utc = chrono::DateTime::from_timestamp_millis(next).unwrap();
        assert_eq!(next_utc.format("%H:%M:%S").to_string(), "18:00:00", "03:00 in Tokyo");
        let times = server
            .call("GET", &format!("/api/v1/jobs/{id}/fire-times?count=3"), token, None)
            .await
            .expect(200);
        let epoch: Vec<i64> = times["epochMs"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap()).collect();
        assert_eq!(epoch.len(), 3);
        assert_eq!(epoch[1] - epoch[0], 86_400_000);
        assert_eq!(times["times"][0].as_str().unwrap().len(), "2026-01-01T18:00:00Z".len());
        server
            .call("GET", &format!("/api/v1/jobs/{id}/fire-times?count=0"), token, None)
            .await
            .expect_error(400, Some("count"));
        let preview = server
            .call("POST", "/api/v1/fire-times", token, Some(json!({"scheduleType": "FIX_RATE", "scheduleConf": "60", "count": 2})))
            .await
            .expect(200);
        assert_eq!(preview["epochMs"].as_array().unwrap().len(), 2);

        // The list filters by status and text; stop clears the schedule.
        let running = server
            .call("GET", "/api/v1/jobs?triggerStatus=running&name=EXPORT", token, None)
            .await
            .expect(200);
        assert_eq!(running["total"], json!(1));
        let stopped = server.call("POST", &format!("/api/v1/jobs/{id}/stop"), token, None).await.expect(200);
        assert_eq!((stopped["triggerStatus"].clone(), stopped["triggerNextTime"].clone()), (json!("stopped"), json!(0)));
        let page = server.call("GET", "/api/v1/jobs?limit=1&offset=1", token, None).await.expect(200);
        assert_eq!((page["total"].clone(), page["items"].as_array().unwrap().len()), (json!(2), 1));
        server.call("GET", "/api/v1/jobs?limit=501", token, None).await.expect_error(400, Some("limit"));

        // Groups: used groups and the last group cannot go; deletion of jobs works.
        server
            .call("DELETE", &format!("/api/v1/groups/{SAMPLE_GROUP}"), token, None)
            .await
            .expect_error(409, None);
        server.call("DELETE", &format!("/api/v1/jobs/{id}"), token, None).await.expect(204);
        server.call("GET", &format!("/api/v1/jobs/{id}"), token, None).await.expect_error(404, None);
        server.call("DELETE", &format!("/api/v1/jobs/{}", glue["id"]), token, None).await.expect(204);
        server
            .call("DELETE", &format!("/api/v1/groups/{SAMPLE_GROUP}"), token, None)
            .await
            .expect_error(409, None);
        server.call("GET", "/api/v1/jobs/abc", token, None).await.expect_error(400, None);
    })
    .await;
}

#[tokio::test]
async fn groups_follow_upstream_rules() {
    each_store(|store, _| async move {
        let server = Server::start(&store, JobApiOptions::default()).await;
        let admin = admin_token(&store).await;
        let token = Some(admin.as_str());
        let cases = [
            (json!({"appName": "abc", "name": "n"}), "appName"),
            (json!({"appName": "abcd", "name": ""}), "name"),
            (json!({"appName": "abcd", "name": "<script>x</script>"}), "name"),
            (json!({"appName": "abcd", "name": "n", "addressType": "manual"}), "addressList"),
            (json!({"appName": "abcd", "name": "n", "addressType": "manual", "addressList": ["10.0.0.1:9999"]}), "addressList"),
            (json!({"appName": "abcd", "name": "n", "addressType": "sometimes"}), "addressType"),
        ];
        for (body, field) in cases {
            server.call("POST", "/api/v1/groups", token, Some(body)).await.expect_error(400, Some(field));
        }
        let manual = server
            .call(
                "POST",
                "/api/v1/groups",
                token,
                Some(json!({"appName": "manual-app", "name": "Manual", "addressType": "manual",
                    "addressList": ["http://10.0.0.1:9999/", " https://10.0.0.2:9999/ "], "accessToken": "secret_t"})),
            )
            .await
            .expect(201);
        assert_eq!(manual["addressList"], json!(["http://10.0.0.1:9999/", "https://10.0.0.2:9999/"]));
        assert_eq!(manual["accessTokenSet"], json!(true));
        assert!(!manual.to_string().contains("secret_t"));
        server
            .call("POST", "/api/v1/groups", token, Some(json!({"appName": "manual-app", "name": "Again"})))
            .await
            .expect_error(409, None);
        let id = manual["id"].as_i64().unwrap();

        // Switching to automatic takes the live registrations.
        store
            .upsert_registry("EXECUTOR", "manual-app", "http://127.0.0.1:7001/", Utc::now())
            .await
            .unwrap();
        let updated = server
            .call(
                "PUT",
                &format!("/api/v1/groups/{id}"),
                token,
                Some(json!({"appName": "manual-app", "name": "Automatic now"})),
            )
            .await
            .expect(200);
        assert_eq!(updated["addressType"], json!("automatic"));
        assert_eq!(updated["addressList"], json!(["http://127.0.0.1:7001/"]));
        assert_eq!(updated["accessTokenSet"], json!(false));
        server
            .call("PUT", &format!("/api/v1/groups/{id}"), token, Some(json!({"appName": "renamed", "name": "x"})))
            .await
            .expect_error(400, Some("appName"));
        let listed = server.call("GET", "/api/v1/groups?appName=MANUAL", token, None).await.expect(200);
        assert_eq!(listed["total"], json!(1));
        server.call("DELETE", &format!("/api/v1/groups/{id}"), token, None).await.expect(204);
        server.call("GET", &format!("/api/v1/groups/{id}"), token, None).await.expect_error(404, None);
    })
    .await;
}

#[tokio::test]
async fn trigger_now_goes_through_the_queue_and_refuses_unregistered_addresses() {
    each_store(|store, _| async move {
        let mut server = Server::start(&store, JobApiOptions::default()).await;
        let admin = admin_token(&store).await;
        let token = Some(admin.as_str());
        let job = server
            .call(
                "POST",
                "/api/v1/jobs",
                token,
                Some(job_body(SAMPLE_GROUP, "adhoc")),
            )
            .await
            .expect(201);
        let job_id = job["id"].as_i64().unwrap() as i32;
        let sample = store.group(SAMPLE_GROUP).await.unwrap().unwrap();
        store
            .upsert_registry("EXECUTOR", &sample.app_name, "http://127.0.0.1:7002/", Utc::now())
            .await
            .unwrap();

        // An address nobody registered is refused before anything is queued.
        server
            .call(
                "POST",
                &format!("/api/v1/jobs/{job_id}/trigger"),
                token,
                Some(json!({"addressList": ["http://169.254.169.254/"]})),
            )
            .await
            .expect_error(400, Some("addressList"));
        assert!(server.triggers.try_recv().is_err());

        // A registered one is queued with the parameter; the answer carries the pipeline's log ids.
        let mut triggers = std::mem::replace(&mut server.triggers, mpsc::channel(1).1);
        let pipeline_store = store.clone();
        let pipeline = tokio::spawn(async move {
            let request = triggers.recv().await.unwrap();
            let log = NewJobLog {
                job_group: SAMPLE_GROUP,
                job_id: request.job_id,
                trigger_time: Utc::now(),
            };
            let log_id = pipeline_store.insert_log(&log).await.unwrap();
            let seen = (
                request.job_id,
                request.trigger_type,
                request.executor_param.clone(),
                request.address_list.clone(),
            );
            request.reply.unwrap().send(Ok(vec![log_id])).unwrap();
            (seen, log_id)
        });
        let answer = server
            .call(
                "POST",
                &format!("/api/v1/jobs/{job_id}/trigger"),
                token,
                Some(json!({"executorParam": "date=2026-06-18", "addressList": ["http://127.0.0.1:7002/"]})),
            )
            .await
            .expect(200);
        let (seen, log_id) = pipeline.await.unwrap();
        assert_eq!(
            seen,
            (
                JobId(job_id),
                TriggerType::Manual,
                Some("date=2026-06-18".to_owned()),
                Some(vec!["http://127.0.0.1:7002/".to_owned()])
            )
        );
        assert_eq!(answer["logIds"], json!([log_id.0]));
        let log = server
            .call("GET", &format!("/api/v1/logs/{}", log_id.0), token, None)
            .await
            .expect(200);
        assert_eq!(log["jobId"], json!(job_id));
        let logs = server
            .call(
                "GET",
                &format!("/api/v1/logs?jobId={job_id}&status=running"),
                token,
                None,
            )
            .await
            .expect(200);
        assert_eq!(logs["total"], json!(0), "trigger code 0 is not running yet");
        let logs = server
            .call("GET", &format!("/api/v1/logs?jobId={job_id}"), token, None)
            .await
            .expect(200);
        assert_eq!(logs["total"], json!(1));
        server
            .call("GET", "/api/v1/logs?from=yesterday", token, None)
            .await
            .expect_error(400, Some("from"));

        // A stopped pipeline is a 503, an unknown job a 404.
        server
            .call(
                "POST",
                &format!("/api/v1/jobs/{job_id}/trigger"),
                token,
                Some(json!({})),
            )
            .await
            .expect_error(503, None);
        server
            .call("POST", "/api/v1/jobs/999999/trigger", token, Some(json!({})))
            .await
            .expect_error(404, None);
        server
            .call(
                "POST",
                &format!("/api/v1/jobs/{job_id}/trigger"),
                token,
                Some(json!({"at": "tomorrow"})),
            )
            .await
            .expect_error(400, Some("at"));
    })
    .await;
}

#[tokio::test]
async fn openapi_document_lists_every_route_and_every_route_needs_a_token() {
    each_store(|store, engine| async move {
        if engine != xjob_test_support::db::Engine::Sqlite {
            return; // The router does not depend on the engine.
        }
        let server = Server::start(&store, JobApiOptions::default()).await;
        let document = server
            .call("GET", "/api/v1/openapi.json", None, None)
            .await
            .expect(200);
        assert!(document["openapi"].as_str().unwrap().starts_with("3."));
        let paths = document["paths"].as_object().unwrap();
        let mut documented: Vec<String> = Vec::new();
        for (path, operations) in paths {
            for method in operations.as_object().unwrap().keys() {
                documented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
        documented.sort();
        let mut expected = vec![
            "GET /api/v1/groups",
            "POST /api/v1/groups",
            "GET /api/v1/groups/{id}",
            "PUT /api/v1/groups/{id}",
            "DELETE /api/v1/groups/{id}",
            "GET /api/v1/jobs",
            "POST /api/v1/jobs",
            "GET /api/v1/jobs/{id}",
            "PUT /api/v1/jobs/{id}",
            "DELETE /api/v1/jobs/{id}",
            "POST /api/v1/jobs/{id}/start",
            "POST /api/v1/jobs/{id}/stop",
            "POST /api/v1/jobs/{id}/trigger",
            "GET /api/v1/jobs/{id}/planned-triggers",
            "DELETE /api/v1/planned-triggers/{id}",
            "GET /api/v1/jobs/{id}/fire-times",
            "POST /api/v1/fire-times",
            "GET /api/v1/logs",
            "GET /api/v1/logs/{id}",
            "GET /api/v1/logs/{id}/content",
            "POST /api/v1/logs/{id}/kill",
            "GET /api/v1/tokens",
            "POST /api/v1/tokens",
            "DELETE /api/v1/tokens/{id}",
        ];
        expected.sort();
        assert_eq!(documented, expected);
        assert!(document["components"]["securitySchemes"]["bearer"].is_object());
        // Every documented operation is served (not 404/405) and refuses an anonymous caller.
        for operation in &documented {
            let (method, path) = operation.split_once(' ').unwrap();
            let path = path.replace("{id}", "1");
            let answer = server.call(method, &path, None, Some(json!({}))).await;
            assert_eq!(answer.status, 401, "{operation}: {}", answer.body);
        }
        assert_eq!(job_api::openapi().paths.paths.len(), paths.len());
    })
    .await;
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    each_store(|store, engine| async move {
        if engine != xjob_test_support::db::Engine::Sqlite {
            return;
        }
        let options = JobApiOptions {
            body_limit: 2048,
            ..JobApiOptions::default()
        };
        let server = Server::start(&store, options).await;
        let admin = admin_token(&store).await;
        let big = with(
            job_body(SAMPLE_GROUP, "big"),
            "executorParam",
            json!("x".repeat(4096)),
        );
        let answer = server.call("POST", "/api/v1/jobs", Some(&admin), Some(big)).await;
        assert_eq!(answer.status, 413, "{}", answer.body);
        assert_eq!(store.count_jobs(None).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn live_log_and_kill_reach_a_real_executor() {
    each_store(|store, _| async move {
        let server = Server::start(&store, JobApiOptions::default()).await;
        let admin = admin_token(&store).await;
        let token = Some(admin.as_str());

        // A real SDK executor with a handler that logs and then waits to be killed.
        let standin = StandinAdmin::start(Generation::G3, Some("exec_token"), "api-test-app").await;
        let logs = tempfile::tempdir().unwrap();
        let mut config = ExecutorConfig::new(
            "api-test-app",
            vec![standin.base_url()],
            Some("exec_token".to_owned()),
        );
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.log_path = logs.path().to_owned();
        let executor = Executor::builder(config)
            .handler_fn("waiter", |context: JobContext| async move {
                context.log("waiting for a kill");
                context.cancelled().cancelled().await;
                JobResult::fail("stopped")
            })
            .start()
            .await
            .unwrap();
        let address = executor.address().to_owned();

        let group = server
            .call(
                "POST",
                "/api/v1/groups",
                token,
                Some(
                    json!({"appName": "api-test-app", "name": "API test", "addressType": "manual",
                    "addressList": [address], "accessToken": "exec_token"}),
                ),
            )
            .await
            .expect(201);
        let group_id = JobGroupId(group["id"].as_i64().unwrap() as i32);
        let job = server
            .call(
                "POST",
                "/api/v1/jobs",
                token,
                Some(with(
                    job_body(group_id, "waiter"),
                    "executorHandler",
                    json!("waiter"),
                )),
            )
            .await
            .expect(201);
        let job_id = JobId(job["id"].as_i64().unwrap() as i32);

        // Run it the way the pipeline does: a log row, the executor call, the trigger result.
        let trigger_time = Utc::now();
        let log_id = store
            .insert_log(&NewJobLog {
                job_group: group_id,
                job_id,
                trigger_time,
            })
            .await
            .unwrap();
        let client = ExecutorClient::new(&ClientOptions::default()).unwrap();
        let target = ExecutorTarget {
            address: &address,
            generation: Generation::G3,
            access_token: Some("exec_token"),
            app_name: Some("api-test-app"),
        };
        let accepted = client
            .trigger(
                &target,
                &run_request(job_id, log_id, trigger_time.timestamp_millis()),
            )
            .await
            .unwrap();
        assert_eq!(accepted.code, 200, "{:?}", accepted.msg);
        store
            .update_log_trigger(
                log_id,
                &LogTrigger {
                    executor_address: Some(address.clone()),
                    executor_handler: Some("waiter".into()),
                    code: 200,
                    ..LogTrigger::default()
                },
            )
            .await
            .unwrap();

        let content_path = format!("/api/v1/logs/{}/content?fromLine=1", log_id.0);
        let last = Arc::new(std::sync::Mutex::new(Value::Null));
        let found = wait_until(Duration::from_secs(10), || {
            let last = Arc::clone(&last);
            let request = server.call("GET", &content_path, token, None);
            async move {
                let answer = request.await;
                let found = answer.status == 200
                    && answer.body["content"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("waiting for a kill");
                *last.lock().unwrap() = answer.body;
                found
            }
        })
        .await;
        let content = last.lock().unwrap().clone();
        assert!(found, "live log: {content}");
        assert_eq!(content["end"], json!(false));

        let killed = server
            .call("POST", &format!("/api/v1/logs/{}/kill", log_id.0), token, None)
            .await
            .expect(200);
        assert!(killed["message"].is_string());
        let log = store.log(log_id).await.unwrap().unwrap();
        assert_eq!(log.handle.code, 500);
        assert!(
            log.handle
                .msg
                .as_deref()
                .unwrap_or_default()
                .starts_with("Manual operation, kill job:"),
            "{:?}",
            log.handle
        );
        // The executor's own callback for the killed execution does not overwrite the kill.
        assert!(
            wait_until(Duration::from_secs(10), || async {
                standin.callback_for(log_id.0).is_some()
            })
            .await
        );
        assert!(
            !store
                .complete_log(
                    log_id,
                    &LogHandle {
                        time: None,
                        code: 200,
                        msg: None
                    }
                )
                .await
                .unwrap()
        );

        // A log whose trigger failed has no execution to read or kill.
        let failed = store
            .insert_log(&NewJobLog {
                job_group: group_id,
                job_id,
                trigger_time,
            })
            .await
            .unwrap();
        store
            .update_log_trigger(
                failed,
                &LogTrigger {
                    code: 500,
                    ..LogTrigger::default()
                },
            )
            .await
            .unwrap();
        server
            .call("POST", &format!("/api/v1/logs/{}/kill", failed.0), token, None)
            .await
            .expect_error(409, None);
        server
            .call("GET", &format!("/api/v1/logs/{}/content", failed.0), token, None)
            .await
            .expect_error(409, None);
        server
            .call("GET", "/api/v1/logs/987654321", token, None)
            .await
            .expect_error(404, None);
        executor.shutdown().await;
    })
    .await;
}

/// The `/run` body the pipeline would send for a BEAN job.
fn run_request(job_id: JobId, log_id: LogId, trigger_ms: i64) -> xjob_protocol::TriggerRequest {
    xjob_protocol::TriggerRequest {
        job_id,
        executor_handler: Some("waiter".to_owned()),
        executor_params: Some(String::new()),
        executor_block_strategy: Some(Lenient::Known(BlockStrategy::SerialExecution)),
        executor_timeout: 0,
        log_id,
        log_date_time: trigger_ms,
        glue_type: Some(Lenient::Known(GlueType::Bean)),
        glue_source: None,
        glue_updatetime: 0,
        broadcast_index: 0,
        broadcast_total: 1,
    }
}

#[tokio::test]
async fn upstream_job_api_scripts_keep_working() {
    each_store(|store, _| async move {
        let server = Server::start(&store, JobApiOptions::default()).await;
        let sample = store.group(SAMPLE_GROUP).await.unwrap().unwrap();
        let token = "upstream_t0ken".to_owned();
        let with_token = NewJobGroup {
            app_name: AppName::new(sample.app_name.clone()).unwrap(),
            name: sample.name.clone(),
            address_type: sample.address_type,
            address_list: None,
            access_token: Some(token.clone()),
        };
        assert!(store.update_group(SAMPLE_GROUP, &with_token, Utc::now()).await.unwrap());
        let call = |path: &'static str, credentials: (String, String), body: Value| {
            let request = server
                .http
                .post(format!("{}{path}", server.base))
                .header("XXL-JOB-ACCESS-TOKEN", credentials.0)
                .header("XXL-JOB-APPNAME", credentials.1)
                .header("Content-Type", "application/json;charset=UTF-8")
                .body(body.to_string());
            async move {
                let response = request.send().await.unwrap();
                assert_eq!(response.status().as_u16(), 200);
                serde_json::from_slice::<Value>(&response.bytes().await.unwrap()).unwrap()
            }
        };
        let good = (token.clone(), sample.app_name.clone());
        let add = json!({"jobGroup": SAMPLE_GROUP.0, "name": "nightly export", "author": "ops", "alarmEmail": "",
            "scheduleType": "CRON", "scheduleConf": "0 30 2 * * ?", "misfireStrategy": "DO_NOTHING",
            "executorRouteStrategy": "ROUND", "executorHandler": "demoJobHandler", "executorParam": "",
            "executorBlockStrategy": "SERIAL_EXECUTION", "executorTimeout": 0, "executorFailRetryCount": 1,
            "glueType": "BEAN", "glueSource": "", "glueRemark": ""});
        let added = call("/api/addJob", good.clone(), add.clone()).await;
        assert_eq!((added["code"].clone(), added["success"].clone()), (json!(200), json!(true)), "{added}");
        let id: i32 = added["data"].as_str().unwrap().parse().unwrap();
        assert!(store.job(JobId(id)).await.unwrap().is_some());

        let refused = call("/api/addJob", (format!("{token}x"), sample.app_name.clone()), add.clone()).await;
        assert_eq!(refused["code"], json!(500));
        assert_eq!(store.count_jobs(None).await.unwrap(), 1);
        let invalid = call("/xxl-job-admin/api/addJob", good.clone(), with(add.clone(), "scheduleConf", json!("bad"))).await;
        assert_eq!(invalid["code"], json!(500));
        assert!(invalid["msg"].as_str().unwrap().contains("scheduleConf"), "{invalid}");

        let started = call("/api/startJob", good.clone(), json!({"id": id})).await;
        assert_eq!(started["code"], json!(200), "{started}");
        assert_eq!(store.job(JobId(id)).await.unwrap().unwrap().state.status, xjob_admin::model::TriggerStatus::Running);
        let updated = call("/api/updateJob", good.clone(), with(with(add.clone(), "id", json!(id)), "name", json!("renamed"))).await;
        assert_eq!(updated["code"], json!(200), "{updated}");
        assert_eq!(store.job(JobId(id)).await.unwrap().unwrap().settings.name, "renamed");
        assert_eq!(call("/api/stopJob", good.clone(), json!({"id": id})).await["code"], json!(200));
        assert_eq!(call("/api/removeJob", good.clone(), json!({"id": id})).await["code"], json!(200));
        assert_eq!(call("/api/removeJob", good.clone(), json!({"id": id})).await["code"], json!(200));
        assert!(store.job(JobId(id)).await.unwrap().is_none());
        assert_eq!(call("/api/startJob", good, json!({"id": id})).await["code"], json!(500));
    })
    .await;
}
