use crate::support::{assert_valid_junit, run};

#[tiered::test(tier = 3, timeout = "15m")]
fn a_passing_suite_exits_zero_with_full_rates() {
    let r = run("passing", &[]);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr);
    let j = r.json();
    assert_eq!(j["verdict"], "PASS");
    assert_eq!(j["totals"]["declared"], 7);
    assert_eq!(j["totals"]["discovered"], 7);
    assert_eq!(j["totals"]["executed"], 6);
    assert_eq!(j["totals"]["passed"], 6);
    assert_eq!(j["totals"]["failed"], 0);
    assert_eq!(j["rates"]["discovery"], 100.0);
    assert_eq!(j["rates"]["execution"], 85.71);
    assert_eq!(j["tiers"]["1"]["totals"]["declared"], 6);
    assert_eq!(j["tiers"]["2"]["totals"]["passed"], 1);
    assert_eq!(r.test("later")["outcome"], "ignored");
    assert_eq!(r.test("later")["message"], "flaky upstream");
    assert_eq!(r.test("unit::deeper::subtracts")["outcome"], "passed");
    assert_eq!(r.test("panics")["outcome"], "passed");
    assert!(r.stderr.contains("verdict: PASS"), "{}", r.stderr);
    assert_valid_junit(&r.junit_path());
}

#[tiered::test(tier = 3, timeout = "15m")]
fn gates_decide_the_exit_code() {
    let r = run("passing", &["--gate", "discovery", "--gate", "release"]);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr);
    let gates = r.json()["gates"].clone();
    assert_eq!(gates[0]["name"], "discovery");
    assert_eq!(gates[0]["passed"], true);
    assert_eq!(gates[0]["criteria"][0]["required"], 90.0);
    assert_eq!(gates[0]["criteria"][0]["actual"], 100.0);
    // integration needs 80% executed; one ignored test of seven leaves 85.7%.
    let r = run("passing", &["--gate", "integration", "--tier", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.junit().contains("tiered.gate.integration"));
}

#[tiered::test(tier = 3, timeout = "15m")]
fn the_harness_binary_works_alone_like_libtest() {
    use std::process::Command;
    let ws = crate::support::fixture("passing");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "test",
            "-q",
            "--test",
            "suite",
            "--",
            "--tier",
            "1",
            "--test-threads",
            "2",
        ])
        .current_dir(&ws)
        .env("CARGO_TARGET_DIR", crate::support::fixtures_target())
        .env_remove("TIERED_WORKER")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("5 passed; 0 failed; 1 ignored"), "{stdout}");
}
