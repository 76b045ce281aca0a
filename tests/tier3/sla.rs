use std::process::Command;

use crate::support::{assert_valid_junit, run_env};

#[tiered::test(tier = 3, timeout = "15m")]
fn a_breached_sla_fails_the_release_gate_naming_operation_p95_and_threshold() {
    let r = run_env(
        "sla",
        &["--gate", "release", "--", "slow_queries"],
        &[("TIERED_CONFIG", "breach.toml")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    let slow = j["sla"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operation"] == "slow_query")
        .unwrap()
        .clone();
    assert_eq!(slow["met"], false);
    assert_eq!(slow["count"], 3);
    assert_eq!(slow["threshold_ms"], 50.0);
    assert!(slow["p95_ms"].as_f64().unwrap() >= 100.0, "{slow}");
    assert_eq!(slow["level"], "emergency");
    let gate = &j["gates"][0];
    assert_eq!(gate["name"], "release");
    assert_eq!(gate["passed"], false);
    assert!(r.stderr.contains("slow_query"), "{}", r.stderr);
    assert!(r.stderr.contains("exceeds 50.0ms"), "{}", r.stderr);
    // Service startups are judged too.
    assert!(j["sla"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["operation"] == "startup.postgres" && s["met"] == true));
    assert!(r.junit().contains("tiered.sla.slow_query"));
    assert_valid_junit(&r.junit_path());
}

#[tiered::test(tier = 3, timeout = "15m")]
fn met_slas_and_load_scenarios_pass_and_render_as_html() {
    let html = tempfile::tempdir().unwrap();
    let page = html.path().join("report.html");
    let r = run_env(
        "sla",
        &["--gate", "release", "--html", page.to_str().unwrap()],
        &[("TIERED_CONFIG", "meets.toml")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    for s in j["sla"].as_array().unwrap() {
        assert_eq!(s["met"], true, "{s}");
    }
    let load = j["load"].as_array().unwrap();
    let names: Vec<&str> = load
        .iter()
        .map(|l| l["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pg_load", "redis_load"]);
    assert_eq!(load[0]["iterations"], 100);
    assert!(load[0]["throughput"].as_f64().unwrap() > 5.0);
    assert_eq!(load[1]["users"], 4);
    let fast = j["sla"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operation"] == "fast_query")
        .unwrap()
        .clone();
    assert_eq!(fast["count"], 25);
    assert!(fast["p99_ms"].as_f64().unwrap() >= fast["p50_ms"].as_f64().unwrap());
    assert!(r.stderr.contains("LOAD:"), "{}", r.stderr);
    // The page, rendered by a real browser.
    let dom = chromium(&["--dump-dom"], &page);
    assert!(
        dom.contains("Verdict: <span class=\"PASS\">PASS</span>"),
        "{dom}"
    );
    assert!(dom.contains("pg_load") && dom.contains("<svg class=\"chart\""));
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the payload is text"
    );
    assert!(
        !dom.contains("<script"),
        "no script element in the rendered page"
    );
    let shot = html.path().join("report.png");
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,1800",
        ],
        &page,
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    if let Some(keep) = std::env::var_os("TIERED_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

fn chromium(args: &[&str], page: &std::path::Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium is needed to render the HTML report: apt-get install chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
