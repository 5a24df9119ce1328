//! The texts a trigger leaves in its log row, as the console shows them: `trigger_msg`, the executor-result
//! message, the route-failure and empty-address messages, and the FAILOVER/BUSYOVER probe log.
//!
//! They are HTML: `<br>` separates lines. Every value that did not originate in this file — handler,
//! parameter, addresses, executor replies, error texts — is HTML-escaped, so nothing a user or an executor
//! sends can inject markup into the console (upstream prints them raw). The labels are this product's own
//! English texts. Computing the values is the trigger procedure's job.

use std::fmt::Write as _;

use xjob_protocol::{BlockStrategy, Envelope, code};

use crate::route::{ProbeAttempt, ProbeKind, RouteFailure, RouteStrategy, Routed};
use crate::trigger::ClientError;

/// Which upstream release's `trigger_msg` layout to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MessageStyle {
    /// Upstream HEAD (3.3.2 on): after the separator, one line each for address, handler, parameter and
    /// result; the probe log appears only when routing failed.
    #[default]
    Current,
    /// Upstream 2.4.x: after the separator, the route message (the probe log, even on success) and then the
    /// executor-result message.
    Release24,
}

/// How the group's addresses are maintained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Registration {
    /// Executors register themselves (`address_type = 0`).
    Automatic,
    /// The addresses are typed in, or a manual trigger overrode them (`address_type = 1`).
    Manual,
}

/// How the address of one trigger was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressChoice<'a> {
    /// SHARDING_BROADCAST: the shard's address, without routing.
    Shard(&'a str),
    /// The router chose an address.
    Routed(Routed<'a>),
    /// The router chose none.
    Failed(RouteFailure),
}

/// The executor's answer to the trigger call as the log row keeps it: `trigger_code` and the message that
/// goes into `trigger_msg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerResult {
    /// `trigger_code`: the executor's code, or 500 when there was no executor answer.
    pub code: i32,
    /// The message, HTML; `None` only for the 2.4.x "no address" result.
    pub msg: Option<String>,
}

/// Everything `trigger_msg` shows about one trigger.
#[derive(Clone, Debug)]
pub struct TriggerReport<'a> {
    /// Title of the trigger type, e.g. `Cron trigger`.
    pub trigger_type: &'a str,
    /// This admin's address.
    pub admin_address: &'a str,
    /// How the group's addresses are maintained.
    pub registration: Registration,
    /// The group's address list; `None` prints as `null`, as upstream prints a group without addresses.
    pub addresses: Option<&'a [String]>,
    /// The job's routing strategy.
    pub route_strategy: RouteStrategy,
    /// `(index, total)` of a SHARDING_BROADCAST shard.
    pub shard: Option<(usize, usize)>,
    /// The job's block strategy.
    pub block_strategy: BlockStrategy,
    /// The job's execution timeout in seconds.
    pub timeout: i32,
    /// The retry count in effect for this trigger.
    pub fail_retry_count: i32,
    /// The handler name; left out when blank.
    pub handler: Option<&'a str>,
    /// The parameter after any override; `None` prints as `null`.
    pub param: Option<&'a str>,
    /// How the address was chosen.
    pub choice: &'a AddressChoice<'a>,
    /// The executor's answer.
    pub result: &'a TriggerResult,
}

/// Label of the trigger call, in the separator and at the head of the executor-result message.
const RUN_LABEL: &str = "Executor call";

/// Route message when the group has no executor address.
pub const ADDRESS_EMPTY: &str = "Trigger failed：the executor address list is empty";

/// Executor-result message when no address was chosen (current style).
pub const ADDRESS_ROUTE_FAILED: &str = "Address Router Fail.";

impl TriggerResult {
    /// The executor answered: its code, and a message naming address, code and the executor's message.
    pub fn from_reply(address: &str, reply: &Envelope<String>) -> Self {
        TriggerResult {
            code: reply.code,
            msg: Some(format!(
                "{RUN_LABEL}：<br>address：{}<br>code：{}<br>msg：{}",
                escape(address),
                reply.code,
                escape(reply.msg.as_deref().unwrap_or("null"))
            )),
        }
    }

    /// The call failed without an answer: code 500 and the error text.
    pub fn from_error(error: &ClientError) -> Self {
        TriggerResult {
            code: code::FAILURE,
            msg: Some(escape(&error.to_string())),
        }
    }

    /// No address was chosen, so no executor was called.
    pub fn no_address(style: MessageStyle) -> Self {
        TriggerResult {
            code: code::FAILURE,
            msg: match style {
                MessageStyle::Current => Some(ADDRESS_ROUTE_FAILED.to_owned()),
                MessageStyle::Release24 => None,
            },
        }
    }

    /// Whether the executor accepted the trigger.
    pub fn is_success(&self) -> bool {
        self.code == code::SUCCESS
    }
}

impl AddressChoice<'_> {
    /// The chosen address, if any.
    pub fn address(&self) -> Option<&str> {
        match self {
            AddressChoice::Shard(address) => Some(address),
            AddressChoice::Routed(routed) => Some(routed.address),
            AddressChoice::Failed(_) => None,
        }
    }
}

/// The route message of a failed routing, HTML: the empty-address text, the probe log, or nothing.
pub fn route_failure_message(failure: &RouteFailure) -> Option<String> {
    match failure {
        RouteFailure::NoAddress => Some(ADDRESS_EMPTY.to_owned()),
        RouteFailure::ProbesFailed(attempts) => Some(probe_log(attempts)),
        RouteFailure::NotRouted(_) => None,
    }
}

/// The FAILOVER/BUSYOVER log: one block per attempt, blank line between blocks.
pub fn probe_log(attempts: &[ProbeAttempt]) -> String {
    let blocks: Vec<String> = attempts
        .iter()
        .map(|attempt| {
            let label = match attempt.kind {
                ProbeKind::Beat => "Heartbeat check",
                ProbeKind::IdleBeat => "Idle check",
            };
            format!(
                "{label}：<br>address：{}<br>code：{}<br>msg：{}",
                escape(&attempt.address),
                attempt.code,
                escape(attempt.msg.as_deref().unwrap_or("null"))
            )
        })
        .collect();
    blocks.join("<br><br>")
}

/// The whole `trigger_msg` of one trigger.
pub fn trigger_msg(report: &TriggerReport<'_>, style: MessageStyle) -> String {
    let mut text = String::with_capacity(512);
    let registration = match report.registration {
        Registration::Automatic => "Automatic registration",
        Registration::Manual => "Manual registration",
    };
    let addresses = report.addresses.map_or_else(
        || "null".to_owned(),
        |list| {
            let escaped: Vec<String> = list.iter().map(|address| escape(address)).collect();
            format!("[{}]", escaped.join(", "))
        },
    );
    // Writing into a String cannot fail.
    let _ = write!(
        text,
        "Trigger type：{}<br>Admin address：{}<br>Executor registration：{registration}\
         <br>Executor addresses：{addresses}<br>Routing strategy：{}",
        escape(report.trigger_type),
        escape(report.admin_address),
        report.route_strategy.title(),
    );
    if let Some((index, total)) = report.shard {
        let _ = write!(text, "({index}/{total})");
    }
    let _ = write!(
        text,
        "<br>Block strategy：{}<br>Timeout：{}<br>Fail retry count：{}",
        report.block_strategy.title(),
        report.timeout,
        report.fail_retry_count,
    );
    text.push_str(&section_header(RUN_LABEL));
    match style {
        MessageStyle::Current => write_current_tail(&mut text, report),
        MessageStyle::Release24 => write_release24_tail(&mut text, report),
    }
    text
}

/// The highlighted heading that opens a section of a log's messages (the executor call in `trigger_msg`, a
/// fail retry appended to it, the child-job report in `handle_msg`). `title` is this file's or a caller's
/// own text, never user input.
pub fn section_header(title: &str) -> String {
    format!("<br><br><span style=\"color:#00c0ef;\" > >>>>>>>>>>>{title}<<<<<<<<<<< </span><br>")
}

fn write_current_tail(text: &mut String, report: &TriggerReport<'_>) {
    let address = match report.choice {
        AddressChoice::Failed(failure) => match route_failure_message(failure) {
            Some(message) => format!("address route fail, {message}"),
            None => "address route fail.".to_owned(),
        },
        chosen => chosen.address().map(escape).unwrap_or_default(),
    };
    let _ = write!(text, "<br>Executor address：{address}");
    if let Some(handler) = report.handler.filter(|handler| !handler.trim().is_empty()) {
        let _ = write!(text, "<br>JobHandler：{}", escape(handler));
    }
    let _ = write!(
        text,
        "<br>Job parameter：{}",
        escape(report.param.unwrap_or("null"))
    );
    let outcome = if report.result.is_success() {
        "success".to_owned()
    } else if let Some(msg) = &report.result.msg {
        format!("error, {msg}")
    } else {
        "fail".to_owned()
    };
    let _ = write!(text, "<br>Trigger result：{outcome}");
}

fn write_release24_tail(text: &mut String, report: &TriggerReport<'_>) {
    let route_message = match report.choice {
        AddressChoice::Shard(_) => None,
        AddressChoice::Routed(routed) if routed.probes.is_empty() => None,
        AddressChoice::Routed(routed) => Some(probe_log(&routed.probes)),
        AddressChoice::Failed(failure) => route_failure_message(failure),
    };
    if let Some(message) = route_message {
        text.push_str(&message);
        text.push_str("<br><br>");
    }
    if let Some(msg) = &report.result.msg {
        text.push_str(msg);
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests;
