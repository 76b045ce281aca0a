use crate::support::{run, run_plain};

#[tiered::test(tier = 3, timeout = "15m")]
fn check_finds_a_mocking_crate_in_tier_two_with_file_and_line() {
    let r = run_plain("mocked", &["check"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    // The path is relative to the workspace root, as cargo prints paths.
    assert!(
        r.stdout
            .lines()
            .any(|l| l == "tests/suite.rs:8: uses the mocking crate `mockall` in tier 2-3 tests"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("unit.rs"),
        "tier-1 files may mock:\n{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("no mocking: 1 forbidden use(s)"),
        "{}",
        r.stdout
    );
    let r = run_plain("passing", &["check"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[tiered::test(tier = 3, timeout = "15m")]
fn the_integration_gate_fails_on_mocking() {
    let r = run("mocked", &["--gate", "integration"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["mocking"][0]["crate"], "mockall");
    assert_eq!(j["mocking"][0]["location"], "tests/suite.rs:8");
    let crit = j["gates"][0]["criteria"].as_array().unwrap();
    let nm = crit.iter().find(|c| c["name"] == "no_mocking").unwrap();
    assert_eq!(nm["passed"], false);
    assert_eq!(nm["actual"], 1.0);
    assert!(r.stderr.contains("NO MOCKING (1 use(s)"), "{}", r.stderr);
}
