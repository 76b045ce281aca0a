use crate::support::{assert_valid_junit, run};

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
fn fail_fast_stops_after_the_failing_binary_unless_told_not_to() {
    let r = run("failing", &[]);
    assert_eq!(r.code, 1);
    // Binaries run in manifest order: `suite` fails, so `after` is not run.
    let later = r.test("runs_later");
    assert_eq!(later["outcome"], "not_run", "{later}");
    assert!(later["message"]
        .as_str()
        .unwrap()
        .contains("--no-fail-fast"));
    let r = run("failing", &["--no-fail-fast"]);
    assert_eq!(r.test("runs_later")["outcome"], "passed");
    assert_eq!(r.json()["totals"]["executed"], 5);
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
