use clap::Parser;

use super::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ExecutorArgs,
}

fn args(flags: &[&str]) -> ExecutorArgs {
    let argv = std::iter::once("xjob-executor").chain(flags.iter().copied());
    Cli::try_parse_from(argv).unwrap().args
}

fn minimal() -> Vec<&'static str> {
    vec![
        "--app-name",
        "demo",
        "--admin",
        "http://127.0.0.1:8080/xxl-job-admin",
        "--token",
        "t0ken",
    ]
}

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn defaults_with_minimal_flags() {
    let config = Config::load(&args(&minimal())).unwrap();
    assert_eq!(
        config,
        Config {
            app_name: "demo".to_owned(),
            admin_addresses: vec!["http://127.0.0.1:8080/xxl-job-admin".to_owned()],
            access_token: Some(Secret("t0ken".to_owned())),
            ..Config::default()
        }
    );
    assert_eq!(config.port, 9999);
    assert_eq!(config.shutdown_grace, Duration::from_secs(5));
    assert_eq!(config.log_path, Path::new("/data/applogs/xxl-job/jobhandler"));
}

#[test]
fn full_file() {
    let config = Config::from_toml(
        r#"
        app_name = "from-file"
        admin_addresses = ["http://a:8080/xxl-job-admin", "https://b/"]
        access_token = "file-token"
        insecure_no_token = false
        listen = "127.0.0.1"
        ip = "10.1.2.3"
        port = 0
        address = "http://exec.example.com:9999/"
        base_path = "/executor"
        log_path = "/var/log/xjob"
        log_retention_days = 7
        glue_enabled = false
        http_allow_hosts = ["example.com", "*.example.org"]
        shutdown_grace = "1500ms"
        admin_generation = "g2"
        "#,
    )
    .unwrap();
    assert_eq!(
        config,
        Config {
            app_name: "from-file".to_owned(),
            admin_addresses: vec!["http://a:8080/xxl-job-admin".to_owned(), "https://b/".to_owned()],
            access_token: Some(Secret("file-token".to_owned())),
            insecure_no_token: false,
            listen: IpAddr::from([127, 0, 0, 1]),
            ip: Some(IpAddr::from([10, 1, 2, 3])),
            port: 0,
            address: Some("http://exec.example.com:9999/".to_owned()),
            base_path: "/executor".to_owned(),
            log_path: PathBuf::from("/var/log/xjob"),
            log_retention_days: 7,
            glue_enabled: false,
            http_allow_hosts: vec!["example.com".to_owned(), "*.example.org".to_owned()],
            shutdown_grace: Duration::from_millis(1500),
            admin_generation: AdminGeneration::G2,
            kubernetes: xjob_k8s_executor::config::KubernetesConfig::default(),
        }
    );
    assert!(config.validate().is_ok());
}

#[test]
fn flags_override_the_file_which_overrides_defaults() {
    let file = write_config(
        "app_name = \"from-file\"\nport = 1234\nglue_enabled = false\nlog_retention_days = 9\n\
         admin_addresses = [\"http://file-admin/\"]\naccess_token = \"file-token\"\n",
    );
    let path = file.path().to_str().unwrap();
    let config = Config::load(&args(&[
        "--config",
        path,
        "--app-name",
        "from-flag",
        "--glue-enabled",
        "true",
    ]))
    .unwrap();
    assert_eq!(config.app_name, "from-flag");
    assert!(config.glue_enabled);
    assert_eq!(config.port, 1234);
    assert_eq!(config.log_retention_days, 9);
    assert_eq!(config.admin_addresses, ["http://file-admin/"]);
    assert_eq!(config.access_token(), Some("file-token"));
    assert_eq!(config.shutdown_grace, Duration::from_secs(5));

    let config = Config::load(&args(&[
        "--config",
        path,
        "--admin",
        "http://x/,http://y/",
        "--port",
        "0",
    ]))
    .unwrap();
    assert_eq!(config.admin_addresses, ["http://x/", "http://y/"]);
    assert_eq!(config.port, 0);
    assert_eq!(config.app_name, "from-file");
}

#[test]
fn file_errors_are_one_line_naming_the_key() {
    fn check(text: &str, expected: &str) {
        let error = Config::from_toml(text).unwrap_err();
        assert!(!error.contains('\n'), "{error}");
        assert!(error.starts_with(expected), "{text}: {error}");
    }
    check("app_name = \"a\"\nprot = 1\n", "line 2: unknown field `prot`");
    check("port = 70000", "line 1: invalid value: integer `70000`");
    check("port = \"x\"", "line 1: invalid type: string \"x\", expected u16");
    check("listen = \"nowhere\"", "line 1: invalid IP address syntax");
    check("shutdown_grace = \"soon\"", "line 1: `soon` is not a duration");
    check("admin_generation = \"g4\"", "line 1: unknown variant `g4`");
    check("app_name = ", "line 1: ");
}

#[test]
fn missing_file_names_the_path() {
    let error = Config::load(&args(&["--config", "/xjob-no-such-dir/executor.toml"])).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("reading config file /xjob-no-such-dir/executor.toml: "),
        "{error}"
    );
}

#[test]
fn validation_errors_name_the_key() {
    fn check(extra: &[&str], expected: &str) {
        // The minimal flags, with those `extra` repeats replaced (clap refuses a flag given twice).
        let mut flags: Vec<&str> = minimal()
            .chunks(2)
            .filter(|pair| !extra.contains(&pair[0]))
            .flatten()
            .copied()
            .collect();
        flags.extend_from_slice(extra);
        let error = Config::load(&args(&flags)).unwrap_err();
        assert_eq!(error.to_string(), expected);
    }
    check(
        &["--app-name", " "],
        "invalid setting `app_name`: must not be blank",
    );
    check(
        &["--admin", "ftp://x/"],
        "invalid setting `admin_addresses`: `ftp://x/` is not an http(s) URL",
    );
    check(
        &["--token", ""],
        "invalid setting `access_token`: must be set; to run without one, set insecure_no_token (--insecure-no-token)",
    );
    check(
        &["--address", "exec:9999"],
        "invalid setting `address`: `exec:9999` is not an http(s) URL",
    );
    check(
        &["--base-path", "x/"],
        "invalid setting `base_path`: `x/` must be empty or look like /prefix",
    );
    check(
        &["--log-path", "logs"],
        "invalid setting `log_path`: `logs` must be an absolute path",
    );
    check(
        &["--http-allow-host", "example.com/x"],
        "invalid setting `http_allow_hosts`: `example.com/x` is not a host, host:port, *.domain or scheme://host[:port]",
    );

    let error = Config::load(&args(&["--token", "t"])).unwrap_err();
    assert_eq!(error.to_string(), "invalid setting `app_name`: must not be blank");
    let error = Config::load(&args(&["--token", "t", "--app-name", "a"])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid setting `admin_addresses`: at least one admin base URL is needed"
    );
}

#[test]
fn no_token_needs_the_explicit_opt_in() {
    let config = Config::load(&args(&[
        "--app-name",
        "a",
        "--admin",
        "http://x/",
        "--insecure-no-token",
    ]))
    .unwrap();
    assert_eq!((config.access_token(), config.insecure_no_token), (None, true));
}

#[test]
fn bad_flag_values_name_the_flag() {
    for (flags, flag) in [
        (&["--port", "abc"][..], "--port <PORT>"),
        (&["--glue-enabled", "maybe"], "--glue-enabled <BOOL>"),
        (&["--shutdown-grace", "soon"], "--shutdown-grace <DURATION>"),
        (&["--admin-generation", "g9"], "--admin-generation <GENERATION>"),
    ] {
        let error = Cli::try_parse_from(std::iter::once("x").chain(flags.iter().copied()))
            .err()
            .unwrap();
        assert!(error.to_string().contains(flag), "{error}");
    }
}

#[test]
fn durations() {
    fn check(text: &str, expected: Result<Duration, ()>) {
        assert_eq!(parse_duration(text).map_err(|_| ()), expected, "{text}");
    }
    check("500ms", Ok(Duration::from_millis(500)));
    check("5s", Ok(Duration::from_secs(5)));
    check("5", Ok(Duration::from_secs(5)));
    check(" 2m ", Ok(Duration::from_secs(120)));
    check("1h", Ok(Duration::from_secs(3600)));
    check("0s", Ok(Duration::ZERO));
    check("", Err(()));
    check("s", Err(()));
    check("1.5s", Err(()));
    check("-1s", Err(()));
    check("5 days", Err(()));
}

#[test]
fn token_is_not_in_debug_output() {
    let config = Config::load(&args(&minimal())).unwrap();
    let debug = format!("{config:?} {:?}", args(&minimal()));
    assert!(debug.contains("Secret(…)"));
    assert_eq!(debug.matches("t0ken").count(), 0);
}
