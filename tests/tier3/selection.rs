use crate::support::{run, run_plain};

#[tiered::test(tier = 3, timeout = "15m")]
fn list_shows_tier_binary_tags_and_build_failures() {
    let r = run_plain("passing", &["list", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let tests = v["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 7);
    let parses = tests.iter().find(|t| t["name"] == "parses").unwrap();
    assert_eq!(parses["tier"], 1);
    assert_eq!(parses["binary"], "suite");
    assert_eq!(parses["tags"][0], "fast");
    assert!(parses["location"]
        .as_str()
        .unwrap()
        .starts_with("tests/suite.rs:"));
    let r = run_plain("broken-build", &["list"]);
    assert!(r.stdout.contains("did not build: bad"), "{}", r.stdout);
    assert!(
        r.stdout.contains("tier1  good  builds_and_passes"),
        "{}",
        r.stdout
    );
}

#[tiered::test(tier = 3, timeout = "15m")]
fn tiers_and_filters_select_declared_and_discovered_alike() {
    let r = run("passing", &["--tier", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["totals"]["declared"], 1);
    assert_eq!(j["tests"].as_array().unwrap().len(), 1);
    assert_eq!(j["selected_tiers"], serde_json::json!([2]));
    let r = run("passing", &["--", "unit::"]);
    let j = r.json();
    assert_eq!(j["totals"]["declared"], 2, "{}", r.stderr);
    assert_eq!(j["totals"]["passed"], 2);
    let r = run("passing", &["--", "--exact", "adds"]);
    assert_eq!(r.json()["totals"]["passed"], 1);
    let r = run("passing", &["--", "--include-ignored", "later"]);
    assert_eq!(r.test("later")["outcome"], "passed");
}

#[tiered::test(tier = 3, timeout = "15m")]
fn a_relative_manifest_path_works_from_anywhere() {
    // The README's main job: run from the repository root.
    let out = std::process::Command::new(crate::support::cargo_tiered())
        .args([
            "tiered",
            "--manifest-path",
            "fixtures/workspaces/passing/Cargo.toml",
            "list",
        ])
        .current_dir(crate::support::repo())
        .env("CARGO_TARGET_DIR", crate::support::fixtures_target())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("7 tests"), "{stdout}");
}
