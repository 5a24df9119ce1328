use super::*;
use crate::config::{Host, KubernetesConfig};
use crate::manifest;

fn settings(toml_text: &str) -> Settings {
    let config: KubernetesConfig = toml::from_str(toml_text).unwrap();
    config
        .validate(&Host {
            in_cluster_namespace: None,
            host_name: "exec-0".to_owned(),
        })
        .unwrap()
}

fn execution() -> Execution {
    Execution {
        job_id: JobId(7),
        log_id: LogId(42),
        log_date_time: 1_700_000_000_000,
        executor_timeout: 0,
        broadcast_index: 1,
        broadcast_total: 3,
    }
}

fn run(input: &str, execution: &Execution, config: &str) -> Result<Prepared, String> {
    let settings = settings(config);
    let parsed = manifest::parse(input, &settings.config.label_prefix).map_err(|e| e.to_string())?;
    normalise(parsed, execution, &settings).map_err(|e| e.to_string())
}

/// One case: the manifest, a timeout, the configuration, a JSON pointer into the result, its expected JSON.
fn check(input: &str, timeout: i32, config: &str, pointer: &str, expected: &str) {
    let execution = Execution {
        executor_timeout: timeout,
        ..execution()
    };
    let prepared = run(input, &execution, config).unwrap();
    let tree = prepared.workload.to_json();
    let got = tree
        .pointer(pointer)
        .map_or("<absent>".to_owned(), Value::to_string);
    assert_eq!(got, expected, "{pointer} of\n{input}");
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: report}\nspec:\n  containers: [{name: main, image: busybox}]\n";
const JOB: &str = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: batch}\nspec:\n  template:\n    spec:\n      containers: [{name: work, image: busybox}]\n";

fn pod(metadata: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{{metadata}}}\nspec:\n  containers: [{{name: main, image: busybox}}]\n{spec}"
    )
}

fn job(spec: &str, pod_spec: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: batch}}\nspec:\n{spec}  template:\n    spec:\n      containers: [{{name: work, image: busybox}}]\n{pod_spec}"
    )
}

#[test]
fn names_and_namespaces() {
    check(POD, 0, "", "/metadata/name", r#""report-42""#);
    check(POD, 0, "", "/metadata/namespace", r#""default""#);
    check(
        POD,
        0,
        "default_namespace = \"jobs\"",
        "/metadata/namespace",
        r#""jobs""#,
    );
    check(
        &pod("namespace: team-a", ""),
        0,
        "",
        "/metadata/namespace",
        r#""team-a""#,
    );
    check(
        &pod("generateName: nightly-", ""),
        0,
        "",
        "/metadata/name",
        r#""nightly-42""#,
    );
    check(
        &pod("generateName: nightly-", ""),
        0,
        "",
        "/metadata/generateName",
        "<absent>",
    );
    check(
        &pod("name: Big.Name, generateName: other-", ""),
        0,
        "",
        "/metadata/name",
        r#""big-name-42""#,
    );
    check(
        &pod("labels: {a: b}", ""),
        0,
        "",
        "/metadata/name",
        r#""xxl-job-7-42""#,
    );
    check(JOB, 0, "", "/metadata/name", r#""batch-42""#);
}

#[test]
fn server_fields_are_dropped() {
    let exported = pod(
        "name: r, uid: u-1, resourceVersion: '9', generation: 2, creationTimestamp: '2024-01-01T00:00:00Z', finalizers: [x], ownerReferences: [{apiVersion: v1, kind: Pod, name: o, uid: u}], managedFields: [{manager: kubectl}]",
        "status: {phase: Succeeded}\n",
    );
    for pointer in [
        "/metadata/uid",
        "/metadata/resourceVersion",
        "/metadata/generation",
        "/metadata/creationTimestamp",
        "/metadata/finalizers",
        "/metadata/ownerReferences",
        "/metadata/managedFields",
        "/status",
    ] {
        check(&exported, 0, "", pointer, "<absent>");
    }
    let exported_job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: b}\nspec:\n  selector: {matchLabels: {batch.kubernetes.io/controller-uid: u}}\n  template:\n    metadata: {labels: {batch.kubernetes.io/controller-uid: u, job-name: b, team: x}}\n    spec: {containers: [{name: w}]}\nstatus: {active: 1}\n";
    check(exported_job, 0, "", "/spec/selector", "<absent>");
    check(
        exported_job,
        0,
        "",
        "/spec/template/metadata/labels/team",
        r#""x""#,
    );
    check(
        exported_job,
        0,
        "",
        "/spec/template/metadata/labels/job-name",
        "<absent>",
    );
    check(exported_job, 0, "", "/status", "<absent>");
}

#[test]
fn restart_backoff_ttl_deadline_and_token() {
    check(POD, 0, "", "/spec/restartPolicy", r#""Never""#);
    check(
        &pod("name: r", "  restartPolicy: Always\n"),
        0,
        "",
        "/spec/restartPolicy",
        r#""Never""#,
    );
    check(POD, 0, "", "/spec/activeDeadlineSeconds", "<absent>");
    check(POD, 30, "", "/spec/activeDeadlineSeconds", "90");
    check(
        POD,
        30,
        "deadline_margin = 5",
        "/spec/activeDeadlineSeconds",
        "35",
    );
    check(
        &pod("name: r", "  activeDeadlineSeconds: 20\n"),
        30,
        "",
        "/spec/activeDeadlineSeconds",
        "20",
    );
    check(
        &pod("name: r", "  activeDeadlineSeconds: 500\n"),
        30,
        "",
        "/spec/activeDeadlineSeconds",
        "90",
    );
    check(
        &pod("name: r", "  activeDeadlineSeconds: 500\n"),
        0,
        "",
        "/spec/activeDeadlineSeconds",
        "500",
    );
    check(POD, 0, "", "/spec/automountServiceAccountToken", "false");
    check(
        &pod("name: r", "  automountServiceAccountToken: true\n"),
        0,
        "",
        "/spec/automountServiceAccountToken",
        "true",
    );
    check(JOB, 0, "", "/spec/template/spec/restartPolicy", r#""Never""#);
    check(
        &job("", "      restartPolicy: OnFailure\n"),
        0,
        "",
        "/spec/template/spec/restartPolicy",
        r#""OnFailure""#,
    );
    check(
        &job("", "      restartPolicy: Always\n"),
        0,
        "",
        "/spec/template/spec/restartPolicy",
        r#""Never""#,
    );
    check(JOB, 0, "", "/spec/backoffLimit", "0");
    check(&job("  backoffLimit: 4\n", ""), 0, "", "/spec/backoffLimit", "4");
    check(JOB, 0, "", "/spec/ttlSecondsAfterFinished", "3600");
    check(
        JOB,
        0,
        "job_ttl_after_finished = \"10m\"",
        "/spec/ttlSecondsAfterFinished",
        "600",
    );
    check(
        &job("  ttlSecondsAfterFinished: 5\n", ""),
        0,
        "",
        "/spec/ttlSecondsAfterFinished",
        "5",
    );
    check(JOB, 10, "", "/spec/activeDeadlineSeconds", "70");
    check(
        JOB,
        10,
        "",
        "/spec/template/spec/activeDeadlineSeconds",
        "<absent>",
    );
    check(
        JOB,
        0,
        "",
        "/spec/template/spec/automountServiceAccountToken",
        "false",
    );
    check(
        &job("  completionMode: Indexed\n  backoffLimitPerIndex: 0\n", ""),
        0,
        "",
        "/spec/backoffLimitPerIndex",
        "0",
    );
    check(
        &job("  completionMode: Indexed\n  backoffLimitPerIndex: 0\n", ""),
        0,
        "",
        "/spec/backoffLimit",
        "<absent>",
    );
}

#[test]
fn labels_annotations_and_env() {
    let labels = r#"{"app.kubernetes.io/managed-by":"xxl-job-executor","xxl-job/app":"xxl-job-executor-kubernetes","xxl-job/instance":"exec-0","xxl-job/job-id":"7","xxl-job/log-id":"42","xxl-job/shard-index":"1","xxl-job/shard-total":"3"}"#;
    check(POD, 0, "", "/metadata/labels", labels);
    check(JOB, 0, "", "/metadata/labels", labels);
    check(JOB, 0, "", "/spec/template/metadata/labels", labels);
    check(
        &pod("name: r, labels: {xxl-job/log-id: '1', team: a}", ""),
        0,
        "",
        "/metadata/labels/xxl-job~1log-id",
        r#""42""#,
    );
    check(
        &pod("name: r, labels: {xxl-job/log-id: '1', team: a}", ""),
        0,
        "",
        "/metadata/labels/team",
        r#""a""#,
    );
    check(
        POD,
        0,
        "app_name = \"my app\"\ninstance_id = \"Exec 1\"",
        "/metadata/labels/xxl-job~1app",
        r#""my-app-23dfc298""#,
    );
    check(
        POD,
        0,
        "label_prefix = \"jobs.example.com/\"",
        "/metadata/labels/jobs.example.com~1log-id",
        r#""42""#,
    );
    check(
        POD,
        5,
        "",
        "/metadata/annotations",
        r#"{"xxl-job/log-date-time":"1700000000000","xxl-job/timeout":"5"}"#,
    );
    check(
        &pod(
            "name: r, annotations: {xxl-job/retain-until: '2020-01-01T00:00:00Z', xxl-job/cleanup: never}",
            "",
        ),
        0,
        "",
        "/metadata/annotations",
        r#"{"xxl-job/cleanup":"never","xxl-job/log-date-time":"1700000000000","xxl-job/timeout":"0"}"#,
    );
    let env = r#"[{"name":"XXL_JOB_JOB_ID","value":"7"},{"name":"XXL_JOB_LOG_ID","value":"42"},{"name":"XXL_JOB_LOG_DATE_TIME","value":"1700000000000"},{"name":"XXL_JOB_SHARD_INDEX","value":"1"},{"name":"XXL_JOB_SHARD_TOTAL","value":"3"},{"name":"XXL_JOB_TIMEOUT","value":"9"}]"#;
    check(POD, 9, "", "/spec/containers/0/env", env);
    check(JOB, 9, "", "/spec/template/spec/containers/0/env", env);
    let with_init = "apiVersion: v1\nkind: Pod\nspec:\n  initContainers: [{name: init}]\n  containers: [{name: a}, {name: b, env: [{name: MINE, value: x}, {name: XXL_JOB_LOG_ID, value: fake}]}]\n";
    check(
        with_init,
        9,
        "",
        "/spec/initContainers/0/env/1",
        r#"{"name":"XXL_JOB_LOG_ID","value":"42"}"#,
    );
    check(
        with_init,
        9,
        "",
        "/spec/containers/1/env/6",
        r#"{"name":"MINE","value":"x"}"#,
    );
    check(with_init, 9, "", "/spec/containers/1/env/7", "<absent>");
    check(
        with_init,
        9,
        "",
        "/spec/containers/1/env/1",
        r#"{"name":"XXL_JOB_LOG_ID","value":"42"}"#,
    );
}

#[test]
fn defaults_template_is_merged_under_the_manifest() {
    let config = r#"pod_defaults = """
labels: {team: data, app: default}
annotations: {owner: ops}
nodeSelector: {pool: jobs, zone: a}
tolerations: [{key: jobs, operator: Exists}]
imagePullSecrets: [{name: registry}]
resources: {requests: {cpu: 100m, memory: 64Mi}}
securityContext: {runAsNonRoot: true}
containerSecurityContext: {readOnlyRootFilesystem: true}
""""#;
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: r, labels: {app: mine}}\nspec:\n  nodeSelector: {zone: b}\n  tolerations: [{key: own, operator: Exists}]\n  containers:\n  - {name: a, resources: {requests: {cpu: '2'}}}\n";
    check(manifest, 0, config, "/metadata/labels/team", r#""data""#);
    check(manifest, 0, config, "/metadata/labels/app", r#""mine""#);
    check(manifest, 0, config, "/metadata/annotations/owner", r#""ops""#);
    check(
        manifest,
        0,
        config,
        "/spec/nodeSelector",
        r#"{"pool":"jobs","zone":"b"}"#,
    );
    check(
        manifest,
        0,
        config,
        "/spec/tolerations",
        r#"[{"key":"own","operator":"Exists"}]"#,
    );
    check(
        POD,
        0,
        config,
        "/spec/tolerations",
        r#"[{"key":"jobs","operator":"Exists"}]"#,
    );
    check(
        manifest,
        0,
        config,
        "/spec/imagePullSecrets",
        r#"[{"name":"registry"}]"#,
    );
    check(
        manifest,
        0,
        config,
        "/spec/containers/0/resources",
        r#"{"requests":{"cpu":"2","memory":"64Mi"}}"#,
    );
    check(
        manifest,
        0,
        config,
        "/spec/securityContext",
        r#"{"runAsNonRoot":true}"#,
    );
    check(
        manifest,
        0,
        config,
        "/spec/containers/0/securityContext",
        r#"{"readOnlyRootFilesystem":true}"#,
    );
    check(JOB, 0, config, "/spec/template/metadata/labels/team", r#""data""#);
    check(
        JOB,
        0,
        config,
        "/spec/template/spec/nodeSelector",
        r#"{"pool":"jobs","zone":"a"}"#,
    );
}

#[test]
fn notes_and_resolved_options() {
    let input = "apiVersion: v1\nkind: Pod\nmetadata:\n  annotations: {xxl-job/startup-timeout: '12', xxl-job/cleanup: never}\nspec:\n  restartPolicy: OnFailure\n  containers: [{name: a, env: [{name: XXL_JOB_TIMEOUT, value: '1'}]}]\n";
    let prepared = run(input, &execution(), "kill_grace_period = 3").unwrap();
    assert_eq!(
        prepared.notes,
        [
            "restartPolicy OnFailure replaced by Never: each execution runs once",
            "reserved environment variables overwritten: a/XXL_JOB_TIMEOUT"
        ]
    );
    assert_eq!(
        prepared.options,
        ExecutionOptions {
            cleanup: Cleanup::Never,
            startup_timeout: Duration::from_secs(12),
            kill_grace_period: Duration::from_secs(3),
            log_containers: LogContainers::All,
            log_timestamps: false,
        }
    );
    assert_eq!(run(POD, &execution(), "").unwrap().notes, Vec::<String>::new());
}

#[test]
fn the_same_trigger_yields_the_same_object() {
    let first = run(POD, &execution(), "").unwrap();
    let second = run(POD, &execution(), "").unwrap();
    assert_eq!(first, second);
    let other = run(
        POD,
        &Execution {
            log_id: LogId(43),
            ..execution()
        },
        "",
    )
    .unwrap();
    assert_eq!(other.workload.metadata().name.as_deref(), Some("report-43"));
}

#[test]
fn golden_example_pod() {
    let input = r#"
apiVersion: v1
kind: Pod
metadata:
  name: nightly-report
  annotations:
    xxl-job/cleanup: on-success
spec:
  containers:
    - name: main
      image: registry.example.com/reports:1.4
      command: ["/app/report"]
      args: ["--shard=$(XXL_JOB_SHARD_INDEX)", "--of=$(XXL_JOB_SHARD_TOTAL)"]
      env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: report-db, key: password}}
        - name: API_TOKEN
          value: literal-secret
      resources:
        requests: {cpu: 200m, memory: 256Mi}
        limits: {memory: 512Mi}
"#;
    let prepared = run(
        input,
        &Execution {
            executor_timeout: 600,
            ..execution()
        },
        "",
    )
    .unwrap();
    let expected = r#"apiVersion: v1
kind: Pod
metadata:
  annotations:
    xxl-job/cleanup: on-success
    xxl-job/log-date-time: '1700000000000'
    xxl-job/timeout: '600'
  labels:
    app.kubernetes.io/managed-by: xxl-job-executor
    xxl-job/app: xxl-job-executor-kubernetes
    xxl-job/instance: exec-0
    xxl-job/job-id: '7'
    xxl-job/log-id: '42'
    xxl-job/shard-index: '1'
    xxl-job/shard-total: '3'
  name: nightly-report-42
  namespace: default
spec:
  activeDeadlineSeconds: 660
  automountServiceAccountToken: false
  containers:
  - args:
    - --shard=$(XXL_JOB_SHARD_INDEX)
    - --of=$(XXL_JOB_SHARD_TOTAL)
    command:
    - /app/report
    env:
    - name: XXL_JOB_JOB_ID
      value: '7'
    - name: XXL_JOB_LOG_ID
      value: '42'
    - name: XXL_JOB_LOG_DATE_TIME
      value: '1700000000000'
    - name: XXL_JOB_SHARD_INDEX
      value: '1'
    - name: XXL_JOB_SHARD_TOTAL
      value: '3'
    - name: XXL_JOB_TIMEOUT
      value: '600'
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef:
          key: password
          name: report-db
    - name: API_TOKEN
      value: '***'
    image: registry.example.com/reports:1.4
    name: main
    resources:
      limits:
        memory: 512Mi
      requests:
        cpu: 200m
        memory: 256Mi
  restartPolicy: Never
"#;
    assert_eq!(masked_manifest(&prepared.workload), expected);
}

#[test]
fn masked_parameters() {
    let check = |input: &str, expected: &str| assert_eq!(masked_parameter(input), expected, "{input}");
    check(
        "kind: Job\nspec: {template: {spec: {containers: [{name: a, env: [{name: PASSWORD, value: p}, {name: MODE, value: m}]}]}}}",
        "kind: Job\nspec:\n  template:\n    spec:\n      containers:\n      - env:\n        - name: PASSWORD\n          value: '***'\n        - name: MODE\n          value: m\n        name: a\n",
    );
    check(
        r#"{"spec":{"initContainers":[{"env":[{"name":"token","value":"t"}]}]}}"#,
        "spec:\n  initContainers:\n  - env:\n    - name: token\n      value: '***'\n",
    );
    check(
        "password: [unclosed",
        "(not a single YAML or JSON document; not shown)",
    );
}

#[test]
fn secret_looking_names() {
    for (name, secret) in [
        ("DB_PASSWORD", true),
        ("api_token", true),
        ("SSH_KEY_FILE", true),
        ("AwsSecret", true),
        ("CREDENTIALS", true),
        ("HOME", false),
        ("LOG_LEVEL", false),
    ] {
        assert_eq!(looks_secret(name), secret, "{name}");
    }
}
