use crate::support::{assert_valid_junit, run};

#[tiered::test(tier = 3, timeout = "15m")]
fn a_target_that_does_not_compile_lowers_discovery_and_the_rest_runs() {
    let r = run("broken-build", &[]);
    assert_eq!(r.code, 1, "stderr:\n{}", r.stderr);
    let j = r.json();
    assert_eq!(j["totals"]["declared"], 4);
    assert_eq!(j["totals"]["discovered"], 2);
    assert_eq!(j["totals"]["passed"], 2);
    assert_eq!(j["rates"]["discovery"], 50.0);
    let bf = &j["build_failures"][0];
    assert_eq!(bf["target"], "bad");
    let msg = bf["message"].as_str().unwrap();
    assert!(
        msg.contains("mismatched types") && msg.contains("tests/bad.rs"),
        "{msg}"
    );
    assert_eq!(r.test("never_builds")["outcome"], "not_run");
    assert!(r.junit().contains("bad.build"));
    assert_valid_junit(&r.junit_path());
    assert!(r.stderr.contains("BUILD FAILURES (1)"), "{}", r.stderr);
}

#[tiered::test(tier = 3, timeout = "15m")]
fn the_discovery_gate_catches_the_broken_target() {
    let r = run("broken-build", &["--gate", "discovery"]);
    assert_eq!(r.code, 1);
    let c = &r.json()["gates"][0]["criteria"][0];
    assert_eq!(c["actual"], 50.0);
    assert_eq!(c["passed"], false);
}
