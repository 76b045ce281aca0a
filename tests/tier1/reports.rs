use std::collections::BTreeMap;

use tiered::config::GateSpec;
use tiered::protocol::Outcome;
use tiered::report::junit::{to_bytes, xml_chars, xml_safe};
use tiered::report::{json, summary, BuildFailure, Measured, SessionReport, TestEntry, Verdict};

fn entry(name: &str, tier: u8, outcome: Outcome, message: Option<&str>) -> TestEntry {
    TestEntry {
        name: name.into(),
        binary: "suite".into(),
        tier,
        outcome,
        duration_ms: 12.3456,
        message: message.map(str::to_string),
        stdout: None,
        stderr: None,
        setup_ms: None,
        retries: Vec::new(),
        flaky: false,
    }
}

/// A fixed run: one of each outcome, a build failure, two gates.
pub fn sample() -> SessionReport {
    let mut failed = entry(
        "math::divides",
        1,
        Outcome::Failed,
        Some("panicked at tests/math.rs:9:5:\nassertion `left == right` failed\n  left: 1\n right: 2"),
    );
    failed.stdout = Some("before \u{1b}[31mred\u{1b}[0m and a NUL \u{0} ]]> end".into());
    let tests = vec![
        entry("adds", 1, Outcome::Passed, None),
        failed,
        entry("later", 1, Outcome::Ignored, Some("flaky upstream")),
        entry(
            "db::stores",
            2,
            Outcome::Error,
            Some("fixture `Db` could not be set up: refused"),
        ),
        entry(
            "e2e::flows",
            3,
            Outcome::NotRun,
            Some("not run: an earlier test binary failed"),
        ),
    ];
    let declared = BTreeMap::from([(1, 4), (2, 1), (3, 1)]);
    let discovered = BTreeMap::from([(1, 3), (2, 1), (3, 1)]);
    let gates = vec![
        (
            "discovery".to_string(),
            GateSpec {
                min_discovery_rate: Some(90.0),
                ..GateSpec::default()
            },
        ),
        (
            "strict".to_string(),
            GateSpec {
                max_failed: Some(0),
                ..GateSpec::default()
            },
        ),
    ];
    SessionReport::assemble(
        Measured {
            selected_tiers: vec![1, 2, 3],
            declared,
            discovered,
            tests,
            build_failures: vec![BuildFailure {
                target: "broken".into(),
                package: "pkg".into(),
                message: "error[E0308]: mismatched types\n --> tests/broken.rs:3:18".into(),
            }],
            duration_ms: 4321.0,
        },
        &gates,
        &tiered::gates::Evidence::default(),
    )
}

#[tiered::test(tier = 1)]
fn assemble_counts_rates_and_verdict() {
    let r = sample();
    assert_eq!(r.totals.declared, 6);
    assert_eq!(r.totals.discovered, 5);
    assert_eq!(r.totals.executed, 2);
    assert_eq!(r.totals.passed, 1);
    assert_eq!(r.rates.discovery, Some(83.33));
    assert_eq!(r.tiers["1"].totals.declared, 4);
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.gates.len(), 2);
    assert!(!r.gates[0].passed);
}

#[tiered::test(tier = 1)]
fn without_gates_the_verdict_is_every_test_passed() {
    let tests = vec![
        entry("a", 1, Outcome::Passed, None),
        entry("b", 1, Outcome::Ignored, None),
    ];
    let m = BTreeMap::from([(1, 2)]);
    let measured = Measured {
        selected_tiers: vec![1],
        declared: m.clone(),
        discovered: m,
        tests,
        ..Measured::default()
    };
    let r = SessionReport::assemble(measured, &[], &Default::default());
    assert_eq!(r.verdict, Verdict::Pass);
}

#[tiered::test(tier = 1)]
fn xml_forbidden_characters_are_escaped_visibly() {
    assert_eq!(
        xml_chars("a\u{0}b\u{1b}[0m\u{7}c\td\n"),
        "a\\u{0}b\\u{1b}[0m\\u{7}c\td\n"
    );
    assert_eq!(
        xml_chars("\u{fffe}\u{ffff}ok\u{e9}"),
        "\\u{fffe}\\u{ffff}ok\u{e9}"
    );
    assert_eq!(xml_safe("x]]>y"), "x]]]]><![CDATA[>y");
}

fn junit_text() -> String {
    let xml = String::from_utf8(to_bytes(&sample()).unwrap()).unwrap();
    // The timestamp and hostname vary between runs.
    let mut out = String::new();
    let mut rest = xml.as_str();
    while let Some(i) = rest.find("timestamp=\"") {
        out.push_str(&rest[..i + 11]);
        let after = &rest[i + 11..];
        let end = after.find('"').unwrap();
        out.push_str("TIMESTAMP");
        rest = &after[end..];
    }
    out.push_str(rest);
    out.replace("><", ">\n<")
}

#[tiered::test(tier = 1)]
fn junit_matches_the_golden_file() {
    crate::golden::check("junit-sample.xml", &junit_text());
}

#[tiered::test(tier = 1)]
fn junit_reads_back_with_a_junit_parser() {
    let bytes = to_bytes(&sample()).unwrap();
    let suites = junit_parser::from_reader(std::io::Cursor::new(bytes)).expect("parses as JUnit");
    let names: Vec<&str> = suites.suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["suite.tier1", "suite.tier2", "suite.tier3", "broken.build"]
    );
    let t1 = &suites.suites[0];
    assert_eq!((t1.tests, t1.failures, t1.skipped), (3, 1, 1));
    let failed = t1
        .cases
        .iter()
        .find(|c| c.original_name == "divides")
        .unwrap();
    assert_eq!(failed.classname.as_deref(), Some("suite.math"));
    assert!(failed.status.is_failure());
    assert!(failed
        .status
        .failure_as_ref()
        .text
        .contains("tests/math.rs:9:5"));
    assert!(failed
        .system_out
        .as_deref()
        .unwrap()
        .contains("\\u{1b}[31mred"));
    assert!(failed.system_out.as_deref().unwrap().contains("]]> end"));
    assert!(suites.suites[1].cases[0].status.is_error());
    assert_eq!(
        t1.properties
            .hashmap
            .get("tiered.tier.declared")
            .map(String::as_str),
        Some("4")
    );
    assert!(t1.properties.hashmap["tiered.gate.discovery"].starts_with("FAIL"));
}

#[tiered::test(tier = 1)]
fn json_keeps_the_documented_keys_and_round_trips() {
    let r = sample();
    let v = serde_json::to_value(&r).unwrap();
    for key in [
        "verdict",
        "totals",
        "rates",
        "tiers",
        "tests",
        "gates",
        "build_failures",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(v["verdict"], "FAIL");
    assert_eq!(v["rates"]["discovery"], 83.33);
    assert_eq!(v["tiers"]["2"]["totals"]["errors"], 1);
    assert_eq!(v["tests"][1]["outcome"], "failed");
    assert_eq!(v["tests"][4]["outcome"], "not_run");
    assert_eq!(v["gates"][0]["criteria"][0]["name"], "min_discovery_rate");
    assert_eq!(v["build_failures"][0]["target"], "broken");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/report.json");
    json::write(&r, &path).unwrap();
    assert_eq!(json::read(&path).unwrap(), r);
}

#[tiered::test(tier = 1)]
fn terminal_summary_matches_the_golden_file() {
    let mut out = Vec::new();
    summary::write(
        &sample(),
        &["JSON report: out/report.json".into()],
        &mut out,
    )
    .unwrap();
    crate::golden::check("summary-sample.txt", &String::from_utf8(out).unwrap());
}

#[tiered::test(tier = 1)]
fn terminal_output_cannot_carry_escape_sequences() {
    assert_eq!(
        summary::printable("a\u{1b}[2Jb\u{0}\n"),
        "a\\u{1b}[2Jb\\u{0}\n"
    );
}

#[tiered::test(tier = 1)]
fn html_escapes_everything_from_the_run_and_runs_no_script() {
    let mut r = sample();
    r.tests[0].name = "<script>alert(1)</script>".into();
    r.tests[1].message = Some("<img src=x onerror=alert(2)> & \"quotes\"".into());
    r.tests[1].stdout = Some("</pre><script>alert(3)</script>".into());
    r.sla = tiered::sla::evaluate(
        &tiered::sla::stats(&[tiered::perf::Sample {
            op: "<b>op</b>".into(),
            ms: 12.0,
            error: false,
        }]),
        &[],
        &std::collections::BTreeMap::from([(
            "<b>op</b>".to_string(),
            tiered::sla::SlaSpec {
                p95: Some(std::time::Duration::from_millis(50)),
                ..Default::default()
            },
        )]),
        &[],
    );
    let html = tiered::report::html::render(&r);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt; &amp; &quot;quotes&quot;"));
    assert!(!html.contains("<script"), "no script element at all");
    assert!(!html.contains("<img"), "no live element from test text");
    assert!(html.contains("default-src 'none'"), "a CSP forbids scripts");
    assert!(html.contains("&lt;b&gt;op&lt;/b&gt;"));
    assert!(html.contains("<svg class=\"chart\""));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing fetched at view time"
    );
}
