use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::Redirect;
use axum::routing::{any, get};

use super::*;

#[test]
fn allow_list_matching() {
    fn check(entry: &str, url: &str, expected: bool) {
        let list = HostAllowList::parse(&[entry]).unwrap();
        assert_eq!(
            list.permits(&Url::parse(url).unwrap()),
            expected,
            "{entry} vs {url}"
        );
    }
    check("example.com", "http://example.com/a?b", true);
    check("example.com", "https://EXAMPLE.com:8443/", true);
    check("example.com", "http://example.com.evil.test/", false);
    check("example.com", "http://evil.test/?example.com", false);
    check("example.com", "http://user@evil.test/", false);
    check("example.com", "http://sub.example.com/", false);
    check("example.com", "ftp://example.com/", false);
    check("example.com:8080", "http://example.com:8080/", true);
    check("example.com:8080", "http://example.com/", false);
    check("*.example.com", "http://a.b.example.com/", true);
    check("*.example.com", "http://example.com/", false);
    check("*.example.com", "http://badexample.com/", false);
    check("https://example.com", "https://example.com/x", true);
    check("https://example.com", "http://example.com/x", false);
    check("https://example.com", "https://example.com:8443/x", false);
    check("http://127.0.0.1:9000/", "http://127.0.0.1:9000/hook", true);
    check("127.0.0.1", "http://127.0.0.1:1234/", true);
    check("127.0.0.1", "http://127.0.0.2/", false);
    check("[::1]:80", "http://[::1]/", true);
}

#[test]
fn empty_allow_list_denies_everything() {
    let list = HostAllowList::parse::<&str>(&[]).unwrap();
    assert!(!list.permits(&Url::parse("http://127.0.0.1/").unwrap()));
}

#[test]
fn bad_allow_entries() {
    for entry in [
        "",
        "http://",
        "example.com/path",
        "ftp://example.com",
        "user@example.com",
        "a*.example.com",
        "*",
    ] {
        assert_eq!(
            HostAllowList::parse(&[entry]),
            Err(BadAllowEntry {
                entry: entry.to_owned()
            }),
            "{entry}"
        );
    }
}

#[test]
fn json_parameter() {
    let spec = CallSpec::parse(
        r#"{"url":" http://h/x ","method":"put","contentType":"text/plain","headers":{"h1":"v1"},
            "cookies":{"c1":"v1","c2":"v2"},"timeout":1500,"data":"body","form":{"k":"v"},"auth":"t","extra":1}"#,
    )
    .unwrap();
    assert_eq!(
        spec,
        CallSpec {
            url: "http://h/x".to_owned(),
            method: Method::PUT,
            content_type: Some("text/plain".to_owned()),
            headers: BTreeMap::from([("h1".to_owned(), "v1".to_owned())]),
            cookies: BTreeMap::from([
                ("c1".to_owned(), "v1".to_owned()),
                ("c2".to_owned(), "v2".to_owned())
            ]),
            timeout: Duration::from_millis(1500),
            data: Some("body".to_owned()),
            form: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
            auth: Some("t".to_owned()),
            require_ok: false,
        }
    );
    let minimal = CallSpec::parse(r#"{"url":"http://h/","timeout":0}"#).unwrap();
    assert_eq!(
        (minimal.method, minimal.timeout),
        (Method::POST, Duration::from_millis(3000))
    );
}

#[test]
fn line_parameter() {
    let spec = CallSpec::parse("url: http://h/x\nmethod: get\ndata: a=b\nother: ignored").unwrap();
    assert_eq!(
        (
            spec.url.as_str(),
            spec.method,
            spec.data.as_deref(),
            spec.require_ok
        ),
        ("http://h/x", Method::GET, Some("a=b"), true)
    );
}

#[test]
fn parameter_errors() {
    fn check(param: &str, expected: &str) {
        let error = CallSpec::parse(param).unwrap_err();
        assert!(error.starts_with(expected), "{param}: {error}");
    }
    check("", "param[] invalid.");
    check("   ", "param[] invalid.");
    check("{", "HttpJobParam parse error: ");
    check(r#"{"url":" "}"#, "url[] invalid.");
    check(
        r#"{"url":"http://h/","method":"FETCH"}"#,
        "method[FETCH] invalid.",
    );
    check(
        r#"{"url":"http://h/","headers":"x"}"#,
        "HttpJobParam parse error: ",
    );
    check("method:GET", "url[] invalid.");
    check("url:http://h/\nmethod:PUT", "method[PUT] invalid.");
    check("url:http://h/", "method[] invalid.");
}

/// A loopback server that echoes what it received, redirects, and serves a large body.
async fn start_server() -> SocketAddr {
    async fn echo(headers: HeaderMap, request: Request) -> String {
        let method = request.method().clone();
        let query = request.uri().query().unwrap_or("").to_owned();
        let body = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
        let header = |name: &str| headers.get(name).map(|value| value.to_str().unwrap().to_owned());
        format!(
            "{method} query={query} type={:?} cookie={:?} auth={:?} h1={:?} body={}",
            header("content-type"),
            header("cookie"),
            header("authorization"),
            header("h1"),
            String::from_utf8_lossy(&body)
        )
    }
    let app = Router::new()
        .route("/echo", any(echo))
        .route(
            "/status/418",
            get(|| async { (AxumStatus::IM_A_TEAPOT, "short and stout") }),
        )
        .route(
            "/big",
            get(|| async { Bytes::from(vec![b'x'; MAX_LOGGED_BODY_BYTES * 3]) }),
        )
        .route(
            "/same-host",
            get(|| async { Redirect::temporary("/echo?redirected=1") }),
        )
        .route(
            "/other-host",
            get(|| async { Redirect::temporary("http://localhost:1/echo") }),
        )
        .route("/slow", get(|| async { std::future::pending::<String>().await }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn call(allowed: &[&str], param: &str) -> (Verdict, Vec<String>) {
    let caller = HttpCaller::new(HostAllowList::parse(allowed).unwrap()).unwrap();
    let (execution, sink) = Execution::recorded(param, 0, 1);
    let verdict = caller.run(&execution).await;
    (verdict, sink.lines())
}

#[tokio::test]
async fn json_call_sends_everything() {
    let addr = start_server().await;
    let param = format!(
        r#"{{"url":"http://{addr}/echo","headers":{{"h1":"v1"}},"cookies":{{"a":"1","b":"2"}},"data":"{{\"k\":1}}","auth":"Bearer x"}}"#
    );
    let (verdict, lines) = call(&["127.0.0.1"], &param).await;
    assert_eq!(verdict, Verdict::Success);
    assert_eq!(
        lines,
        [
            "StatusCode: 200".to_owned(),
            "Response: <br>POST query= type=Some(\"application/json;charset=UTF-8\") cookie=Some(\"a=1; b=2\") \
             auth=Some(\"Bearer x\") h1=Some(\"v1\") body={\"k\":1}"
                .to_owned(),
        ]
    );
}

#[tokio::test]
async fn form_goes_to_the_query_for_get_and_the_body_for_post() {
    let addr = start_server().await;
    let get = format!(r#"{{"url":"http://{addr}/echo","method":"get","form":{{"a":"b c"}}}}"#);
    let (_, lines) = call(&["127.0.0.1"], &get).await;
    assert!(
        lines[1].starts_with("Response: <br>GET query=a=b+c type=None"),
        "{lines:?}"
    );

    let post = format!(r#"{{"url":"http://{addr}/echo","form":{{"a":"b c"}}}}"#);
    let (_, lines) = call(&["127.0.0.1"], &post).await;
    assert!(
        lines[1].contains("type=Some(\"application/x-www-form-urlencoded\")"),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("body=a=b+c"), "{lines:?}");
}

#[tokio::test]
async fn any_status_succeeds_in_json_format_but_not_in_line_format() {
    let addr = start_server().await;
    let (verdict, lines) = call(
        &["127.0.0.1"],
        &format!(r#"{{"url":"http://{addr}/status/418","method":"GET"}}"#),
    )
    .await;
    assert_eq!(verdict, Verdict::Success);
    assert_eq!(lines, ["StatusCode: 418", "Response: <br>short and stout"]);

    let (verdict, _) = call(
        &["127.0.0.1"],
        &format!("url:http://{addr}/status/418\nmethod:GET"),
    )
    .await;
    assert_eq!(
        verdict,
        Verdict::Fail("Http Request StatusCode(418) Invalid.".to_owned())
    );
    let (verdict, lines) = call(
        &["127.0.0.1"],
        &format!("url:http://{addr}/echo\nmethod:POST\ndata:x=1"),
    )
    .await;
    assert_eq!(verdict, Verdict::Success);
    assert!(lines[1].ends_with("body=x=1"), "{lines:?}");
}

#[tokio::test]
async fn refused_hosts_are_not_contacted() {
    let addr = start_server().await;
    let param = format!(r#"{{"url":"http://{addr}/echo"}}"#);
    let expected = format!("url[http://{addr}/echo] not allowed.");
    assert_eq!(
        call(&[], &param).await,
        (Verdict::Fail(expected.clone()), vec![expected.clone()])
    );
    assert_eq!(call(&["localhost"], &param).await.0, Verdict::Fail(expected));
}

#[tokio::test]
async fn redirects_stay_on_the_same_host() {
    let addr = start_server().await;
    let (verdict, lines) = call(
        &["127.0.0.1", "localhost"],
        &format!(r#"{{"url":"http://{addr}/same-host","method":"GET"}}"#),
    )
    .await;
    assert_eq!(verdict, Verdict::Success);
    assert!(
        lines[1].starts_with("Response: <br>GET query=redirected=1 "),
        "{lines:?}"
    );

    let (verdict, lines) = call(
        &["127.0.0.1", "localhost"],
        &format!(r#"{{"url":"http://{addr}/other-host","method":"GET"}}"#),
    )
    .await;
    assert_eq!(verdict, Verdict::Success);
    assert_eq!(lines, ["StatusCode: 307", "Response: <br>"]);
}

#[tokio::test]
async fn response_body_is_truncated() {
    let addr = start_server().await;
    let (_, lines) = call(
        &["127.0.0.1"],
        &format!(r#"{{"url":"http://{addr}/big","method":"GET"}}"#),
    )
    .await;
    let expected = format!(
        "Response: <br>{} [... truncated after {MAX_LOGGED_BODY_BYTES} bytes]",
        "x".repeat(MAX_LOGGED_BODY_BYTES)
    );
    assert_eq!(lines[1], expected);
}

#[tokio::test]
async fn timeout_and_refused_connection_fail() {
    let addr = start_server().await;
    let (verdict, _) = call(
        &["127.0.0.1"],
        &format!(r#"{{"url":"http://{addr}/slow","method":"GET","timeout":200}}"#),
    )
    .await;
    let Verdict::Fail(message) = verdict else {
        panic!("a timed-out call succeeded")
    };
    assert!(message.starts_with("http request failed: "), "{message}");

    // A port that was just free: bind, note the port, drop the listener.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (verdict, lines) = call(&["127.0.0.1"], &format!(r#"{{"url":"http://{closed}/"}}"#)).await;
    let Verdict::Fail(message) = verdict else {
        panic!("a refused call succeeded")
    };
    assert!(message.starts_with("http request failed: "), "{message}");
    assert_eq!(lines, [message]);
}
