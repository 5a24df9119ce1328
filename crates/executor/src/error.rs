//! The errors [`crate::ExecutorBuilder::start`] can return.
//!
//! Failures while serving (bad requests, unreachable admins) never surface here: requests are answered with
//! upstream's failure envelopes and admin outages are retried and logged.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the executor could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// No access token is configured and `allow_no_token` is not set.
    #[error("no access token configured; set one, or set allow_no_token to run without (insecure)")]
    MissingToken,
    /// The AppName is blank.
    #[error("the executor's app name is blank")]
    MissingAppName,
    /// Two handlers were registered under the same name.
    #[error("two job handlers are named `{0}`")]
    DuplicateHandler(String),
    /// A handler name is blank.
    #[error("a job handler name is blank")]
    BlankHandlerName,
    /// A setting is unusable; the text names it.
    #[error("invalid executor setting: {0}")]
    InvalidConfig(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from the configuration.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// The log directory (or a directory below it) could not be created.
    #[error("cannot create log directory {}: {source}", path.display())]
    LogDirectory {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The thread that writes execution logs could not be started.
    #[error("cannot start the execution log writer thread: {0}")]
    LogWriter(io::Error),
    /// The HTTP client for calls to admins could not be built.
    #[error("cannot build the HTTP client for admin calls: {0}")]
    HttpClient(String),
}
