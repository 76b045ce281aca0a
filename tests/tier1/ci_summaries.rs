use tiered::events::{Event, JsonSink, Sink};
use tiered::protocol::Outcome;
use tiered::report::github::{escape, markdown, LIMIT};
use tiered::report::TestEntry;

use crate::reports::sample;

#[tiered::test(tier = 1)]
fn github_summary_shows_verdict_rates_gates_and_failures() {
    let md = markdown(&sample(), LIMIT);
    assert!(md.contains("## ❌ cargo tiered: FAIL"), "{md}");
    assert!(md.contains("| 1 | 4 | 3 | 2 | 1 | 1 | 0 | 1 | 75.0% | 50.0% | 25.0% |"));
    assert!(md.contains("| **all** | 6 | 5 |"));
    assert!(md.contains("| discovery | min_discovery_rate | 83.3% | &gt;= 90.0% | ❌ FAIL |"));
    assert!(md.contains("### Failing tests (2)"));
    assert!(md.contains(
        "| suite::math::divides | 1 | failed | assertion \\`left == right\\` failed (at tests/math.rs:9:5) |"
    ));
    assert!(md.contains("| broken | pkg | error\\[E0308\\]: mismatched types |"));
}

#[tiered::test(tier = 1)]
fn github_summary_matches_the_golden_file() {
    crate::golden::check("github-summary-sample.md", &markdown(&sample(), LIMIT));
}

#[tiered::test(tier = 1)]
fn github_summary_escapes_markdown_and_html() {
    assert_eq!(
        escape("<img src=x> | *bold* [link](u) `code` & \u{1b}[31m\nnext"),
        "&lt;img src=x&gt; \\| \\*bold\\* \\[link\\](u) \\`code\\` &amp; \\\\u{1b}\\[31m next"
    );
    let long = "x".repeat(1000);
    assert_eq!(escape(&long).chars().count(), 201, "cut, with an ellipsis");
    let mut r = sample();
    r.tests[1].name = "a|b<script>".into();
    r.tests[1].message = Some("one | two\nsecond line".into());
    let md = markdown(&r, LIMIT);
    assert!(
        md.contains("| suite::a\\|b&lt;script&gt; | 1 | failed | one \\| two |"),
        "{md}"
    );
    assert!(!md.contains("<script"));
}

#[tiered::test(tier = 1)]
fn github_summary_stays_under_the_limit_with_many_failures() {
    let mut r = sample();
    let n = 5000;
    for i in 0..n {
        r.tests.push(TestEntry {
            name: format!("many::failure_number_{i}"),
            binary: "suite".into(),
            tier: 1,
            outcome: Outcome::Failed,
            duration_ms: 1.0,
            message: Some(format!("assertion failed: {}", "m".repeat(300))),
            stdout: None,
            stderr: None,
            setup_ms: None,
            retries: Vec::new(),
            flaky: false,
        });
    }
    let md = markdown(&r, LIMIT);
    assert!(md.len() <= LIMIT, "{} bytes", md.len());
    assert!(md.len() > LIMIT - 1000, "uses the room it has");
    let shown = md.lines().filter(|l| l.starts_with("| suite::")).count();
    let more: usize = md
        .split("… and ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a closing '… and N more'");
    assert_eq!(shown + more, n + 2, "every failure shown or counted");
    // Appending keeps the whole file under the limit too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.md");
    std::fs::write(&path, "x".repeat(10_000)).unwrap();
    tiered::report::github::append(&r, &path).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() as usize <= LIMIT);
}

#[tiered::test(tier = 1)]
fn json_lines_sink_writes_one_typed_object_per_event() {
    let r = sample();
    let mut out = Vec::new();
    {
        let mut sink = JsonSink::new(&mut out);
        sink.event(&Event::BuildFinished {
            failures: &r.build_failures,
        });
        sink.event(&Event::BinaryStarted {
            binary: "suite",
            tests: 5,
        });
        for t in &r.tests {
            sink.event(&Event::TestFinished(t));
        }
        sink.event(&Event::BinaryFinished {
            binary: "suite",
            status: "exit status: 101",
            abnormal: false,
        });
        sink.event(&Event::RunFinished(&r));
    }
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "build-finished",
            "binary-started",
            "test-finished",
            "test-finished",
            "test-finished",
            "test-finished",
            "test-finished",
            "binary-finished",
            "gate-evaluated",
            "gate-evaluated",
            "run-finished"
        ]
    );
    assert_eq!(lines[0]["failures"][0]["target"], "broken");
    assert_eq!(lines[3]["name"], "math::divides");
    assert_eq!(lines[3]["outcome"], "failed");
    assert!(lines[3]["stdout"].as_str().unwrap().contains("\u{1b}[31m"));
    assert_eq!(lines[8]["name"], "discovery");
    assert_eq!(lines[8]["criteria"][0]["actual"], 83.33);
    let last = lines.last().unwrap();
    assert_eq!(last["verdict"], "FAIL");
    assert_eq!(last["totals"]["declared"], 6);
    assert_eq!(last["tiers"]["1"]["rates"]["success"], 25.0);
    assert_eq!(last["gates"][1]["name"], "strict");
    assert!(last.get("partition").is_none());
}
