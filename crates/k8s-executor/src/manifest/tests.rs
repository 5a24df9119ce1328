use super::*;

/// A one-line picture of a parse result: kind, name, container names and the options that are set.
fn summary(parsed: &Parsed) -> String {
    let spec = parsed.workload.pod_spec().expect("parse guarantees a pod spec");
    let containers: Vec<&str> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| c.name.as_str())
        .collect();
    let mut text = format!(
        "{} {} [{}]",
        parsed.workload.kind(),
        parsed.workload.qualified_name(),
        containers.join(",")
    );
    let options = &parsed.options;
    if let Some(cleanup) = options.cleanup {
        text += &format!(" cleanup={cleanup:?}");
    }
    if let Some(timeout) = options.startup_timeout {
        text += &format!(" startup={}s", timeout.as_secs());
    }
    if let Some(grace) = options.kill_grace_period {
        text += &format!(" grace={}s", grace.as_secs());
    }
    if let LogContainers::Named(names) = &options.log_containers {
        text += &format!(" logs={}", names.join("+"));
    }
    if options.log_timestamps {
        text += " timestamps";
    }
    text
}

fn check(input: &str, expected: Result<&str, &str>) {
    let got = parse(input, "xxl-job/")
        .map(|parsed| summary(&parsed))
        .map_err(|error| error.to_string());
    assert_eq!(
        got,
        expected.map(str::to_owned).map_err(str::to_owned),
        "input:\n{input}"
    );
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: report}\nspec:\n  containers: [{name: main, image: busybox}]\n";

fn pod_with(extra_metadata: &str, container_extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: report, {extra_metadata}}}\nspec:\n  initContainers: [{{name: init, image: busybox}}]\n  containers: [{{name: main, image: busybox{container_extra}}}]\n"
    )
}

#[test]
fn accepted_manifests() {
    check(POD, Ok("pod /report [main]"));
    check(
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"jobs","generateName":"x-"},"spec":{"containers":[{"name":"a","image":"i"}]}}"#,
        Ok("pod jobs/ [a]"),
    );
    check(
        "{\n\t\"apiVersion\": \"v1\", \"kind\": \"Pod\",\n\t\"spec\": {\"containers\": [{\"name\": \"tabbed\"}]}}",
        Ok("pod / [tabbed]"),
    );
    check(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: batch}\nspec:\n  completionMode: Indexed\n  completions: 4\n  backoffLimitPerIndex: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: work, image: busybox}]\n",
        Ok("job /batch [work]"),
    );
    check(&format!("# comment\n---\n{POD}---\n"), Ok("pod /report [main]"));
    check(
        &format!("{POD}status: {{phase: Running, newerStatusField: 1}}\n"),
        Ok("pod /report [main]"),
    );
    check(
        "{apiVersion: v1, kind: Pod, spec: {containers: [{name: flow}]}}",
        Ok("pod / [flow]"),
    );
    check(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: r, creationTimestamp: null, uid: abc, resourceVersion: \"12\"}\nspec:\n  containers:\n  - name: main\n    resources: {requests: {cpu: 1, memory: 256Mi}}\n    ports: [{containerPort: 80}]\nstatus: {phase: Running}\n",
        Ok("pod /r [main]"),
    );
    check(
        &pod_with(
            "annotations: {xxl-job/cleanup: on-success, xxl-job/startup-timeout: '20', xxl-job/kill-grace-period: '0'}",
            "",
        ),
        Ok("pod /report [init,main] cleanup=OnSuccess startup=20s grace=0s"),
    );
    check(
        &pod_with(
            "annotations: {xxl-job/log-containers: 'main, init', xxl-job/log-timestamps: 'true'}",
            "",
        ),
        Ok("pod /report [init,main] logs=main+init timestamps"),
    );
    check(
        &pod_with(
            "annotations: {xxl-job/log-containers: '*', other.io/cleanup: whatever}",
            "",
        ),
        Ok("pod /report [init,main]"),
    );
    check(
        &pod_with(
            "annotations: {xxl-job/log-date-time: '1', xxl-job/retain-until: x}",
            "",
        ),
        Ok("pod /report [init,main]"),
    );
}

#[test]
fn rejected_manifests() {
    check(
        "",
        Err("the job parameter is empty; expected a Pod or Job manifest"),
    );
    check(
        "  \n# only a comment\n---\n",
        Err("the job parameter is empty; expected a Pod or Job manifest"),
    );
    check(
        &format!("{POD}---\n{POD}"),
        Err("the job parameter holds 2 documents; expected exactly one Pod or Job"),
    );
    check(
        "kind: Pod\nmetadata: [unclosed",
        Err(
            "not valid YAML or JSON: did not find expected ',' or ']' at line 3 column 1, while parsing a flow sequence at line 2 column 11",
        ),
    );
    check(
        "{\"kind\": \"Pod\",}",
        Err("not valid YAML or JSON: trailing comma at line 1 column 16"),
    );
    check(
        "{apiVersion: v1, kind: [}",
        Err(
            "not valid YAML or JSON: did not find expected node content at line 1 column 25, while parsing a flow node",
        ),
    );
    check("- a\n- b\n", Err("the document is not an object"));
    check("just text", Err("the document is not an object"));
    check("kind: Pod\nspec: {}", Err("missing apiVersion"));
    check("apiVersion: v1\nspec: {}", Err("missing kind"));
    check("apiVersion: v1\nkind: 3", Err("missing kind"));
    check(
        "apiVersion: batch/v1\nkind: CronJob\nspec: {}",
        Err("unsupported CronJob (apiVersion batch/v1); expected a v1 Pod or a batch/v1 Job"),
    );
    check(
        "apiVersion: v1\nkind: Job\nspec: {}",
        Err("unsupported Job (apiVersion v1); expected a v1 Pod or a batch/v1 Job"),
    );
    check(
        "apiVersion: apps/v1\nkind: Deployment",
        Err("unsupported Deployment (apiVersion apps/v1); expected a v1 Pod or a batch/v1 Job"),
    );
    check(
        &pod_with("", ", imagePullPolcy: Always"),
        Err("spec.containers[0].imagePullPolcy: unknown field"),
    );
    check(
        &pod_with("lables: {a: b}", ", imagePullPolcy: Always"),
        Err("metadata.lables: unknown field (also unknown: spec.containers[0].imagePullPolcy)"),
    );
    check(
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a, env: [{name: X, valu: y}]}]",
        Err("spec.containers[0].env[0].valu: unknown field"),
    );
    check(
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a, resources: {limits: {memory: 1Gi}, limts: {}}}]",
        Err("spec.containers[0].resources.limts: unknown field"),
    );
    check(
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{image: busybox}]",
        Err("spec.containers[0].name: required"),
    );
    check(
        "apiVersion: v1\nkind: Pod\nspec:\n  initContainers: [{name: ''}]\n  containers: [{name: a}]",
        Err("spec.initContainers[0].name: required"),
    );
    check(
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a}]\n  hostNetwork: yes",
        Err("spec.hostNetwork: invalid type: string \"yes\", expected a boolean"),
    );
    check(
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: []",
        Err("spec.containers: at least one container is required"),
    );
    check(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}",
        Err("spec: missing; a pod spec with at least one container is required"),
    );
    check(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}",
        Err("spec: missing; a Job needs a spec with a pod template"),
    );
    check(
        "apiVersion: batch/v1\nkind: Job\nspec: {template: {metadata: {labels: {a: b}}}}",
        Err("spec.template.spec: missing; a pod spec with at least one container is required"),
    );
    check(
        "apiVersion: batch/v1\nkind: Job\nspec: {suspend: true, template: {spec: {containers: [{name: a}]}}}",
        Err("spec.suspend: a suspended Job would never run"),
    );
    check(
        &pod_with("annotations: {xxl-job/cleanup: sometimes}", ""),
        Err(
            "metadata.annotations.xxl-job/cleanup: invalid value \"sometimes\": expected always, on-success or never",
        ),
    );
    check(
        &pod_with("annotations: {xxl-job/startup-timeout: 5m}", ""),
        Err("metadata.annotations.xxl-job/startup-timeout: invalid value \"5m\": expected whole seconds"),
    );
    check(
        &pod_with("annotations: {xxl-job/startup-timeout: '0'}", ""),
        Err("metadata.annotations.xxl-job/startup-timeout: invalid value \"0\": must be at least 1 second"),
    );
    check(
        &pod_with("annotations: {xxl-job/kill-grace-period: '-1'}", ""),
        Err("metadata.annotations.xxl-job/kill-grace-period: invalid value \"-1\": expected whole seconds"),
    );
    check(
        &pod_with("annotations: {xxl-job/log-timestamps: 'yes'}", ""),
        Err("metadata.annotations.xxl-job/log-timestamps: invalid value \"yes\": expected true or false"),
    );
    check(
        &pod_with("annotations: {xxl-job/log-containers: 'main,sidecar'}", ""),
        Err(
            "metadata.annotations.xxl-job/log-containers: invalid value \"main,sidecar\": no container named \"sidecar\"",
        ),
    );
    check(
        &pod_with("annotations: {xxl-job/log-containers: 'main,'}", ""),
        Err(
            "metadata.annotations.xxl-job/log-containers: invalid value \"main,\": expected `*` or a comma-separated list of container names",
        ),
    );
    check(
        &pod_with("annotations: {xxl-job/clean-up: always}", ""),
        Err(
            "metadata.annotations.xxl-job/clean-up: unknown executor option; known options are cleanup, startup-timeout, kill-grace-period, log-containers, log-timestamps",
        ),
    );
}

#[test]
fn options_follow_the_configured_prefix() {
    let input = pod_with(
        "annotations: {jobs.example.com/cleanup: never, xxl-job/cleanup: bogus}",
        "",
    );
    let parsed = parse(&input, "jobs.example.com/").unwrap();
    assert_eq!(parsed.options.cleanup, Some(Cleanup::Never));
}

#[test]
fn strict_check_ignores_nulls_and_normalised_values() {
    let tree = serde_json::json!({"containers": [{"name": "a", "image": null, "resources": {"requests": {"cpu": 1}}}]});
    let spec: PodSpec = strict_from_value(tree).unwrap();
    let requests = spec.containers[0]
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .unwrap();
    assert_eq!(requests["cpu"].0, "1");
}
