use std::time::Instant;

use crate::support::{assert_valid_junit, run_env, session_containers};

#[tiered::test(tier = 3, timeout = "15m")]
fn a_run_on_real_services_reports_them_redacts_and_leaves_nothing() {
    // Events streamed on stdout are redacted like the reports.
    let extra = tempfile::tempdir().unwrap();
    let html = extra.path().join("report.html");
    let secret_out = extra.path().join("secret");
    let r = run_env(
        "services",
        &["--message-format", "json", "--html", html.to_str().unwrap()],
        &[("FX_SECRET_OUT", secret_out.to_str().unwrap())],
    );
    assert_eq!(r.code, 1, "one test fails on purpose:\n{}", r.stderr);
    let j = r.json();
    let services = j["services"].as_array().unwrap();
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["postgres", "redis"], "only what the tests need");
    for s in services {
        assert_eq!(s["ok"], true, "{s}");
        assert!(s["version"]
            .as_str()
            .unwrap()
            .starts_with(if s["name"] == "postgres" {
                "PostgreSQL"
            } else {
                "Redis"
            }));
        assert!(s["startup_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(s["within_sla"], true);
        assert!(s["endpoint"].as_str().unwrap().contains("127.0.0.1"));
    }
    assert_eq!(r.test("stores_a_row")["outcome"], "passed");
    assert_eq!(r.test("caches")["outcome"], "passed");
    assert_eq!(
        r.test("child_processes_see_the_endpoints")["outcome"],
        "passed"
    );
    assert_eq!(r.test("unit_runs_without_services")["outcome"], "passed");
    // A test with fixtures reports how long it waited for them.
    let waited = r.test("stores_a_row")["setup_ms"].as_f64().unwrap();
    assert!(waited > 0.0 && waited < 30_000.0, "{waited}");
    assert!(r
        .test("unit_runs_without_services")
        .get("setup_ms")
        .is_none());
    // The URLs a test printed carry no password in any report.
    let leak = r.test("leaks_its_urls");
    assert_eq!(leak["outcome"], "failed");
    let kept = leak["message"].as_str().unwrap();
    assert!(
        kept.contains("kept the test database `test_"),
        "a failed test's database is kept and named: {kept}"
    );
    for field in ["message", "stdout", "stderr"] {
        let text = leak[field].as_str().unwrap();
        assert!(
            text.contains("postgres://tiered:****@127.0.0.1:"),
            "{field}: {text}"
        );
    }
    let streamed = r
        .stdout
        .lines()
        .find(|l| l.contains("\"type\":\"test-finished\"") && l.contains("leaks_its_urls"))
        .expect("the failure is streamed as a test-finished event");
    // Tests of tiers 2-3 are announced when they start, before they finish.
    let position = |kind: &str| {
        r.stdout
            .lines()
            .position(|l| l.contains(kind) && l.contains("\"stores_a_row\""))
            .unwrap_or_else(|| panic!("no {kind} event for stores_a_row:\n{}", r.stdout))
    };
    assert!(position("\"type\":\"test-started\"") < position("\"type\":\"test-finished\""));
    for kind in ["service-starting", "service-ready", "run-planned"] {
        assert!(
            r.stdout.contains(&format!("\"type\":\"{kind}\"")),
            "no {kind} event:\n{}",
            r.stdout
        );
    }
    assert!(
        streamed.contains("postgres://tiered:****@127.0.0.1:"),
        "{streamed}"
    );
    let everything = format!(
        "{}{}{}{}",
        r.junit(),
        serde_json::to_string(&j).unwrap(),
        r.stderr,
        r.stdout
    );
    for (i, _) in everything.match_indices("postgres://tiered:") {
        let rest = &everything[i + "postgres://tiered:".len()..];
        assert!(
            rest.starts_with("****@"),
            "a password escaped: {}",
            &rest[..rest.len().min(60)]
        );
    }
    // The session's password itself, as a test saw it, is in no artifact:
    // JUnit, JSON, HTML, the terminal, the event stream.
    let url = std::fs::read_to_string(&secret_out).expect("the test wrote its URL");
    let password = url["postgres://tiered:".len()..].split('@').next().unwrap();
    assert!(password.len() >= 16, "a random password: {password}");
    for (artifact, text) in [
        ("JUnit", r.junit()),
        ("JSON", std::fs::read_to_string(r.json_path()).unwrap()),
        ("HTML", std::fs::read_to_string(&html).unwrap()),
        ("stderr", r.stderr.clone()),
        ("stdout", r.stdout.clone()),
    ] {
        assert!(
            !text.contains(password),
            "the password is in the {artifact}"
        );
    }
    assert!(
        j["tests"][0]["message"].is_null()
            || !j["tests"][0]["message"].as_str().unwrap().is_empty()
    );
    assert_valid_junit(&r.junit_path());
    assert!(r.junit().contains("tiered.service.postgres"));
    assert!(
        r.stderr.contains("SERVICE postgres ready in"),
        "{}",
        r.stderr
    );
    let session = j["session"].as_str().expect("the session id is reported");
    assert_eq!(
        session_containers(session),
        Vec::<String>::new(),
        "containers left behind"
    );
}

#[tiered::test(tier = 3, timeout = "15m")]
fn docker_unreachable_is_one_clear_error_and_tier_one_still_runs() {
    let started = Instant::now();
    let r = run_env(
        "services",
        &[],
        &[("DOCKER_HOST", "unix:///nonexistent.sock")],
    );
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Docker is not reachable at unix:///nonexistent.sock (from DOCKER_HOST)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: start Docker"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("SERVICE redis    NOT AVAILABLE (same reason as above)"),
        "the reason is said once, not per service:\n{}",
        r.stderr
    );
    assert_eq!(r.test("unit_runs_without_services")["outcome"], "passed");
    let t = r.test("stores_a_row");
    assert_eq!(t["outcome"], "error");
    assert!(
        t["message"]
            .as_str()
            .unwrap()
            .contains("PostgreSQL is not available in this session"),
        "{t}"
    );
    // A test that declared `needs` without a fixture is an error too.
    assert_eq!(
        r.test("child_processes_see_the_endpoints")["outcome"],
        "error"
    );
    assert_eq!(r.json()["services"][0]["ok"], false);
    assert_valid_junit(&r.junit_path());
    assert!(r.junit().contains("<error"));
    // Declaring Docker unreachable takes seconds (the build before it may
    // wait on other suites' builds, so the whole run is bounded loosely).
    let asked = r.json()["services"][0]["startup_ms"].as_f64().unwrap();
    assert!(asked < 10_000.0, "the Docker check took {asked} ms");
    assert!(took.as_secs() < 600, "took {took:?}");
}

#[tiered::test(tier = 3, timeout = "15m")]
fn a_harness_binary_alone_provisions_and_removes_its_own_services() {
    use std::process::Command;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--test", "suite", "--", "stores_a_row"])
        .current_dir(crate::support::fixture("services"))
        .env("CARGO_TARGET_DIR", crate::support::fixtures_target())
        .env_remove("TIERED_SESSION")
        .env_remove("TIERED_POSTGRES_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed; 0 failed"), "{stdout}");
    assert!(stderr.contains("SERVICE postgres ready in"), "{stderr}");
    assert!(
        !stderr.contains("SERVICE redis"),
        "only the selected test's services:\n{stderr}"
    );
    let session = stderr
        .lines()
        .find_map(|l| l.split("container(s) of session ").nth(1))
        .expect("the harness says which session it removed");
    assert!(stderr.contains("removed 1 container(s)"), "{stderr}");
    assert_eq!(
        crate::support::session_containers(session.trim()),
        Vec::<String>::new()
    );
}

#[tiered::test(tier = 3, timeout = "15m")]
fn a_missing_image_is_named_with_what_to_do_and_the_rest_runs() {
    let r = run_env(
        "services",
        &[],
        &[("TIERED_REDIS_IMAGE", "does-not-exist/redis:1")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    let redis = j["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "redis")
        .unwrap()
        .clone();
    assert_eq!(redis["ok"], false);
    let e = redis["error"].as_str().unwrap();
    assert!(
        e.contains("image `does-not-exist/redis:1` is not present locally"),
        "{e}"
    );
    assert!(
        e.contains("`[services.redis] image` in tiered.toml or TIERED_REDIS_IMAGE"),
        "{e}"
    );
    assert!(
        redis["startup_ms"].as_f64().unwrap() < 30_000.0,
        "said within seconds: {redis}"
    );
    assert_eq!(r.test("caches")["outcome"], "error");
    assert_eq!(r.test("stores_a_row")["outcome"], "passed");
    let session = j["session"].as_str().unwrap();
    assert_eq!(session_containers(session), Vec::<String>::new());
}
