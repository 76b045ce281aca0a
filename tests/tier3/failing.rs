use crate::support::{assert_valid_junit, run, run_env};

#[tiered::test(tier = 3, timeout = "15m")]
fn failures_carry_messages_and_exit_one() {
    let r = run("failing", &["--test", "suite"]);
    assert_eq!(r.code, 1, "stderr:\n{}", r.stderr);
    let j = r.json();
    assert_eq!(j["verdict"], "FAIL");
    assert_eq!(j["totals"]["passed"], 1);
    assert_eq!(j["totals"]["failed"], 3);
    let t = r.test("fails_an_assertion");
    assert_eq!(t["outcome"], "failed");
    let m = t["message"].as_str().unwrap();
    assert!(
        m.contains("tests/suite.rs:8:5") && m.contains("arithmetic is broken"),
        "{m}"
    );
    assert_eq!(
        r.test("returns_an_error")["message"],
        "Error: \"the input was refused\""
    );
    let t = r.test("fails_with_output");
    assert!(t["stdout"]
        .as_str()
        .unwrap()
        .contains("line printed before failing"));
    assert!(t["stderr"]
        .as_str()
        .unwrap()
        .contains("diagnostic on stderr"));
    let xml = r.junit();
    assert!(xml.contains("<failure type=\"failure\" message=\"assertion `left == right` failed: arithmetic is broken (at tests/suite.rs:8:5)\""), "{xml}");
    assert!(xml.contains("line printed before failing"));
    assert_valid_junit(&r.junit_path());
    assert!(
        r.stderr
            .contains("FAIL [tier 1] suite :: fails_an_assertion"),
        "{}",
        r.stderr
    );
}

#[tiered::test(tier = 3, timeout = "15m")]
fn every_test_runs_by_default_and_fail_fast_makes_an_incomplete_run_that_no_gate_passes() {
    // A run is a measurement: a failure in `suite` does not keep `after`
    // from running.
    let r = run("failing", &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.test("runs_later")["outcome"], "passed");
    assert_eq!(r.json()["totals"]["executed"], 5);
    assert_eq!(r.json()["totals"]["not_run"], 0);
    assert!(r.json().get("incomplete").is_none());
    // `--no-fail-fast` is still accepted: it is the default.
    let r = run("failing", &["--no-fail-fast"]);
    assert_eq!(r.json()["totals"]["executed"], 5);
    // `--fail-fast` stops starting tests after the first failure: the run
    // is incomplete, and a gate fails though its rate would hold.
    let r = run(
        "failing",
        &["--fail-fast", "--test-threads", "1", "--gate", "discovery"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert!(
        j["incomplete"]
            .as_str()
            .unwrap()
            .starts_with("--fail-fast stopped the run after `suite::"),
        "{j}"
    );
    assert!(j["totals"]["not_run"].as_u64().unwrap() >= 1, "{j}");
    assert_eq!(j["verdict"], "FAIL");
    let gate = &j["gates"][0];
    assert_eq!(gate["passed"], false);
    let complete = gate["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "complete_run")
        .expect("a complete_run criterion");
    assert!(complete["detail"]
        .as_str()
        .unwrap()
        .contains("the run is incomplete"));
    assert!(
        r.stderr.contains("verdict: FAIL (incomplete)"),
        "{}",
        r.stderr
    );
    let not_run = j["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["outcome"] == "not_run")
        .unwrap()
        .clone();
    assert!(not_run["message"]
        .as_str()
        .unwrap()
        .starts_with("not run: --fail-fast stopped the run"));
    assert_valid_junit(&r.junit_path());
}

#[tiered::test(tier = 3, timeout = "15m")]
fn a_failing_gate_exits_one_and_a_passing_gate_zero_even_with_failures() {
    let r = run("failing", &["--test", "suite", "--gate", "release"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["gates"][0]["passed"], false);
    assert!(r.stderr.contains("min_success_rate"), "{}", r.stderr);
    let r = run("failing", &["--test", "suite", "--gate", "discovery"]);
    assert_eq!(
        r.code, 0,
        "discovery is 100% although tests fail:\n{}",
        r.stderr
    );
    assert_eq!(r.json()["verdict"], "PASS");
}

#[tiered::test(tier = 3, timeout = "15m")]
fn backtraces_in_failures_are_short_by_default_and_full_on_request() {
    let message = |backtrace: &str| {
        let r = run_env(
            "failing",
            &["--test", "suite"],
            &[("RUST_BACKTRACE", backtrace)],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        r.test("fails_an_assertion")["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let short = message("1");
    assert!(short.contains("stack backtrace:"), "{short}");
    assert!(short.contains("suite::fails_an_assertion"), "{short}");
    assert!(
        !short.contains("tiered::") && !short.contains("std::panicking::"),
        "harness and panic-machinery frames are left out:\n{short}"
    );
    assert!(short.contains("run with `RUST_BACKTRACE=full`"), "{short}");
    let full = message("full");
    assert!(full.contains("tiered::execute"), "{full}");
    assert!(!message("0").contains("stack backtrace:"));
}
