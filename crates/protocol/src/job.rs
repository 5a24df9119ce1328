//! Job vocabulary both sides share: the [`JobId`] and [`LogId`] identifiers, the GLUE types ([`GlueType`])
//! and the executor-side block strategies ([`BlockStrategy`]), with their upstream spellings and labels.
//!
//! Admin-only job settings (schedule type, misfire and route strategies) are not here: only the admin
//! interprets them, and it owns their enums.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Generation;
use crate::wire_enum::wire_enum;

/// A job's id (`xxl_job_info.id`; a Java `int` upstream).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i32);

/// The id of one execution's log row (`xxl_job_log.id`; a Java `long` upstream).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LogId(pub i64);

wire_enum! {
    /// How a job's code is provided (`glueType`): a handler registered in the executor (`BEAN`) or source
    /// text the admin sends with every trigger (the `GLUE_*` types).
    pub enum GlueType ("glue type") {
        /// A handler registered in the executor under `executorHandler`.
        Bean = "BEAN",
        /// Groovy/Java source compiled inside a JVM executor; a non-JVM executor rejects it.
        Groovy = "GLUE_GROOVY",
        /// A shell script run with `bash`.
        Shell = "GLUE_SHELL",
        /// A Python script (Python 3 from 3.2.0 on; see [`GlueType::interpreter`]).
        Python = "GLUE_PYTHON",
        /// A Python 2 script (upstream 3.2.0 and later).
        Python2 = "GLUE_PYTHON2",
        /// A Node.js script.
        Nodejs = "GLUE_NODEJS",
        /// A PowerShell script.
        PowerShell = "GLUE_POWERSHELL",
        /// A PHP script.
        Php = "GLUE_PHP",
    }
}

wire_enum! {
    /// What an executor does with a trigger while the job's previous execution is still running or queued
    /// (`executorBlockStrategy`).
    pub enum BlockStrategy ("block strategy") {
        /// Queue behind the running execution (also what any unknown value does).
        SerialExecution = "SERIAL_EXECUTION",
        /// Reject the new trigger.
        DiscardLater = "DISCARD_LATER",
        /// Stop the running execution and run the new trigger on a fresh job thread.
        CoverEarly = "COVER_EARLY",
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<i32> for JobId {
    fn from(id: i32) -> Self {
        JobId(id)
    }
}

impl From<i64> for LogId {
    fn from(id: i64) -> Self {
        LogId(id)
    }
}

impl GlueType {
    /// The label upstream shows for the type (`GlueTypeEnum.desc`), also used in the executor's
    /// `fail, current glue type [<label>] not supported.` reply.
    ///
    /// Only `GLUE_PYTHON` differs: `GLUE(Python)` in G1 releases before 3.2.0, `GLUE(Python3)` from 3.2.0 on.
    pub fn label(self, generation: Generation) -> &'static str {
        match self {
            GlueType::Bean => "BEAN",
            GlueType::Groovy => "GLUE(Java)",
            GlueType::Shell => "GLUE(Shell)",
            GlueType::Python if generation == Generation::G1 => "GLUE(Python)",
            GlueType::Python => "GLUE(Python3)",
            GlueType::Python2 => "GLUE(Python2)",
            GlueType::Nodejs => "GLUE(Nodejs)",
            GlueType::PowerShell => "GLUE(PowerShell)",
            GlueType::Php => "GLUE(PHP)",
        }
    }

    /// Whether the source is a script run as a child process (every `GLUE_*` type except `GLUE_GROOVY`).
    pub fn is_script(self) -> bool {
        !matches!(self, GlueType::Bean | GlueType::Groovy)
    }

    /// The executable upstream executors of a generation start a script with, looked up on `PATH`; `None` for
    /// the non-script types.
    ///
    /// Upstream changed two of them inside a generation: 3.2.0 (G1) already runs `GLUE_PYTHON` with
    /// `python3`, and 3.4.2 (G2) already runs `GLUE_POWERSHELL` with `pwsh`. The value returned is the one
    /// most releases of the generation use.
    pub fn interpreter(self, generation: Generation) -> Option<&'static str> {
        match self {
            GlueType::Bean | GlueType::Groovy => None,
            GlueType::Shell => Some("bash"),
            GlueType::Python if generation == Generation::G1 => Some("python"),
            GlueType::Python => Some("python3"),
            GlueType::Python2 => Some("python"),
            GlueType::Nodejs => Some("node"),
            GlueType::PowerShell if generation == Generation::G3 => Some("pwsh"),
            GlueType::PowerShell => Some("powershell"),
            GlueType::Php => Some("php"),
        }
    }

    /// The file-name suffix of the script file (`.sh`, `.py`, …); `None` for the non-script types.
    pub fn file_suffix(self) -> Option<&'static str> {
        match self {
            GlueType::Bean | GlueType::Groovy => None,
            GlueType::Shell => Some(".sh"),
            GlueType::Python | GlueType::Python2 => Some(".py"),
            GlueType::Nodejs => Some(".js"),
            GlueType::PowerShell => Some(".ps1"),
            GlueType::Php => Some(".php"),
        }
    }
}

impl BlockStrategy {
    /// Upstream's English title (`ExecutorBlockStrategyEnum.title`), which also appears in the
    /// `block strategy effect：<title>` texts.
    pub fn title(self) -> &'static str {
        match self {
            BlockStrategy::SerialExecution => "Serial execution",
            BlockStrategy::DiscardLater => "Discard Later",
            BlockStrategy::CoverEarly => "Cover Early",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WireEnum;

    #[test]
    fn glue_type_labels() {
        use GlueType::*;
        fn check(glue: GlueType, g1: &str, later: &str) {
            assert_eq!(glue.label(Generation::G1), g1, "{glue}");
            assert_eq!(glue.label(Generation::G2), later, "{glue}");
            assert_eq!(glue.label(Generation::G3), later, "{glue}");
        }
        check(Bean, "BEAN", "BEAN");
        check(Groovy, "GLUE(Java)", "GLUE(Java)");
        check(Shell, "GLUE(Shell)", "GLUE(Shell)");
        check(Python, "GLUE(Python)", "GLUE(Python3)");
        check(Python2, "GLUE(Python2)", "GLUE(Python2)");
        check(Nodejs, "GLUE(Nodejs)", "GLUE(Nodejs)");
        check(PowerShell, "GLUE(PowerShell)", "GLUE(PowerShell)");
        check(Php, "GLUE(PHP)", "GLUE(PHP)");
    }

    #[test]
    fn glue_type_scripts() {
        use GlueType::*;
        /// Interpreters in G1, G2, G3; a type is a script exactly when it has a suffix.
        fn check(glue: GlueType, interpreters: [Option<&str>; 3], suffix: Option<&str>) {
            let found = Generation::ALL.map(|generation| glue.interpreter(generation));
            assert_eq!(found, interpreters, "{glue}");
            assert_eq!(glue.file_suffix(), suffix, "{glue}");
            assert_eq!(glue.is_script(), suffix.is_some(), "{glue}");
        }
        check(Bean, [None; 3], None);
        check(Groovy, [None; 3], None);
        check(Shell, [Some("bash"); 3], Some(".sh"));
        check(
            Python,
            [Some("python"), Some("python3"), Some("python3")],
            Some(".py"),
        );
        check(Python2, [Some("python"); 3], Some(".py"));
        check(Nodejs, [Some("node"); 3], Some(".js"));
        check(
            PowerShell,
            [Some("powershell"), Some("powershell"), Some("pwsh")],
            Some(".ps1"),
        );
        check(Php, [Some("php"); 3], Some(".php"));
    }

    #[test]
    fn block_strategy_titles() {
        let titles: Vec<&str> = BlockStrategy::ALL
            .iter()
            .map(|strategy| strategy.title())
            .collect();
        assert_eq!(titles, ["Serial execution", "Discard Later", "Cover Early"]);
    }
}
