//! The security policy (§9 of the Kubernetes executor specification), checked on the normalised object
//! before any API call: anyone who can edit a job can create workloads with the executor's Kubernetes
//! permissions, so namespaces, service accounts, privileges and images are restricted by configuration.
//!
//! Every violation is reported with the path of the offending field. Admission control in the cluster (Pod
//! Security Admission) remains the operator's second line; this module does not try to replace it.

use std::fmt;

use k8s_openapi::api::core::v1::{Container, PodSpec, SecurityContext};

use crate::config::Settings;
use crate::manifest::Workload;

/// Every policy violation of one object; `Display` is the reason after `kubernetes policy: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The violations in manifest order.
    pub violations: Vec<Violation>,
}

/// One forbidden setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where, e.g. `spec.containers[0].securityContext.privileged`.
    pub path: String,
    /// Why it is refused.
    pub reason: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, violation) in self.violations.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", violation.path, violation.reason)?;
        }
        Ok(())
    }
}

/// Checks a normalised object against the policy in `settings`.
pub fn check(workload: &Workload, settings: &Settings) -> Result<(), PolicyError> {
    let mut violations = Vec::new();
    let mut refuse = |path: String, reason: String| violations.push(Violation { path, reason });

    let namespace = workload.metadata().namespace.as_deref().unwrap_or("");
    if !settings
        .allowed_namespaces
        .iter()
        .any(|allowed| allowed == namespace)
    {
        refuse(
            "metadata.namespace".to_owned(),
            format!(
                "namespace {namespace:?} is not allowed (allowed: {})",
                settings.allowed_namespaces.join(", ")
            ),
        );
    }
    let spec_path = workload.pod_spec_path();
    if let Some(spec) = workload.pod_spec() {
        check_service_account(spec, spec_path, settings, &mut refuse);
        if !settings.config.allow_privileged {
            check_privileges(spec, spec_path, &mut refuse);
        }
        if !settings.allowed_images.is_empty() {
            for (path, container) in containers(spec, spec_path) {
                let image = container.image.as_deref().unwrap_or("");
                if !settings
                    .allowed_images
                    .iter()
                    .any(|pattern| pattern.is_match(image))
                {
                    refuse(
                        format!("{path}.image"),
                        format!("image {image:?} matches no allowed image pattern"),
                    );
                }
            }
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(PolicyError { violations })
    }
}

fn check_service_account(
    spec: &PodSpec,
    spec_path: &str,
    settings: &Settings,
    refuse: &mut impl FnMut(String, String),
) {
    let allowed = &settings.config.allowed_service_accounts;
    // `serviceAccount` is the deprecated spelling; the API server copies it into `serviceAccountName`, so
    // both are checked.
    for (field, value) in [
        ("serviceAccountName", &spec.service_account_name),
        ("serviceAccount", &spec.service_account),
    ] {
        let account = value
            .as_deref()
            .filter(|name| !name.is_empty())
            .unwrap_or("default");
        if (field == "serviceAccountName" || value.is_some()) && !allowed.iter().any(|name| name == account) {
            refuse(
                format!("{spec_path}.{field}"),
                format!(
                    "service account {account:?} is not allowed (allowed: {})",
                    allowed.join(", ")
                ),
            );
        }
    }
}

fn check_privileges(spec: &PodSpec, spec_path: &str, refuse: &mut impl FnMut(String, String)) {
    for (field, value) in [
        ("hostNetwork", spec.host_network),
        ("hostPID", spec.host_pid),
        ("hostIPC", spec.host_ipc),
    ] {
        if value == Some(true) {
            refuse(
                format!("{spec_path}.{field}"),
                "host namespaces are not allowed".to_owned(),
            );
        }
    }
    for (index, volume) in spec.volumes.iter().flatten().enumerate() {
        if volume.host_path.is_some() {
            refuse(
                format!("{spec_path}.volumes[{index}].hostPath"),
                "hostPath volumes are not allowed".to_owned(),
            );
        }
    }
    for (path, container) in containers(spec, spec_path) {
        if let Some(context) = &container.security_context {
            check_security_context(context, &format!("{path}.securityContext"), refuse);
        }
        for (index, port) in container.ports.iter().flatten().enumerate() {
            if port.host_port.is_some_and(|host_port| host_port != 0) {
                refuse(
                    format!("{path}.ports[{index}].hostPort"),
                    "host ports are not allowed".to_owned(),
                );
            }
        }
    }
    for (index, container) in spec.ephemeral_containers.iter().flatten().enumerate() {
        if let Some(context) = &container.security_context {
            check_security_context(
                context,
                &format!("{spec_path}.ephemeralContainers[{index}].securityContext"),
                refuse,
            );
        }
    }
}

fn check_security_context(context: &SecurityContext, path: &str, refuse: &mut impl FnMut(String, String)) {
    if context.privileged == Some(true) {
        refuse(
            format!("{path}.privileged"),
            "privileged containers are not allowed".to_owned(),
        );
    }
    if context.allow_privilege_escalation == Some(true) {
        refuse(
            format!("{path}.allowPrivilegeEscalation"),
            "privilege escalation is not allowed".to_owned(),
        );
    }
    let added = context
        .capabilities
        .as_ref()
        .and_then(|capabilities| capabilities.add.as_ref());
    if let Some(added) = added.filter(|added| !added.is_empty()) {
        refuse(
            format!("{path}.capabilities.add"),
            format!("adding capabilities ({}) is not allowed", added.join(", ")),
        );
    }
}

/// Init and app containers with their paths.
fn containers<'a>(spec: &'a PodSpec, spec_path: &str) -> Vec<(String, &'a Container)> {
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| (format!("{spec_path}.initContainers[{i}]"), c));
    let app = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("{spec_path}.containers[{i}]"), c));
    init.chain(app).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Host, KubernetesConfig};
    use crate::manifest;

    fn check_case(config: &str, metadata: &str, spec: &str, expected: Result<(), &str>) {
        let config: KubernetesConfig = toml::from_str(config).unwrap();
        let settings = config
            .validate(&Host {
                in_cluster_namespace: None,
                host_name: "h".to_owned(),
            })
            .unwrap();
        let input = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{namespace: default, {metadata}}}\nspec: {{{spec}}}"
        );
        let parsed = manifest::parse(&input, "xxl-job/").unwrap();
        let got = check(&parsed.workload, &settings).map_err(|error| error.to_string());
        assert_eq!(got, expected.map_err(str::to_owned), "{input}");
    }

    const C: &str = "containers: [{name: a, image: busybox}]";

    #[test]
    fn policy_cases() {
        check_case("", "", C, Ok(()));
        check_case(
            "",
            "namespace: kube-system",
            C,
            Err("metadata.namespace: namespace \"kube-system\" is not allowed (allowed: default)"),
        );
        check_case(
            "allowed_namespaces = [\"jobs\", \"default\"]",
            "namespace: jobs",
            C,
            Ok(()),
        );
        check_case("", "", &format!("serviceAccountName: '', {C}"), Ok(()));
        check_case(
            "",
            "",
            &format!("serviceAccountName: admin, {C}"),
            Err("spec.serviceAccountName: service account \"admin\" is not allowed (allowed: default)"),
        );
        check_case(
            "",
            "",
            &format!("serviceAccount: admin, {C}"),
            Err("spec.serviceAccount: service account \"admin\" is not allowed (allowed: default)"),
        );
        check_case(
            "allowed_service_accounts = [\"runner\"]",
            "",
            C,
            Err("spec.serviceAccountName: service account \"default\" is not allowed (allowed: runner)"),
        );
        check_case(
            "allowed_service_accounts = [\"runner\"]",
            "",
            &format!("serviceAccountName: runner, {C}"),
            Ok(()),
        );
        check_case(
            "",
            "",
            &format!("hostNetwork: true, hostPID: true, hostIPC: false, {C}"),
            Err(
                "spec.hostNetwork: host namespaces are not allowed; spec.hostPID: host namespaces are not allowed",
            ),
        );
        check_case(
            "",
            "",
            &format!("volumes: [{{name: v, emptyDir: {{}}}}, {{name: h, hostPath: {{path: /}}}}], {C}"),
            Err("spec.volumes[1].hostPath: hostPath volumes are not allowed"),
        );
        check_case(
            "",
            "",
            "containers: [{name: a, securityContext: {privileged: true}}]",
            Err("spec.containers[0].securityContext.privileged: privileged containers are not allowed"),
        );
        check_case(
            "",
            "",
            "containers: [{name: a, securityContext: {privileged: false, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]",
            Ok(()),
        );
        check_case(
            "",
            "",
            "initContainers: [{name: i, securityContext: {allowPrivilegeEscalation: true}}], containers: [{name: a}]",
            Err(
                "spec.initContainers[0].securityContext.allowPrivilegeEscalation: privilege escalation is not allowed",
            ),
        );
        check_case(
            "",
            "",
            "containers: [{name: a}, {name: b, securityContext: {capabilities: {add: [NET_ADMIN, SYS_TIME]}}}]",
            Err(
                "spec.containers[1].securityContext.capabilities.add: adding capabilities (NET_ADMIN, SYS_TIME) is not allowed",
            ),
        );
        check_case(
            "",
            "",
            "containers: [{name: a, ports: [{containerPort: 80}, {containerPort: 81, hostPort: 8081}]}]",
            Err("spec.containers[0].ports[1].hostPort: host ports are not allowed"),
        );
        check_case(
            "allow_privileged = true",
            "",
            "hostNetwork: true, containers: [{name: a, securityContext: {privileged: true}, ports: [{containerPort: 1, hostPort: 1}]}]",
            Ok(()),
        );
        check_case(
            "allowed_images = [\"busybox(:.*)?\", \"registry\\\\.example\\\\.com/.*\"]",
            "",
            "containers: [{name: a, image: busybox}, {name: b, image: 'registry.example.com/x:1'}]",
            Ok(()),
        );
        check_case(
            "allowed_images = [\"busybox\"]",
            "",
            "containers: [{name: a, image: evil/busybox}, {name: b}]",
            Err(
                "spec.containers[0].image: image \"evil/busybox\" matches no allowed image pattern; spec.containers[1].image: image \"\" matches no allowed image pattern",
            ),
        );
        check_case(
            "",
            "namespace: other",
            "hostPID: true, containers: [{name: a}]",
            Err(
                "metadata.namespace: namespace \"other\" is not allowed (allowed: default); spec.hostPID: host namespaces are not allowed",
            ),
        );
    }

    #[test]
    fn job_paths_name_the_template() {
        let settings = Settings::from_defaults(&Host {
            in_cluster_namespace: None,
            host_name: "h".to_owned(),
        })
        .unwrap();
        let input = "apiVersion: batch/v1\nkind: Job\nmetadata: {namespace: default}\nspec:\n  template:\n    spec:\n      hostNetwork: true\n      containers: [{name: a}]\n";
        let parsed = manifest::parse(input, "xxl-job/").unwrap();
        let error = check(&parsed.workload, &settings).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.template.spec.hostNetwork: host namespaces are not allowed"
        );
    }
}
