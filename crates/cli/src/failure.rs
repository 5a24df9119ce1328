//! How a subcommand tells `main` that the user's input was at fault (exit status 2) rather than the
//! environment (exit status 1).

use std::fmt;

/// Bad input from the user: an invalid expression, an unknown time zone. `main` prints it as one line and
/// exits with status 2, like clap does for malformed arguments.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
