//! JUnit XML for CI systems, written with the junit-report crate.
//!
//! One `<testsuite>` per (test binary, tier), testcases with `classname`
//! `binary.module::path` and `name` the function, `<failure>` with the panic
//! message and location, `<error>` for tests that could not be executed,
//! `<skipped>` for ignored and not-run tests, captured output of failures in
//! `system-out`/`system-err`, and a suite per target that did not build.
//!
//! junit-report has no `<properties>`, so the document it writes is passed
//! once through quick-xml to add each suite's properties (tier, counts,
//! rates, gate results) and to write times with at most three decimals (the
//! Surefire schema's `SUREFIRE_TIME`). Every string first goes through
//! [`xml_safe`]: XML 1.0 forbids NUL, ESC and most other C0 controls even
//! escaped, and a test's output is arbitrary bytes.

use std::collections::BTreeMap;
use std::io::{self, Cursor};
use std::path::Path;

use junit_report::{Duration as JDuration, ReportBuilder, TestCase, TestCaseBuilder, TestSuite};
use quick_xml::events::{BytesStart, BytesText, Event};

use super::{SessionReport, TestEntry};
use crate::protocol::{Attempt, Outcome};
use crate::rates::Counts;

/// Replaces characters XML 1.0 cannot carry with a visible `\u{..}` escape,
/// and splits `]]>` so text is safe inside CDATA.
pub fn xml_safe(text: &str) -> String {
    xml_chars(text).replace("]]>", "]]]]><![CDATA[>")
}

/// Replaces characters XML 1.0 cannot carry (NUL, ESC and the other C0
/// controls but tab, newline and carriage return; U+FFFE, U+FFFF) with a
/// visible `\u{..}` escape.
pub fn xml_chars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let ok = matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}';
        if ok {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    out
}

fn ms(d: f64) -> JDuration {
    JDuration::microseconds((d * 1000.0).round() as i64)
}

/// The one-line summary for a `message` attribute: the panic's first line
/// with its location (`assertion failed: x (at src/a.rs:3:5)`).
fn first_line(text: &str) -> String {
    xml_chars(&super::headline(text))
}

fn testcase(t: &TestEntry) -> TestCase {
    let (module, func) = match t.name.rsplit_once("::") {
        Some((m, f)) => (format!("{}.{m}", t.binary), f.to_string()),
        None => (t.binary.clone(), t.name.clone()),
    };
    let msg = t.message.as_deref().unwrap_or("");
    let mut b = match t.outcome {
        Outcome::Passed => TestCaseBuilder::success(&func, ms(t.duration_ms)),
        Outcome::Failed => {
            let mut b =
                TestCaseBuilder::failure(&func, ms(t.duration_ms), "failure", &first_line(msg));
            b.set_trace(&xml_safe(msg));
            b
        }
        Outcome::Error => {
            let mut b = TestCaseBuilder::error(&func, ms(t.duration_ms), "error", &first_line(msg));
            b.set_trace(&xml_safe(msg));
            b
        }
        Outcome::Ignored => TestCaseBuilder::skipped_with_cause(&func, "ignored", &first_line(msg)),
        Outcome::NotRun => TestCaseBuilder::skipped_with_cause(&func, "not_run", &first_line(msg)),
    };
    b.set_classname(&xml_chars(&module));
    // Output is in the report only where it was kept: failures, and
    // passes with `--success-output`.
    if let Some(out) = t.stdout.as_deref().filter(|s| !s.is_empty()) {
        b.set_system_out(&xml_safe(out));
    }
    if let Some(err) = t.stderr.as_deref().filter(|s| !s.is_empty()) {
        b.set_system_err(&xml_safe(err));
    }
    let mut tc = b.build();
    tc.name = xml_chars(&tc.name);
    tc
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.1}ms"))
}

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".into(), |v| format!("{v:.2}"))
}

fn count_props(props: &mut Vec<(String, String)>, c: &Counts) {
    for (k, v) in [
        ("discovered", c.discovered),
        ("executed", c.executed),
        ("passed", c.passed),
        ("failed", c.failed),
        ("errors", c.errors),
        ("ignored", c.ignored),
        ("not_run", c.not_run),
    ] {
        props.push((format!("tiered.{k}"), v.to_string()));
    }
}

/// Builds the JUnit document.
pub fn to_bytes(report: &SessionReport) -> io::Result<Vec<u8>> {
    // Group tests by (binary, tier), in a stable order.
    let mut groups: BTreeMap<(String, u8), Vec<&TestEntry>> = BTreeMap::new();
    for t in &report.tests {
        groups
            .entry((t.binary.clone(), t.tier))
            .or_default()
            .push(t);
    }
    let mut session_props = vec![(
        "tiered.verdict".to_string(),
        report.verdict.as_str().to_string(),
    )];
    for g in &report.gates {
        let detail: Vec<String> = g
            .criteria
            .iter()
            .map(|c| {
                format!(
                    "{} required {} actual {} {}",
                    c.name,
                    c.required,
                    c.actual.map_or("n/a".into(), |a| a.to_string()),
                    if c.passed { "PASS" } else { "FAIL" }
                )
            })
            .collect();
        session_props.push((
            format!("tiered.gate.{}", g.name),
            format!(
                "{}: {}",
                if g.passed { "PASS" } else { "FAIL" },
                detail.join("; ")
            ),
        ));
    }
    for r in &report.services {
        session_props.push((
            format!("tiered.service.{}", r.name),
            xml_chars(crate::report::summary::service_line(r).trim_start()),
        ));
    }
    for r in &report.sla {
        session_props.push((
            format!("tiered.sla.{}", xml_chars(&r.operation)),
            format!(
                "{}: count {} errors {} p50 {} p95 {} p99 {} max {} threshold {} level {}",
                if r.met { "met" } else { "NOT met" },
                r.count,
                r.errors,
                fmt_ms(r.p50_ms),
                fmt_ms(r.p95_ms),
                fmt_ms(r.p99_ms),
                fmt_ms(r.max_ms),
                fmt_ms(r.threshold_ms),
                r.level.as_str()
            ),
        ));
    }
    for l in &report.load {
        session_props.push((
            format!("tiered.load.{}", xml_chars(&l.scenario)),
            format!(
                "users {} iterations {} duration {:.0}ms throughput {:.2}/s error_rate {:.4} p95 {:.1}ms",
                l.users, l.iterations, l.duration_ms, l.throughput, l.error_rate, l.p95_ms
            ),
        ));
    }
    let mut suites = Vec::new();
    let mut suite_props = Vec::new();
    let mut reruns: Vec<Reruns<'_>> = Vec::new();
    for ((binary, tier), tests) in &groups {
        let mut suite = TestSuite::new(&xml_chars(&format!("{binary}.tier{tier}")));
        suite.add_testcases(tests.iter().map(|t| testcase(t)));
        reruns.extend(
            tests
                .iter()
                .map(|t| (t.outcome == Outcome::Passed, t.retries.as_slice())),
        );
        suites.push(suite);
        let mut counts = Counts::default();
        for t in tests {
            counts.record(t.outcome);
        }
        let mut props = vec![
            ("tiered.binary".to_string(), xml_chars(binary)),
            ("tiered.tier".to_string(), tier.to_string()),
        ];
        count_props(&mut props, &counts);
        if let Some(tr) = report.tiers.get(&tier.to_string()) {
            props.push((
                "tiered.tier.declared".into(),
                tr.totals.declared.to_string(),
            ));
            props.push((
                "tiered.tier.rate.discovery".into(),
                rate(tr.rates.discovery),
            ));
            props.push((
                "tiered.tier.rate.execution".into(),
                rate(tr.rates.execution),
            ));
            props.push(("tiered.tier.rate.success".into(), rate(tr.rates.success)));
        }
        props.extend(session_props.iter().cloned());
        suite_props.push((counts.ignored + counts.not_run, props));
    }
    for b in &report.build_failures {
        let mut suite = TestSuite::new(&xml_chars(&format!("{}.build", b.target)));
        let mut tc =
            TestCaseBuilder::error("build", JDuration::ZERO, "build", &first_line(&b.message));
        tc.set_classname(&xml_chars(&format!("{}.build", b.target)));
        tc.set_trace(&xml_safe(&b.message));
        suite.add_testcase(tc.build());
        suites.push(suite);
        reruns.push((false, &[]));
        let mut props = vec![("tiered.binary".to_string(), xml_chars(&b.target))];
        props.extend(session_props.iter().cloned());
        suite_props.push((0, props));
    }
    let mut raw = Vec::new();
    ReportBuilder::new()
        .add_testsuites(suites)
        .build()
        .write_xml(&mut raw)
        .map_err(io::Error::other)?;
    decorate(&raw, &suite_props, &reruns)
}

/// Per test case, in document order: whether it passed in the end, and its
/// failed runs before (`retries`).
type Reruns<'a> = (bool, &'a [Attempt]);

/// The earlier runs of a retried test, as Maven Surefire writes them (and
/// CI systems read them): `<flakyFailure>`/`<flakyError>` when it passed in
/// the end, `<rerunFailure>`/`<rerunError>` when it did not.
fn write_reruns(
    writer: &mut quick_xml::Writer<Cursor<Vec<u8>>>,
    (passed, attempts): &Reruns<'_>,
) -> io::Result<()> {
    for a in attempts.iter() {
        let error = a.outcome == Outcome::Error;
        let element = match (passed, error) {
            (true, false) => "flakyFailure",
            (true, true) => "flakyError",
            (false, false) => "rerunFailure",
            (false, true) => "rerunError",
        };
        let message = first_line(a.message.as_deref().unwrap_or(""));
        let kind = if error { "error" } else { "failure" };
        writer
            .create_element(element)
            .with_attributes([("message", message.as_str()), ("type", kind)])
            .write_inner_content(|w| {
                let parts = [
                    ("stackTrace", a.message.as_deref()),
                    ("system-out", a.stdout.as_deref()),
                    ("system-err", a.stderr.as_deref()),
                ];
                for (name, text) in parts {
                    if let Some(text) = text.filter(|t| !t.is_empty()) {
                        w.create_element(name)
                            .write_text_content(BytesText::new(&xml_chars(text)))?;
                    }
                }
                Ok::<(), io::Error>(())
            })?;
    }
    Ok(())
}

/// Per suite, in document order: its skipped count and its properties.
type SuiteExtras = [(u64, Vec<(String, String)>)];

/// Adds `skipped` and `<properties>` to each suite and trims times to
/// milliseconds.
fn decorate(raw: &[u8], suite_props: &SuiteExtras, reruns: &[Reruns<'_>]) -> io::Result<Vec<u8>> {
    let mut reader = quick_xml::Reader::from_reader(raw);
    let mut writer = quick_xml::Writer::new(Cursor::new(Vec::new()));
    let mut buf = Vec::new();
    let mut suite = 0usize;
    let mut case = 0usize;
    let none: Reruns<'_> = (false, &[]);
    loop {
        let event = reader.read_event_into(&mut buf).map_err(io::Error::other)?;
        match event {
            Event::Eof => break,
            Event::Start(e) if e.name().as_ref() == b"testsuite" => {
                writer.write_event(Event::Start(suite_start(&e, suite_props.get(suite))?))?;
                write_props(&mut writer, suite_props.get(suite).map(|s| &s.1))?;
                suite += 1;
            }
            Event::Empty(e) if e.name().as_ref() == b"testsuite" => {
                writer.write_event(Event::Start(suite_start(&e, suite_props.get(suite))?))?;
                write_props(&mut writer, suite_props.get(suite).map(|s| &s.1))?;
                writer.write_event(Event::End(quick_xml::events::BytesEnd::new("testsuite")))?;
                suite += 1;
            }
            Event::Start(e) if e.name().as_ref() == b"testcase" => {
                writer.write_event(Event::Start(retime(&e)?))?;
                case += 1;
            }
            Event::End(e) if e.name().as_ref() == b"testcase" => {
                write_reruns(&mut writer, reruns.get(case - 1).unwrap_or(&none))?;
                writer.write_event(Event::End(e))?;
            }
            Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                let r = reruns.get(case).unwrap_or(&none);
                case += 1;
                if r.1.is_empty() {
                    writer.write_event(Event::Empty(retime(&e)?))?;
                } else {
                    writer.write_event(Event::Start(retime(&e)?))?;
                    write_reruns(&mut writer, r)?;
                    writer.write_event(Event::End(quick_xml::events::BytesEnd::new("testcase")))?;
                }
            }
            other => writer.write_event(other)?,
        }
        buf.clear();
    }
    let mut out = writer.into_inner().into_inner();
    out.push(b'\n');
    Ok(out)
}

fn suite_start(
    e: &BytesStart<'_>,
    extras: Option<&(u64, Vec<(String, String)>)>,
) -> io::Result<BytesStart<'static>> {
    let mut out = retime(e)?;
    if let Some((skipped, _)) = extras {
        out.push_attribute(("skipped", skipped.to_string().as_str()));
    }
    Ok(out)
}

fn retime(e: &BytesStart<'_>) -> io::Result<BytesStart<'static>> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut out = BytesStart::new(name);
    for attr in e.attributes() {
        let attr = attr.map_err(io::Error::other)?;
        if attr.key.as_ref() == b"time" {
            let raw = String::from_utf8_lossy(&attr.value).into_owned();
            let value = raw.parse::<f64>().map(|v| format!("{v:.3}")).unwrap_or(raw);
            out.push_attribute(("time", value.as_str()));
        } else {
            // Kept as written: the value is already escaped.
            out.push_attribute(attr);
        }
    }
    Ok(out)
}

fn write_props(
    writer: &mut quick_xml::Writer<Cursor<Vec<u8>>>,
    props: Option<&Vec<(String, String)>>,
) -> io::Result<()> {
    let Some(props) = props.filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    writer
        .create_element("properties")
        .write_inner_content(|w| {
            for (k, v) in props {
                w.create_element("property")
                    .with_attributes([("name", k.as_str()), ("value", v.as_str())])
                    .write_empty()?;
            }
            Ok::<(), io::Error>(())
        })?;
    Ok(())
}

/// Writes the JUnit document to `path`, creating parent folders.
pub fn write(report: &SessionReport, path: &Path) -> io::Result<()> {
    let bytes = to_bytes(report)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
}
