//! Where requests go and how they are marked: the executor's endpoint paths per generation
//! ([`ExecutorEndpoint`]), the admin's `/api/<name>` endpoints ([`AdminEndpoint`]), header names and content
//! types.
//!
//! Building full URLs from configured addresses is in [`crate::address`]; no HTTP types appear here.

use crate::Generation;

/// Header carrying the access token, in both directions and every generation.
pub const ACCESS_TOKEN_HEADER: &str = "XXL-JOB-ACCESS-TOKEN";

/// Header carrying the executor group's AppName (G3; older peers ignore it).
pub const APP_NAME_HEADER: &str = "XXL-JOB-APPNAME";

/// `Content-Type` of every request body.
pub const REQUEST_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// `Content-Type` of executor replies. The body is JSON; upstream labels it HTML, and peers ignore it.
pub const EXECUTOR_REPLY_CONTENT_TYPE: &str = "text/html;charset=UTF-8";

/// Path prefix of the admin's executor-facing and job-management endpoints, below its context path.
pub const ADMIN_API_PATH: &str = "/api";

/// An endpoint served by an executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecutorEndpoint {
    /// `/beat`: liveness (FAILOVER routing).
    Beat,
    /// `/idleBeat`: whether a job's thread is idle (BUSYOVER routing).
    IdleBeat,
    /// `/run` (G1, G2) or `/trigger` (G3): start one execution.
    Trigger,
    /// `/kill`: stop a job's thread.
    Kill,
    /// `/log`: read an execution's log.
    Log,
}

/// An endpoint served by the admin below [`ADMIN_API_PATH`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdminEndpoint {
    /// `registry`: executor heartbeat.
    Registry,
    /// `registryRemove`: executor shutdown.
    RegistryRemove,
    /// `callback`: execution results.
    Callback,
    /// `addJob` (G3 job API).
    AddJob,
    /// `updateJob` (G3 job API).
    UpdateJob,
    /// `removeJob` (G3 job API).
    RemoveJob,
    /// `startJob` (G3 job API).
    StartJob,
    /// `stopJob` (G3 job API).
    StopJob,
    /// `triggerJob` (G3 job API).
    TriggerJob,
}

impl ExecutorEndpoint {
    /// Every executor endpoint.
    pub const ALL: [ExecutorEndpoint; 5] = [
        ExecutorEndpoint::Beat,
        ExecutorEndpoint::IdleBeat,
        ExecutorEndpoint::Trigger,
        ExecutorEndpoint::Kill,
        ExecutorEndpoint::Log,
    ];

    /// The request path in `generation`, e.g. `/run` or `/trigger`.
    pub fn path(self, generation: Generation) -> &'static str {
        match self {
            ExecutorEndpoint::Beat => "/beat",
            ExecutorEndpoint::IdleBeat => "/idleBeat",
            ExecutorEndpoint::Trigger if generation == Generation::G3 => "/trigger",
            ExecutorEndpoint::Trigger => "/run",
            ExecutorEndpoint::Kill => "/kill",
            ExecutorEndpoint::Log => "/log",
        }
    }

    /// The path without its leading `/`, e.g. `beat`.
    pub fn name(self, generation: Generation) -> &'static str {
        let path = self.path(generation);
        path.strip_prefix('/').unwrap_or(path)
    }

    /// The endpoint whose path is exactly `path` (upstream matches the raw request URI: no query string, no
    /// trailing slash, case-sensitive). With `Some(generation)` only that generation's paths match — a G3
    /// executor answers `/run` with "not found", as upstream does; with `None` every generation's paths
    /// match.
    pub fn from_path(path: &str, generation: Option<Generation>) -> Option<Self> {
        let in_generation = |generation| {
            ExecutorEndpoint::ALL
                .into_iter()
                .find(|endpoint| endpoint.path(generation) == path)
        };
        match generation {
            Some(generation) => in_generation(generation),
            None => Generation::ALL.into_iter().find_map(in_generation),
        }
    }
}

impl AdminEndpoint {
    /// Every admin endpoint.
    pub const ALL: [AdminEndpoint; 9] = [
        AdminEndpoint::Registry,
        AdminEndpoint::RegistryRemove,
        AdminEndpoint::Callback,
        AdminEndpoint::AddJob,
        AdminEndpoint::UpdateJob,
        AdminEndpoint::RemoveJob,
        AdminEndpoint::StartJob,
        AdminEndpoint::StopJob,
        AdminEndpoint::TriggerJob,
    ];

    /// The name after `/api/`, e.g. `registryRemove`.
    pub fn name(self) -> &'static str {
        match self {
            AdminEndpoint::Registry => "registry",
            AdminEndpoint::RegistryRemove => "registryRemove",
            AdminEndpoint::Callback => "callback",
            AdminEndpoint::AddJob => "addJob",
            AdminEndpoint::UpdateJob => "updateJob",
            AdminEndpoint::RemoveJob => "removeJob",
            AdminEndpoint::StartJob => "startJob",
            AdminEndpoint::StopJob => "stopJob",
            AdminEndpoint::TriggerJob => "triggerJob",
        }
    }

    /// The endpoint with exactly this name (case-sensitive, as upstream's dispatcher).
    pub fn from_name(name: &str) -> Option<Self> {
        AdminEndpoint::ALL
            .into_iter()
            .find(|endpoint| endpoint.name() == name)
    }

    /// Whether this is part of the G3 job-management API rather than the executor protocol.
    pub fn is_job_api(self) -> bool {
        !matches!(
            self,
            AdminEndpoint::Registry | AdminEndpoint::RegistryRemove | AdminEndpoint::Callback
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_paths_per_generation() {
        // (endpoint, G1, G2, G3)
        let table = [
            (ExecutorEndpoint::Beat, "/beat", "/beat", "/beat"),
            (ExecutorEndpoint::IdleBeat, "/idleBeat", "/idleBeat", "/idleBeat"),
            (ExecutorEndpoint::Trigger, "/run", "/run", "/trigger"),
            (ExecutorEndpoint::Kill, "/kill", "/kill", "/kill"),
            (ExecutorEndpoint::Log, "/log", "/log", "/log"),
        ];
        for (endpoint, g1, g2, g3) in table {
            assert_eq!(endpoint.path(Generation::G1), g1);
            assert_eq!(endpoint.path(Generation::G2), g2);
            assert_eq!(endpoint.path(Generation::G3), g3);
            assert_eq!(format!("/{}", endpoint.name(Generation::G3)), g3);
        }
    }

    #[test]
    fn executor_path_matching_is_exact() {
        use ExecutorEndpoint::*;
        use Generation::*;
        // (path, generation, expected)
        let table = [
            ("/beat", Some(G1), Some(Beat)),
            ("/beat", None, Some(Beat)),
            ("/run", Some(G1), Some(Trigger)),
            ("/run", Some(G2), Some(Trigger)),
            ("/run", Some(G3), None),
            ("/trigger", Some(G3), Some(Trigger)),
            ("/trigger", Some(G2), None),
            ("/trigger", None, Some(Trigger)),
            ("/run", None, Some(Trigger)),
            ("/idleBeat", Some(G3), Some(IdleBeat)),
            ("/kill", Some(G2), Some(Kill)),
            ("/log", Some(G3), Some(Log)),
            ("/beat?x=1", None, None),
            ("/beat/", None, None),
            ("/Beat", None, None),
            ("/idlebeat", None, None),
            ("beat", None, None),
            ("//beat", None, None),
            ("", None, None),
            ("/", None, None),
        ];
        for (path, generation, expected) in table {
            assert_eq!(
                ExecutorEndpoint::from_path(path, generation),
                expected,
                "{path} {generation:?}"
            );
        }
    }

    #[test]
    fn admin_names() {
        let names: Vec<&str> = AdminEndpoint::ALL
            .iter()
            .map(|endpoint| endpoint.name())
            .collect();
        assert_eq!(
            names,
            [
                "registry",
                "registryRemove",
                "callback",
                "addJob",
                "updateJob",
                "removeJob",
                "startJob",
                "stopJob",
                "triggerJob"
            ]
        );
        for endpoint in AdminEndpoint::ALL {
            assert_eq!(AdminEndpoint::from_name(endpoint.name()), Some(endpoint));
        }
        let job_api: Vec<bool> = AdminEndpoint::ALL
            .iter()
            .map(|endpoint| endpoint.is_job_api())
            .collect();
        assert_eq!(job_api, [false, false, false, true, true, true, true, true, true]);
        for unknown in ["Registry", "registry/", "", "api/registry", "registryremove"] {
            assert_eq!(AdminEndpoint::from_name(unknown), None, "{unknown}");
        }
    }
}
