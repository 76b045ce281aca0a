use crate::support::{run, run_env};

#[tiered::test(tier = 3, timeout = "15m")]
fn a_github_step_summary_is_appended_with_rates_and_failures() {
    let summary = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(summary.path(), "# an earlier step\n").unwrap();
    let path = summary.path().to_str().unwrap();
    let r = run_env(
        "failing",
        &[
            "--test",
            "suite",
            "--gate",
            "discovery",
            "--gate",
            "release",
        ],
        &[("GITHUB_STEP_SUMMARY", path)],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("GitHub step summary: {path}")),
        "{}",
        r.stderr
    );
    let md = std::fs::read_to_string(summary.path()).unwrap();
    assert!(md.starts_with("# an earlier step\n"), "appended: {md}");
    assert!(md.contains("## ❌ cargo tiered: FAIL"), "{md}");
    assert!(
        md.contains("| 1 | 3 | 3 | 3 | 1 | 2 | 0 | 0 | 100.0% | 100.0% | 33.3% |"),
        "{md}"
    );
    assert!(
        md.contains("| discovery | min_discovery_rate | 100.0% | &gt;= 90.0% | ✅ pass |"),
        "{md}"
    );
    assert!(
        md.contains("| release | min_success_rate | 25.0% | &gt;= 70.0% | ❌ FAIL |"),
        "{md}"
    );
    assert!(md.contains("### Failing tests (3)"), "{md}");
    assert!(
        md.contains("| suite::fails\\_an\\_assertion | 1 | failed | assertion \\`left == right\\` failed: arithmetic is broken (at tests/suite.rs:8:5) |"),
        "{md}"
    );
    assert!(
        md.contains("| suite::fails\\_with\\_output | 2 | failed | integration check failed"),
        "{md}"
    );
}

#[tiered::test(tier = 3, timeout = "15m")]
fn message_format_json_streams_events_and_an_unwritable_summary_is_an_error() {
    // A directory cannot be appended to: reported like an unwritable --junit.
    let not_a_file = tempfile::tempdir().unwrap();
    let r = run_env(
        "passing",
        &["--message-format", "json"],
        &[("GITHUB_STEP_SUMMARY", not_a_file.path().to_str().unwrap())],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "error: cannot write the GitHub step summary to {}",
            not_a_file.path().display()
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("verdict: PASS"),
        "people's lines stay on stderr"
    );
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"build-finished"), "{types:?}");
    assert_eq!(types.last(), Some(&"run-finished"), "{types:?}");
    assert_eq!(
        types.iter().filter(|t| **t == "test-finished").count(),
        7,
        "{types:?}"
    );
    assert!(types.contains(&"binary-started") && types.contains(&"binary-finished"));
    let last = lines.last().unwrap();
    assert_eq!(last["verdict"], "PASS");
    assert_eq!(last["totals"]["passed"], 6);
    let later = lines.iter().find(|l| l["name"] == "later").unwrap();
    assert_eq!(later["outcome"], "ignored");
    assert_eq!(later["message"], "flaky upstream");
    // The JSON report is still written.
    assert_eq!(r.json()["verdict"], "PASS");
}

#[tiered::test(tier = 3, timeout = "15m")]
fn message_format_json_with_nocapture_keeps_stdout_for_events() {
    let r = run(
        "passing",
        &["--message-format", "json", "--", "--nocapture"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for l in r.stdout.lines() {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
    }
    assert!(
        r.stderr.contains("from a child process"),
        "the test's output goes to stderr: {}",
        r.stderr
    );
}
