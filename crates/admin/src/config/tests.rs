use super::*;

fn parse(text: &str) -> AdminConfig {
    AdminConfig::from_toml(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn check_file_error(text: &str, expected: &str) {
    assert_eq!(AdminConfig::from_toml(text), Err(expected.to_owned()), "{text}");
}

fn check_invalid(adjust: impl FnOnce(&mut AdminConfig), key: &str) {
    let mut config = valid();
    adjust(&mut config);
    let error = config.validate().unwrap_err();
    assert_eq!(error.key, key, "{error}");
}

fn valid() -> AdminConfig {
    AdminConfig {
        access_token: Some(Secret::from("t".to_owned())),
        data_dir: Some(PathBuf::from("/var/lib/xjob")),
        ..AdminConfig::default()
    }
}

#[test]
fn defaults_keep_the_console_on_this_machine() {
    let config = AdminConfig::default();
    assert_eq!(config.listen_address(), "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.trigger_timeout, Duration::from_secs(3));
    assert_eq!(config.retention_days(), Some(30));
    assert_eq!(config.access_token(), None);
    assert_eq!(
        config.validate().unwrap_err().key,
        "access_token",
        "no default token survives"
    );
    assert_eq!(valid().validate(), Ok(()));
}

#[test]
fn our_keys_and_upstream_names_set_the_same_fields() {
    let ours = parse(
        "port = 9090\naccess_token = \"abc\"\ntrigger_timeout = \"5s\"\nlanguage = \"zh_TC\"\n\
         log_retention_days = 7\nmail_host = \"smtp.example.com\"\ntime_zone = \"Europe/Berlin\"\n",
    );
    let quoted = parse(
        "\"server.port\" = 9090\n\"xxl.job.accessToken\" = \"abc\"\n\"xxl.job.timeout\" = 5\n\
         \"xxl.job.i18n\" = \"zh_TC\"\n\"xxl.job.logretentiondays\" = 7\n\"spring.mail.host\" = \"smtp.example.com\"\n\
         time_zone = \"Europe/Berlin\"\n",
    );
    let nested = parse(
        "time_zone = \"Europe/Berlin\"\n[server]\nport = 9090\n[xxl.job]\naccessToken = \"abc\"\ntimeout = 5\n\
         i18n = \"zh_TC\"\nlogretentiondays = 7\n[spring.mail]\nhost = \"smtp.example.com\"\n",
    );
    assert_eq!(ours.port, 9090);
    assert_eq!(ours.access_token(), Some("abc"));
    assert_eq!(ours.trigger_timeout, Duration::from_secs(5));
    assert_eq!(ours.language, Language::ZhTc);
    assert_eq!(ours.retention_days(), Some(7));
    assert_eq!(ours.time_zone, chrono_tz::Europe::Berlin);
    assert_eq!(quoted, ours);
    assert_eq!(nested, ours);
}

#[test]
fn deeper_upstream_names_are_found_too() {
    let config = parse(
        "[xxl.job.triggerpool.fast]\nmax = 150\n[xxl.job.triggerpool.slow]\nmax = 400\n\
         [spring.datasource.hikari]\nmaximum-pool-size = 12\n",
    );
    assert_eq!(config.fast_pool_size(), 200, "raised to upstream's minimum");
    assert_eq!(config.slow_pool_size(), 400);
    assert_eq!(config.database_pool_size, Some(12));
}

#[test]
fn file_errors_are_one_line_naming_the_key() {
    check_file_error(
        "prot = 1\n",
        "line 1: unknown field `prot`, expected one of `listen`, `port`, `data_dir`, `database_url`, `database_pool_size`, `time_zone`, `access_token`, `insecure_no_token`, `trigger_timeout`, `trigger_pool_fast_max`, `trigger_pool_slow_max`, `trigger_queue_capacity`, `schedule_batch_size`, `schedule_pre_read`, `misfire_threshold`, `registry_beat_interval`, `registry_dead_timeout`, `lost_result_interval`, `lost_result_timeout`, `fail_monitor_interval`, `log_retention_days`, `language`, `admin_address`, `executor_generation`, `shutdown_grace`, `mail_host`, `mail_port`, `mail_username`, `mail_password`, `mail_from`, `mail_starttls`, `kubernetes`",
    );
    check_file_error(
        "port = 1\ntime_zone = \"Mars/Base\"\n",
        "line 2: `Mars/Base` is not an IANA time zone such as Europe/Berlin",
    );
    check_file_error(
        "trigger_timeout = \"soon\"\n",
        "line 1: `soon` is not a duration such as 500ms, 5s, 2m or 1h",
    );
    check_file_error(
        "language = \"fr\"\n",
        "line 1: unknown variant `fr`, expected one of `en`, `zh_CN`, `zh_TC`",
    );
    check_file_error(
        "port = 1\n\"server.port\" = 2\n",
        "`port` and `server.port` name the same setting; keep one",
    );
    check_file_error(
        "\"xxl.job.timeout\" = 3\n[xxl.job]\ntimeout = 4\n",
        "`xxl.job.timeout` is given twice",
    );
    check_file_error(
        "\"xxl.job.timeout\" = \"x\"\n",
        "`x` is not a duration such as 500ms, 5s, 2m or 1h",
    );
    check_file_error(
        "port = \n",
        "line 1: string values must be quoted, expected literal string",
    );
}

#[test]
fn validation_names_the_key() {
    check_invalid(
        |c| c.access_token = Some(Secret::from("  ".to_owned())),
        "access_token",
    );
    check_invalid(
        |c| c.database_url = Some(Secret::from("oracle://x".to_owned())),
        "database_url",
    );
    check_invalid(|c| c.data_dir = Some(PathBuf::from("relative/dir")), "data_dir");
    check_invalid(|c| c.database_pool_size = Some(0), "database_pool_size");
    check_invalid(|c| c.trigger_timeout = Duration::ZERO, "trigger_timeout");
    check_invalid(|c| c.trigger_queue_capacity = 0, "trigger_queue_capacity");
    check_invalid(|c| c.admin_address = Some("ftp://x/".to_owned()), "admin_address");
    check_invalid(|c| c.mail_port = 0, "mail_port");
    // Settings that must lie between 1 s and 1 h.
    type Set = fn(&mut AdminConfig, Duration);
    let bounded: [(Set, &str); 2] = [
        (|c, value| c.schedule_pre_read = value, "schedule_pre_read"),
        (|c, value| c.misfire_threshold = value, "misfire_threshold"),
    ];
    for (set, key) in bounded {
        for outside in [Duration::from_millis(999), Duration::from_secs(3601)] {
            check_invalid(|c| set(c, outside), key);
        }
    }
    check_invalid(
        |c| c.registry_beat_interval = Duration::ZERO,
        "registry_beat_interval",
    );
    check_invalid(
        |c| c.lost_result_interval = Duration::from_millis(500),
        "lost_result_interval",
    );
    check_invalid(|c| c.lost_result_timeout = Duration::ZERO, "lost_result_timeout");
    check_invalid(
        |c| c.fail_monitor_interval = Duration::ZERO,
        "fail_monitor_interval",
    );
    check_invalid(
        |c| {
            c.registry_beat_interval = Duration::from_secs(10);
            c.registry_dead_timeout = Duration::from_secs(10);
        },
        "registry_dead_timeout",
    );

    let mut insecure = valid();
    insecure.access_token = None;
    insecure.insecure_no_token = true;
    assert_eq!(insecure.validate(), Ok(()));
}

#[test]
fn derived_values_follow_upstream_rules() {
    let mut config = valid();
    for (days, expected) in [(0, None), (2, None), (3, Some(3)), (30, Some(30))] {
        config.log_retention_days = days;
        assert_eq!(config.retention_days(), expected, "{days}");
    }
    for (size, expected) in [(49, 100), (50, 50), (500, 500), (501, 100)] {
        config.schedule_batch_size = size;
        assert_eq!(config.schedule_batch(), expected, "{size}");
    }
    assert_eq!(
        config.database_url().as_deref(),
        Some("sqlite:///var/lib/xjob/xjob-admin.db")
    );
    config.database_url = Some(Secret::from("postgres://u:p@h/db".to_owned()));
    assert_eq!(config.database_url().as_deref(), Some("postgres://u:p@h/db"));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let mut config = valid();
    config.access_token = Some(Secret::from("token-value".to_owned()));
    config.database_url = Some(Secret::from("mysql://root:db-password@h/x".to_owned()));
    config.mail_password = Some(Secret::from("mail-password".to_owned()));
    let text = format!("{config:?}");
    for secret in ["token-value", "db-password", "mail-password"] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn durations_and_generations_parse() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
    assert!(parse_duration("1d").is_err());
    assert_eq!(parse_generation("G1"), Ok(Generation::G1));
    assert!(parse_generation("g4").is_err());
}

#[test]
fn background_timings_default_to_upstream_and_can_be_shortened() {
    let defaults = AdminConfig::default();
    assert_eq!(defaults.schedule_pre_read, Duration::from_secs(5));
    assert_eq!(defaults.misfire_threshold, Duration::from_secs(5));
    assert_eq!(defaults.registry_beat_interval, Duration::from_secs(30));
    assert_eq!(defaults.registry_dead_timeout, Duration::from_secs(90));
    assert_eq!(defaults.lost_result_interval, Duration::from_secs(60));
    assert_eq!(defaults.lost_result_timeout, Duration::from_secs(600));
    assert_eq!(defaults.fail_monitor_interval, Duration::from_secs(10));

    let short = parse(
        "access_token = \"t\"\ndata_dir = \"/var/lib/xjob\"\nschedule_pre_read = \"2s\"\nmisfire_threshold = \"30s\"\n\
         registry_beat_interval = \"1s\"\nregistry_dead_timeout = 3\nlost_result_interval = \"1s\"\n\
         lost_result_timeout = \"2m\"\nfail_monitor_interval = \"1s\"\n",
    );
    assert_eq!(short.validate(), Ok(()));
    assert_eq!(short.schedule_pre_read, Duration::from_secs(2));
    assert_eq!(short.misfire_threshold, Duration::from_secs(30));
    assert_eq!(short.registry_beat_interval, Duration::from_secs(1));
    assert_eq!(short.registry_dead_timeout, Duration::from_secs(3));
    assert_eq!(short.lost_result_interval, Duration::from_secs(1));
    assert_eq!(short.lost_result_timeout, Duration::from_secs(120));
    assert_eq!(short.fail_monitor_interval, Duration::from_secs(1));
}

#[test]
fn kubernetes_section_is_kept_and_the_older_switch_moves_into_it() {
    let section = parse("[kubernetes]\nenabled = true\napp_name = \"k8s-jobs\"\n").kubernetes;
    assert_eq!(section.get("enabled"), Some(&toml::Value::Boolean(true)));
    assert_eq!(
        section.get("app_name").and_then(toml::Value::as_str),
        Some("k8s-jobs")
    );
    let moved = parse("kubernetes_executor = true\n[kubernetes]\nmode = \"kubeconfig\"\n").kubernetes;
    assert_eq!(moved.get("enabled"), Some(&toml::Value::Boolean(true)));
    assert_eq!(
        moved.get("mode").and_then(toml::Value::as_str),
        Some("kubeconfig")
    );
    assert_eq!(
        AdminConfig::from_toml("kubernetes_executor = true\n[kubernetes]\nenabled = false\n"),
        Err("`kubernetes_executor` and `kubernetes.enabled` name the same setting; keep one".to_owned())
    );
    assert_eq!(
        AdminConfig::from_toml("kubernetes_executor = true\nkubernetes = 1\n"),
        Err("`kubernetes` must be a table".to_owned())
    );
    assert!(AdminConfig::default().kubernetes.is_empty());
}
