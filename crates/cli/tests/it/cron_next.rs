//! `xjob cron next`: output lines, defaults and the one-line errors with exit status 2.

use crate::xjob;

#[test]
fn prints_fire_times_with_offsets() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "cron",
                "next",
                "0 0/5 * ? * MON-FRI",
                "--tz",
                "Europe/Berlin",
                "--after",
                "1700000000000",
                "--count",
                "3",
            ],
            "1700000100000 2023-11-14T23:15:00+01:00\n1700000400000 2023-11-14T23:20:00+01:00\n1700000700000 2023-11-14T23:25:00+01:00\n",
        ),
        (
            &["cron", "next", "0 0 12 * * ?", "--tz", "UTC", "--after", "0"],
            "43200000 1970-01-01T12:00:00+00:00\n",
        ),
        // The year range ends: fewer lines than asked for.
        (
            &[
                "cron",
                "next",
                "0 0 0 1 1 ? 2030",
                "--tz",
                "Asia/Shanghai",
                "--after",
                "1700000000000",
                "--count",
                "3",
            ],
            "1893427200000 2030-01-01T00:00:00+08:00\n",
        ),
        // 2024-03-10 02:30 does not exist in New York; the reference skips that day.
        (
            &[
                "cron",
                "next",
                "0 30 2 * * ?",
                "--tz",
                "America/New_York",
                "--after",
                "1710000000000",
                "--count",
                "2",
            ],
            "1710138600000 2024-03-11T02:30:00-04:00\n1710225000000 2024-03-12T02:30:00-04:00\n",
        ),
    ];
    for (args, expected) in cases {
        let output = xjob(args, b"");
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{args:?}");
        assert_eq!(String::from_utf8(output.stdout).unwrap(), expected, "{args:?}");
        assert_eq!(output.status.code(), Some(0), "{args:?}");
    }
}

#[test]
fn defaults_to_now_and_one_line() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let output = xjob(&["cron", "next", "* * * * * ?", "--tz", "UTC"], b"");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let fire: i64 = lines[0].split(' ').next().unwrap().parse().unwrap();
    assert_eq!(fire % 1000, 0);
    assert!(fire > before && fire <= before + 60_000, "{fire} vs {before}");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["cron", "next", "0 0 24 * * ?", "--tz", "UTC"],
            "xjob: invalid hours `24`: values must be between 0 and 23\n",
        ),
        (
            &["cron", "next", "0 0 0 1 * MON"],
            "xjob: day-of-month `1` and day-of-week `MON`: exactly one of the two must be `?`\n",
        ),
        (
            &["cron", "next", "0 0 0 * * ?", "--tz", "Mars/Olympus"],
            "xjob: unknown time zone `Mars/Olympus` (expected an IANA name such as Europe/Berlin)\n",
        ),
    ];
    for (args, expected) in cases {
        let output = xjob(args, b"");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8(output.stderr).unwrap(), expected, "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
