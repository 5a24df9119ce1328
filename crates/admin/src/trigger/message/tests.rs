use xjob_protocol::{BlockStrategy, Envelope};

use super::*;

const SEPARATOR: &str =
    "<br><br><span style=\"color:#00c0ef;\" > >>>>>>>>>>>Executor call<<<<<<<<<<< </span><br>";

fn addresses(list: &[&str]) -> Vec<String> {
    list.iter().map(|address| (*address).to_owned()).collect()
}

fn beat(address: &str, code: i32, msg: Option<&str>) -> ProbeAttempt {
    ProbeAttempt {
        kind: ProbeKind::Beat,
        address: address.to_owned(),
        code,
        msg: msg.map(str::to_owned),
    }
}

/// The head every case shares: cron trigger, ROUND-like settings, two automatic addresses.
fn head(strategy: &str) -> String {
    format!(
        "Trigger type：Cron trigger<br>Admin address：10.0.0.9<br>Executor registration：Automatic registration\
         <br>Executor addresses：[http://a:9999/, http://b:9999/]<br>Routing strategy：{strategy}\
         <br>Block strategy：Serial execution<br>Timeout：0<br>Fail retry count：1{SEPARATOR}"
    )
}

fn check(
    strategy: RouteStrategy,
    choice: &AddressChoice<'_>,
    result: &TriggerResult,
    style: MessageStyle,
    expected: &str,
) {
    let list = addresses(&["http://a:9999/", "http://b:9999/"]);
    let report = TriggerReport {
        trigger_type: "Cron trigger",
        admin_address: "10.0.0.9",
        registration: Registration::Automatic,
        addresses: Some(&list),
        route_strategy: strategy,
        shard: None,
        block_strategy: BlockStrategy::SerialExecution,
        timeout: 0,
        fail_retry_count: 1,
        handler: Some("demoJobHandler"),
        param: Some("a=1"),
        choice,
        result,
    };
    assert_eq!(trigger_msg(&report, style), expected, "{strategy} {style:?}");
}

#[test]
fn trigger_messages() {
    use MessageStyle::*;
    let accepted = TriggerResult::from_reply("http://a:9999/", &Envelope::success());
    let rejected = TriggerResult::from_reply(
        "http://a:9999/",
        &Envelope::failure("job handler [demoJobHandler] not found."),
    );
    let routed = AddressChoice::Routed(Routed {
        address: "http://a:9999/",
        probes: vec![],
    });
    let failed_over = AddressChoice::Routed(Routed {
        address: "http://b:9999/",
        probes: vec![
            beat("http://a:9999/", 500, Some("refused")),
            beat("http://b:9999/", 200, None),
        ],
    });
    let all_failed = AddressChoice::Failed(RouteFailure::ProbesFailed(vec![beat(
        "http://a:9999/",
        500,
        Some("refused"),
    )]));
    let empty = AddressChoice::Failed(RouteFailure::NoAddress);
    let tail = "<br>JobHandler：demoJobHandler<br>Job parameter：a=1<br>Trigger result：";
    let run_ok = "Executor call：<br>address：http://a:9999/<br>code：200<br>msg：null";
    let run_rejected = "Executor call：<br>address：http://a:9999/<br>code：500<br>msg：job handler [demoJobHandler] not found.";
    let beat_log = "Heartbeat check：<br>address：http://a:9999/<br>code：500<br>msg：refused<br><br>\
                    Heartbeat check：<br>address：http://b:9999/<br>code：200<br>msg：null";

    check(
        RouteStrategy::Round,
        &routed,
        &accepted,
        Current,
        &format!(
            "{}<br>Executor address：http://a:9999/{tail}success",
            head("Round")
        ),
    );
    check(
        RouteStrategy::First,
        &routed,
        &rejected,
        Current,
        &format!(
            "{}<br>Executor address：http://a:9999/{tail}error, {run_rejected}",
            head("First")
        ),
    );
    // The current style hides the probe log of a successful failover.
    check(
        RouteStrategy::Failover,
        &failed_over,
        &accepted,
        Current,
        &format!(
            "{}<br>Executor address：http://b:9999/{tail}success",
            head("Failover")
        ),
    );
    check(
        RouteStrategy::Failover,
        &all_failed,
        &TriggerResult::no_address(Current),
        Current,
        &format!(
            "{}<br>Executor address：address route fail, Heartbeat check：<br>address：http://a:9999/<br>code：500\
             <br>msg：refused{tail}error, Address Router Fail.",
            head("Failover")
        ),
    );
    check(
        RouteStrategy::Round,
        &empty,
        &TriggerResult::no_address(Current),
        Current,
        &format!(
            "{}<br>Executor address：address route fail, Trigger failed：the executor address list is empty\
             {tail}error, Address Router Fail.",
            head("Round")
        ),
    );
    check(
        RouteStrategy::Round,
        &AddressChoice::Failed(RouteFailure::NotRouted(RouteStrategy::ShardingBroadcast)),
        &TriggerResult::no_address(Release24),
        Current,
        &format!(
            "{}<br>Executor address：address route fail.{tail}fail",
            head("Round")
        ),
    );

    // 2.4.x: route message (if any), a blank line, then the executor-result message.
    check(
        RouteStrategy::Round,
        &routed,
        &accepted,
        Release24,
        &format!("{}{run_ok}", head("Round")),
    );
    check(
        RouteStrategy::Failover,
        &failed_over,
        &TriggerResult::from_reply("http://b:9999/", &Envelope::success()),
        Release24,
        &format!(
            "{}{beat_log}<br><br>Executor call：<br>address：http://b:9999/<br>code：200<br>msg：null",
            head("Failover")
        ),
    );
    check(
        RouteStrategy::Round,
        &empty,
        &TriggerResult::no_address(Release24),
        Release24,
        &format!(
            "{}Trigger failed：the executor address list is empty<br><br>",
            head("Round")
        ),
    );
}

#[test]
fn sharding_manual_nulls_and_escaping() {
    let list = addresses(&["http://x:1/?a=<b>&c"]);
    let choice = AddressChoice::Shard("http://x:1/?a=<b>&c");
    let result = TriggerResult::from_reply(
        "http://x:1/?a=<b>&c",
        &Envelope::failure("job handler [<script>alert(1)</script>] not found."),
    );
    let report = TriggerReport {
        trigger_type: "Manual trigger",
        admin_address: "10.0.0.9",
        registration: Registration::Manual,
        addresses: Some(&list),
        route_strategy: RouteStrategy::ShardingBroadcast,
        shard: Some((2, 3)),
        block_strategy: BlockStrategy::DiscardLater,
        timeout: 600,
        fail_retry_count: 0,
        handler: Some("<script>alert(1)</script>"),
        param: Some("x=\"1\" & y='2'"),
        choice: &choice,
        result: &result,
    };
    let address = "http://x:1/?a=&lt;b&gt;&amp;c";
    let expected = format!(
        "Trigger type：Manual trigger<br>Admin address：10.0.0.9<br>Executor registration：Manual registration\
         <br>Executor addresses：[{address}]<br>Routing strategy：Sharding Broadcast(2/3)\
         <br>Block strategy：Discard Later<br>Timeout：600<br>Fail retry count：0{SEPARATOR}\
         <br>Executor address：{address}<br>JobHandler：&lt;script&gt;alert(1)&lt;/script&gt;\
         <br>Job parameter：x=&quot;1&quot; &amp; y=&#39;2&#39;<br>Trigger result：error, Executor call：\
         <br>address：{address}<br>code：500<br>msg：job handler [&lt;script&gt;alert(1)&lt;/script&gt;] not found."
    );
    assert_eq!(trigger_msg(&report, MessageStyle::Current), expected);

    // No address list, blank handler, no parameter.
    let choice = AddressChoice::Failed(RouteFailure::NoAddress);
    let result = TriggerResult::no_address(MessageStyle::Current);
    let report = TriggerReport {
        addresses: None,
        handler: Some("  "),
        param: None,
        shard: None,
        choice: &choice,
        result: &result,
        ..report
    };
    let expected = format!(
        "Trigger type：Manual trigger<br>Admin address：10.0.0.9<br>Executor registration：Manual registration\
         <br>Executor addresses：null<br>Routing strategy：Sharding Broadcast\
         <br>Block strategy：Discard Later<br>Timeout：600<br>Fail retry count：0{SEPARATOR}\
         <br>Executor address：address route fail, Trigger failed：the executor address list is empty\
         <br>Job parameter：null<br>Trigger result：error, Address Router Fail."
    );
    assert_eq!(trigger_msg(&report, MessageStyle::Current), expected);
}

#[test]
fn result_and_route_messages() {
    fn check(produced: Option<String>, expected: Option<&str>) {
        assert_eq!(produced.as_deref(), expected);
    }
    check(
        TriggerResult::from_reply("http://a/", &Envelope::with_code(200, "Success")).msg,
        Some("Executor call：<br>address：http://a/<br>code：200<br>msg：Success"),
    );
    check(
        TriggerResult::from_reply("http://a/", &Envelope::failure("a<br>b")).msg,
        Some("Executor call：<br>address：http://a/<br>code：500<br>msg：a&lt;br&gt;b"),
    );
    check(
        TriggerResult::no_address(MessageStyle::Current).msg,
        Some("Address Router Fail."),
    );
    check(TriggerResult::no_address(MessageStyle::Release24).msg, None);
    check(
        route_failure_message(&RouteFailure::NoAddress),
        Some("Trigger failed：the executor address list is empty"),
    );
    check(
        route_failure_message(&RouteFailure::NotRouted(RouteStrategy::Failover)),
        None,
    );
    check(
        route_failure_message(&RouteFailure::ProbesFailed(vec![
            ProbeAttempt {
                kind: ProbeKind::IdleBeat,
                address: "http://a/".into(),
                code: 500,
                msg: Some("job thread is running or has trigger queue.".into()),
            },
            ProbeAttempt {
                kind: ProbeKind::IdleBeat,
                address: "http://<b>/".into(),
                code: 500,
                msg: None,
            },
        ])),
        Some(
            "Idle check：<br>address：http://a/<br>code：500<br>msg：job thread is running or has trigger queue.\
             <br><br>Idle check：<br>address：http://&lt;b&gt;/<br>code：500<br>msg：null",
        ),
    );
    let timeout = ClientError::Timeout {
        url: "http://a/run?<x>".into(),
        timeout: std::time::Duration::from_secs(3),
    };
    assert_eq!(
        TriggerResult::from_error(&timeout),
        TriggerResult {
            code: 500,
            msg: Some("executor http://a/run?&lt;x&gt; did not answer within 3s".into())
        }
    );
    assert_eq!(escape("plain ：text"), "plain ：text");
}
