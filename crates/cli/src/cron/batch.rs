//! `xjob cron batch`: a JSON Lines filter. Each input line is a request
//! `{"expr": "...", "tz": "...", "after_ms": 0, "count": 5}`, each output line the answer
//! `{"expr": "...", "next_ms": [...]}` or `{"expr": "...", "error": "..."}`, in input order. A line that
//! is not a valid request gets an error answer (with `"expr": null` when the expression cannot be read);
//! nothing aborts the run except failing to read or write. Blank lines are skipped.
//!
//! Built for throughput: input and output are buffered, parsed expressions are cached (bounded), requests
//! are decoded borrowing from the line buffer, and the buffers are reused from line to line. Output is
//! flushed whenever the input has nothing more buffered, so the filter also answers promptly when driven
//! one line at a time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead as _, BufReader, BufWriter, Read, Write};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use xjob_cron::CronExpr;

/// Largest `count` a request may ask for, so one line cannot ask for unbounded work.
pub const MAX_COUNT: u32 = 1_000;

/// How many distinct expressions the cache holds before it starts over. Schedulers reuse a small set of
/// expressions, so a plain bound (cleared when full) keeps memory flat without the bookkeeping of an LRU.
pub const CACHE_CAPACITY: usize = 4_096;

const BUFFER_BYTES: usize = 64 * 1024;

/// Values for fields a request leaves out.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    /// Zone when `tz` is missing.
    pub zone: Tz,
    /// Start when `after_ms` is missing.
    pub after_ms: i64,
}

/// Reads requests from `input` until it ends and writes one answer line per request to `output`.
/// Returns the number of requests answered.
///
/// # Errors
/// Only failures to read or write; bad requests produce error answers instead.
pub fn run(input: impl Read, output: impl Write, defaults: Defaults) -> io::Result<u64> {
    let mut input = BufReader::with_capacity(BUFFER_BYTES, input);
    let mut output = BufWriter::with_capacity(BUFFER_BYTES, output);
    let mut batch = Batch::new(defaults);
    let mut line = Vec::with_capacity(256);
    let mut answered = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        batch.answer(&line, &mut output)?;
        answered += 1;
        if input.buffer().is_empty() {
            output.flush()?;
        }
    }
    output.flush()?;
    Ok(answered)
}

/// Answers requests one line at a time, keeping the cache and buffers between lines.
#[derive(Debug)]
pub struct Batch {
    defaults: Defaults,
    cache: HashMap<String, Result<CronExpr, String>>,
    fires: Vec<i64>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    expr: Cow<'a, str>,
    #[serde(borrow, default)]
    tz: Option<Cow<'a, str>>,
    #[serde(default)]
    after_ms: Option<i64>,
    #[serde(default)]
    count: Option<u32>,
}

#[derive(Serialize)]
struct Answer<'a> {
    expr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_ms: Option<&'a [i64]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl Batch {
    /// A batch with an empty cache.
    #[must_use]
    pub fn new(defaults: Defaults) -> Self {
        Self {
            defaults,
            cache: HashMap::new(),
            fires: Vec::new(),
        }
    }

    /// Writes the answer to one request line (without its newline or with it) to `output`, followed by a
    /// newline.
    ///
    /// # Errors
    /// Only failures to write.
    pub fn answer(&mut self, line: &[u8], output: &mut impl Write) -> io::Result<()> {
        let request: Request<'_> = match serde_json::from_slice(line) {
            Ok(request) => request,
            Err(error) => {
                let message = format!("malformed request: {error}");
                return write_answer(output, None, Err(&message));
            }
        };
        match self.evaluate(&request) {
            Ok(()) => write_answer(output, Some(&request.expr), Ok(&self.fires)),
            Err(message) => write_answer(output, Some(&request.expr), Err(&message)),
        }
    }

    /// Fills `self.fires` with the request's fire times.
    fn evaluate(&mut self, request: &Request<'_>) -> Result<(), String> {
        let zone = match request.tz.as_deref() {
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| format!("unknown time zone `{name}`"))?,
            None => self.defaults.zone,
        };
        let count = request.count.unwrap_or(1);
        if count > MAX_COUNT {
            return Err(format!("count {count} is above the maximum of {MAX_COUNT}"));
        }
        let after = request.after_ms.unwrap_or(self.defaults.after_ms);
        let text: &str = &request.expr;
        if !self.cache.contains_key(text) {
            if self.cache.len() >= CACHE_CAPACITY {
                self.cache.clear();
            }
            let parsed = CronExpr::parse(text).map_err(|error| error.to_string());
            self.cache.insert(text.to_owned(), parsed);
        }
        // Borrow the cached expression in place: cloning it per line would allocate.
        let expr = match self.cache.get(text) {
            Some(Ok(expr)) => expr,
            Some(Err(message)) => return Err(message.clone()),
            None => return Err("expression cache lost an entry".to_owned()),
        };
        self.fires.clear();
        self.fires
            .extend(expr.fire_times(after, zone).take(count as usize));
        Ok(())
    }
}

fn write_answer(
    output: &mut impl Write,
    expr: Option<&str>,
    outcome: Result<&[i64], &str>,
) -> io::Result<()> {
    let answer = Answer {
        expr,
        next_ms: outcome.ok(),
        error: outcome.err(),
    };
    serde_json::to_writer(&mut *output, &answer)?;
    output.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use crate::cron::batch::{Defaults, run};

    fn check(input: &str, expected: &str) {
        let defaults = Defaults {
            zone: chrono_tz::Asia::Shanghai,
            after_ms: 1_700_000_000_000,
        };
        let mut output = Vec::new();
        let answered = run(input.as_bytes(), &mut output, defaults).unwrap();
        assert_eq!(String::from_utf8(output).unwrap(), expected, "{input}");
        assert_eq!(answered as usize, expected.lines().count());
    }

    #[test]
    fn answers_requests_in_order() {
        let cases = [
            (
                r#"{"expr":"0 0 0 * * ?","tz":"UTC","after_ms":0,"count":2}"#,
                "{\"expr\":\"0 0 0 * * ?\",\"next_ms\":[86400000,172800000]}\n",
            ),
            // Defaults: Shanghai, 2023-11-14T22:13:20Z, one fire time.
            (
                r#"{"expr":"0 0 0 * * ?"}"#,
                "{\"expr\":\"0 0 0 * * ?\",\"next_ms\":[1700064000000]}\n",
            ),
            (
                r#"{"expr":"0 0 0 1 1 ? 2020","tz":"UTC","after_ms":0,"count":3}"#,
                "{\"expr\":\"0 0 0 1 1 ? 2020\",\"next_ms\":[1577836800000]}\n",
            ),
            (
                r#"{"expr":"0 0 0 31 2 ?","count":3}"#,
                "{\"expr\":\"0 0 0 31 2 ?\",\"next_ms\":[]}\n",
            ),
            (
                "{\"expr\":\"* * * * * ?\",\"count\":0}\n\n  \n{\"expr\":\"* * * * * ?\",\"count\":0}",
                "{\"expr\":\"* * * * * ?\",\"next_ms\":[]}\n{\"expr\":\"* * * * * ?\",\"next_ms\":[]}\n",
            ),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn bad_requests_get_error_lines_and_the_run_goes_on() {
        let cases = [
            (
                r#"{"expr":"0 0 24 * * ?"}"#,
                "{\"expr\":\"0 0 24 * * ?\",\"error\":\"invalid hours `24`: values must be between 0 and 23\"}\n",
            ),
            (
                r#"{"expr":"0 0 0 * * ?","tz":"Mars/Olympus"}"#,
                "{\"expr\":\"0 0 0 * * ?\",\"error\":\"unknown time zone `Mars/Olympus`\"}\n",
            ),
            (
                r#"{"expr":"0 0 0 * * ?","count":1001}"#,
                "{\"expr\":\"0 0 0 * * ?\",\"error\":\"count 1001 is above the maximum of 1000\"}\n",
            ),
            (
                "not json\n{\"expr\":\"0 0 0 * * ?\",\"tz\":\"UTC\",\"after_ms\":0}",
                "{\"expr\":null,\"error\":\"malformed request: expected ident at line 1 column 2\"}\n\
                 {\"expr\":\"0 0 0 * * ?\",\"next_ms\":[86400000]}\n",
            ),
            (
                r#"{"tz":"UTC"}"#,
                "{\"expr\":null,\"error\":\"malformed request: missing field `expr` at line 1 column 12\"}\n",
            ),
            (
                r#"{"expr":"0 0 0 * * ?","after_ms":"soon"}"#,
                "{\"expr\":null,\"error\":\"malformed request: invalid type: string \\\"soon\\\", expected i64 at line 1 column 39\"}\n",
            ),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn invalid_utf8_is_an_error_line() {
        let defaults = Defaults {
            zone: chrono_tz::UTC,
            after_ms: 0,
        };
        let mut output = Vec::new();
        let input: &[u8] = b"{\"expr\":\"\xff\"}\n";
        run(input, &mut output, defaults).unwrap();
        let text = String::from_utf8(output).unwrap();
        assert!(
            text.starts_with("{\"expr\":null,\"error\":\"malformed request: invalid unicode"),
            "{text}"
        );
    }

    #[test]
    fn escaped_expressions_round_trip() {
        check(
            r#"{"expr":"0 0 0 * * \u003f","tz":"UTC","after_ms":0}"#,
            "{\"expr\":\"0 0 0 * * ?\",\"next_ms\":[86400000]}\n",
        );
    }
}
