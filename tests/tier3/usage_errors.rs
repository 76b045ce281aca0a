use crate::support::{run, run_plain};

#[tiered::test(tier = 3, timeout = "15m")]
fn a_broken_config_names_file_line_and_key_and_exits_two() {
    let r = run("bad-config", &[]);
    assert_eq!(r.code, 2, "stderr:\n{}", r.stderr);
    assert!(
        r.stderr
            .contains("tiered.toml:4:1: unknown field `min_succes_rate`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("key `gates.release.min_succes_rate`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("did you mean `min_success_rate`?"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[tiered::test(tier = 3, timeout = "5m")]
fn unknown_tier_gate_and_flag_exit_two() {
    let r = run_plain("passing", &["--tier", "4"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("unknown tier `4`"), "{}", r.stderr);
    // Said as the flag's error, with what it accepts; no `--` was given.
    let r = run_plain("passing", &["--tier", "7"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "invalid value '7' for '--tier <TIERS>': unknown tier `7`: use 1, 2, 3, a list such as 1,2, or all"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("after `--`"), "{}", r.stderr);
    let r = run_plain("passing", &["--gate", "nightly"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r
        .stderr
        .contains("unknown gate `nightly`; known gates: discovery, integration, release"));
    let r = run_plain("passing", &["--frobnicate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run_plain("passing", &["--", "--no-such-libtest-flag"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("invalid test arguments after `--`"),
        "{}",
        r.stderr
    );
}

#[tiered::test(tier = 3, timeout = "5m")]
fn a_missing_manifest_is_a_usage_error() {
    let out = std::process::Command::new(crate::support::cargo_tiered())
        .args(["tiered", "--manifest-path", "/nonexistent/Cargo.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read the workspace at /nonexistent/Cargo.toml"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
}

#[tiered::test(tier = 3, timeout = "15m")]
fn an_empty_workspace_says_so_and_exits_four() {
    let r = run("empty", &[]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("no tests selected"), "{}", r.stderr);
    assert_eq!(r.json()["totals"]["declared"], 0);
}
