use std::process::Command;

use crate::support::{fixture, fixtures_target};

/// Each misuse is a compile error at the token that is wrong.
#[tiered::test(tier = 3, timeout = "15m")]
fn misuses_are_compile_errors_pointing_at_the_token() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--tests", "--message-format", "short"])
        .current_dir(fixture("misuse"))
        .env("CARGO_TARGET_DIR", fixtures_target())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "tests/misuse.rs:3:1: error: missing tier: write #[tiered::test(tier = 1)]",
        "tests/misuse.rs:6:23: error: tier must be 1 (unit), 2 (integration) or 3 (end to end)",
        "tests/misuse.rs:9:26: error: unknown option; expected one of `tier`, `ignore`, `should_panic`, `timeout`, `retries`, `tags`, `needs`",
        "tests/misuse.rs:12:36: error: invalid timeout: unknown unit `parsecs`",
        "tests/misuse.rs:16:1: error: #[tiered::test] applies to a function",
        "tests/misuse.rs:19:11: error: a tiered test cannot be generic",
    ] {
        assert!(stderr.contains(expected), "missing `{expected}` in:\n{stderr}");
    }
}
