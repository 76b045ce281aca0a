//! Signals mid-run: what finished is reported, the reports are written, no
//! container is left; after SIGKILL, the next run or `services down` finds
//! the dead session's containers by their owner labels and removes them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    assert_valid_junit, cargo_tiered, fixture, fixtures_target, labelled, run_plain,
};

/// `cargo tiered --tier 2` on the `signals` fixture, one test at a time,
/// its reports and the marker file in `dir`.
fn start(dir: &Path) -> Child {
    let ws = fixture("signals");
    Command::new(cargo_tiered())
        .arg("tiered")
        .arg("--manifest-path")
        .arg(ws.join("Cargo.toml"))
        .args(["--tier", "2", "--json"])
        .arg(dir.join("report.json"))
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .args(["--", "--test-threads", "1"])
        .current_dir(&ws)
        .env("CARGO_TARGET_DIR", fixtures_target())
        .env("FX_MARKER", dir.join("marker"))
        .env_remove("TIERED_CONFIG")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo-tiered starts")
}

/// Waits until the holding test wrote its process group; returns it.
fn wait_for_marker(dir: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(pgrp) = std::fs::read_to_string(dir.join("marker")) {
            if !pgrp.trim().is_empty() {
                return pgrp.trim().to_string();
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("cargo tiered ended ({status}) before the holding test started");
        }
        assert!(Instant::now() < deadline, "the holding test never started");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn kill(signal: &str, target: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(target)
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {target}");
}

/// Waits at most a minute for the process to end; its code and stderr.
fn wait_bounded(mut child: Child) -> (i32, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            let out = child.wait_with_output().unwrap();
            return (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cargo tiered did not end within a minute of the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stopped_by(signal: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start(dir.path());
    wait_for_marker(dir.path(), &mut child);
    let pid = child.id().to_string();
    assert!(
        !labelled("dev.tiered.owner-pid", &pid).is_empty(),
        "the run's containers are up"
    );
    kill(signal, &pid);
    let (got, stderr) = wait_bounded(child);
    assert_eq!(got, code, "exit code after {signal}:\n{stderr}");
    assert!(
        stderr.contains(&format!("interrupted by {signal}")),
        "{stderr}"
    );
    // The reports are written, with what finished and what did not.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["interrupted"], signal);
    assert_eq!(json["verdict"], "FAIL");
    let test = |name: &str| {
        json["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in the report"))
    };
    assert_eq!(test("a_passes")["outcome"], "passed");
    assert_eq!(test("a_hangs_past_its_timeout")["outcome"], "failed");
    let held = test("b_holds_the_run");
    assert_eq!(held["outcome"], "error");
    assert!(
        held["message"]
            .as_str()
            .unwrap()
            .contains(&format!("interrupted by {signal}")),
        "{held}"
    );
    assert_ne!(test("c_never_starts")["outcome"], "passed");
    assert_valid_junit(&dir.path().join("junit.xml"));
    // Nothing is left: no container of the session, and no test process.
    let session = json["session"].as_str().unwrap();
    assert_eq!(
        crate::support::session_containers(session),
        Vec::<String>::new()
    );
    assert!(labelled("dev.tiered.owner-pid", &pid).is_empty());
}

#[tiered::test(tier = 3, timeout = "10m")]
fn sigint_mid_run_reports_what_finished_removes_the_containers_and_exits_130() {
    stopped_by("SIGINT", 130);
}

#[tiered::test(tier = 3, timeout = "10m")]
fn sigterm_mid_run_is_handled_like_sigint_and_exits_143() {
    stopped_by("SIGTERM", 143);
}

/// SIGKILL cannot be handled: the session's containers stay until the next
/// run (or `services down`) finds that their owner is gone.
fn killed(dir: &Path) -> (String, Vec<String>) {
    let mut child = start(dir);
    let pgrp = wait_for_marker(dir, &mut child);
    let pid = child.id().to_string();
    let left = labelled("dev.tiered.owner-pid", &pid);
    assert!(!left.is_empty(), "the run's containers are up");
    kill("KILL", &pid);
    // The test binary runs in a process group of its own: end it too, as
    // a CI runner killing the job would.
    kill("KILL", &format!("-{pgrp}"));
    let _ = child.wait();
    assert_eq!(
        labelled("dev.tiered.owner-pid", &pid),
        left,
        "SIGKILL leaves the containers"
    );
    (pid, left)
}

/// Runs `reap` (which must remove what a killed run left) and checks that
/// they are gone and that it said so — unless another test's run, running
/// beside this one, reaped them first (every run that starts services
/// reaps): then only their absence is checked.
fn reaped_by(left: &[String], pid: &str, reap: impl FnOnce() -> crate::support::Run) {
    assert_eq!(labelled("dev.tiered.owner-pid", pid), left);
    let r = reap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(labelled("dev.tiered.owner-pid", pid).is_empty());
    let said = format!(
        "removed {} container(s) left by 1 dead session(s)",
        left.len()
    );
    if r.stderr.contains(&said) {
        assert!(r.stderr.contains(pid), "{}", r.stderr);
    } else {
        eprintln!("another run reaped the containers of {pid} first");
    }
}

#[tiered::test(tier = 3, timeout = "15m")]
fn after_sigkill_services_down_and_the_next_run_remove_the_dead_sessions_containers() {
    // `services down` finds them.
    let dir = tempfile::tempdir().unwrap();
    let (pid, left) = killed(dir.path());
    reaped_by(&left, &pid, || run_plain("signals", &["services", "down"]));
    // So does the next run that starts services.
    let dir = tempfile::tempdir().unwrap();
    let (pid, left) = killed(dir.path());
    reaped_by(&left, &pid, || {
        run_plain("signals", &["--tier", "2", "--", "a_passes"])
    });
}

#[tiered::test(tier = 3, timeout = "10m")]
fn two_sessions_at_once_on_one_workspace_do_not_interfere() {
    let listed = run_plain("signals", &["list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let ws = fixture("signals");
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let children: Vec<Child> = dirs
        .iter()
        .map(|d| {
            Command::new(cargo_tiered())
                .arg("tiered")
                .arg("--manifest-path")
                .arg(ws.join("Cargo.toml"))
                .args(["--tier", "2", "--json"])
                .arg(d.path().join("report.json"))
                .args(["--", "a_passes"])
                .current_dir(&ws)
                .env("CARGO_TARGET_DIR", fixtures_target())
                .env_remove("TIERED_CONFIG")
                .env_remove("GITHUB_STEP_SUMMARY")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("cargo-tiered starts")
        })
        .collect();
    let mut sessions = Vec::new();
    for (child, dir) in children.into_iter().zip(&dirs) {
        let (code, stderr) = wait_bounded(child);
        assert_eq!(code, 0, "{stderr}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
                .unwrap();
        assert_eq!(json["verdict"], "PASS");
        assert_eq!(json["totals"]["passed"], 1, "{json}");
        sessions.push(json["session"].as_str().unwrap().to_string());
    }
    assert_ne!(sessions[0], sessions[1], "each run has its own session");
    for s in &sessions {
        assert_eq!(crate::support::session_containers(s), Vec::<String>::new());
    }
}

#[tiered::test(tier = 3, timeout = "10m")]
fn retries_report_a_pass_after_a_failure_as_flaky_and_a_test_that_always_fails_still_fails() {
    let state = tempfile::tempdir().unwrap();
    let r = crate::support::run_env(
        "retries",
        &["--retries", "1"],
        &[("FX_STATE", state.path().to_str().unwrap())],
    );
    assert_eq!(r.code, 1, "always_fails fails:\n{}", r.stderr);
    // Passed on its second run: flaky, with the failed run kept.
    let flips = r.test("fails_once_then_passes");
    assert_eq!(flips["outcome"], "passed");
    assert_eq!(flips["flaky"], true);
    let first = &flips["retries"][0];
    assert_eq!(first["outcome"], "failed");
    assert!(first["message"]
        .as_str()
        .unwrap()
        .contains("the first run fails (run 1)"));
    // Its own retries = 2 is kept: three runs, all failed.
    let broken = r.test("always_fails");
    assert_eq!(broken["outcome"], "failed");
    assert_eq!(broken["retries"].as_array().unwrap().len(), 2);
    assert!(broken.get("flaky").is_none(), "{broken}");
    // No retries of its own: --retries 1 gives it one.
    assert_eq!(r.test("fails_once_without_its_own_retries")["flaky"], true);
    // A child process per run in tier 2, its output kept per run.
    let child = r.test("in_a_child_process_fails_once");
    assert_eq!(child["flaky"], true);
    assert!(child["retries"][0]["stderr"]
        .as_str()
        .unwrap()
        .contains("child run 1"));
    // Flaky tests count as passed; the terminal names them.
    assert_eq!(r.json()["totals"]["passed"], 3);
    assert!(
        r.stderr.contains("FLAKY (3): passed only after failing"),
        "{}",
        r.stderr
    );
    // JUnit as Maven Surefire writes it, valid against junit-10.xsd.
    let junit = r.junit();
    assert_eq!(junit.matches("<flakyFailure ").count(), 3, "{junit}");
    assert_eq!(junit.matches("<rerunFailure ").count(), 2, "{junit}");
    assert!(junit.contains("<system-err>child run 1"), "{junit}");
    assert_valid_junit(&r.junit_path());

    // Without --retries the test without its own fails on its first run.
    let again = crate::support::run("retries", &["--tier", "1", "--", "fails_once_without"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert_eq!(
        again.test("fails_once_without_its_own_retries")["outcome"],
        "failed"
    );
}

#[tiered::test(tier = 3, timeout = "10m")]
fn a_service_killed_mid_session_is_named_in_the_failures_and_fails_services_operational() {
    let listed = run_plain("faults", &["list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let dir = tempfile::tempdir().unwrap();
    let ws = fixture("faults");
    let mut child = Command::new(cargo_tiered())
        .arg("tiered")
        .arg("--manifest-path")
        .arg(ws.join("Cargo.toml"))
        .args(["--gate", "integration", "--json"])
        .arg(dir.path().join("report.json"))
        .arg("--junit")
        .arg(dir.path().join("junit.xml"))
        .args(["--", "--test-threads", "1"])
        .current_dir(&ws)
        .env("CARGO_TARGET_DIR", fixtures_target())
        .env("FX_MARKER", dir.path().join("marker"))
        .env("FX_KILLED", dir.path().join("killed"))
        .env_remove("TIERED_CONFIG")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo-tiered starts");
    wait_for_marker(dir.path(), &mut child);
    let pid = child.id().to_string();
    let redis = labelled("dev.tiered.owner-pid", &pid);
    assert_eq!(redis.len(), 1, "one Redis container");
    let killed = Command::new("docker")
        .args(["kill", &redis[0]])
        .output()
        .unwrap();
    assert!(killed.status.success());
    std::fs::write(dir.path().join("killed"), "").unwrap();
    let (code, stderr) = wait_bounded(child);
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    // The service is reported down, with the container's exit status and
    // its last log lines.
    let service = &json["services"][0];
    assert_eq!(service["name"], "redis");
    assert_eq!(service["ok"], false);
    let error = service["error"].as_str().unwrap();
    assert!(
        error.contains("stopped during the run (exited with code 137)")
            && error.contains("its last log lines:"),
        "{error}"
    );
    assert!(
        stderr.contains("SERVICE redis    DOWN: the Redis container"),
        "{stderr}"
    );
    // The test that needed it fails naming it; the others are unaffected.
    let test = |name: &str| {
        json["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap()
    };
    let blamed = test("b_needs_the_dead_service");
    assert_ne!(blamed["outcome"], "passed");
    assert!(
        blamed["message"]
            .as_str()
            .unwrap()
            .contains("redis: the Redis container"),
        "{blamed}"
    );
    assert_eq!(test("unit_is_unaffected")["outcome"], "passed");
    // The integration gate's services_operational criterion fails.
    let gate = json["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "integration")
        .unwrap();
    let operational = gate["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "services_operational")
        .unwrap();
    assert_eq!(operational["passed"], false, "{gate}");
    assert_valid_junit(&dir.path().join("junit.xml"));
    assert!(labelled("dev.tiered.owner-pid", &pid).is_empty());
}

#[tiered::test(tier = 3, timeout = "10m")]
fn an_unwritable_junit_path_is_reported_at_the_end_and_the_json_is_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let r = run_plain(
        "passing",
        &[
            "--junit",
            "/proc/tiered-cannot-write-here/junit.xml",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(
        r.code, 3,
        "every test passed, a report was not written:\n{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("/proc/tiered-cannot-write-here/junit.xml"),
        "the path is named:\n{}",
        r.stderr
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["verdict"], "PASS", "the tests still ran");
}

#[tiered::test(tier = 3, timeout = "10m")]
fn a_hung_tier_one_test_is_stopped_at_the_configured_limit_and_the_rest_runs() {
    let r = crate::support::run_env(
        "signals",
        &["--tier", "1", "--", "--test-threads", "1"],
        &[("FX_HANG", "1")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let hung = r.test("b_hangs_without_a_timeout");
    assert_eq!(hung["outcome"], "failed");
    assert!(
        hung["message"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 2.00s (the worker process running it was killed"),
        "{hung}"
    );
    // Its worker was replaced: the tests of its binary after it ran.
    assert_eq!(r.test("a_finishes_first")["outcome"], "passed");
    assert_eq!(r.test("c_comes_after")["outcome"], "passed");
    // The other binaries ran.
    assert_eq!(r.test("unit_passes")["outcome"], "passed");
    assert_eq!(r.test("a_finishes")["outcome"], "passed");
    assert_valid_junit(&r.junit_path());
}

#[tiered::test(tier = 3, timeout = "10m")]
fn the_session_timeout_stops_the_run_and_writes_the_reports() {
    // Built first, so that the timeout is spent on the tests.
    let listed = run_plain("signals", &["list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let r = crate::support::run(
        "signals",
        &[
            "--tier",
            "2",
            "--timeout",
            "20s",
            "--",
            "--test-threads",
            "1",
        ],
    );
    assert_eq!(r.code, 1, "the verdict is FAIL:\n{}", r.stderr);
    assert!(
        r.stderr
            .contains("interrupted by the session timeout (--timeout)"),
        "{}",
        r.stderr
    );
    let j = r.json();
    assert_eq!(j["interrupted"], "timeout");
    // A test past its own timeout is stopped and the run goes on.
    let hung = r.test("a_hangs_past_its_timeout");
    assert_eq!(hung["outcome"], "failed");
    assert!(
        hung["message"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 1.00s"),
        "{hung}"
    );
    assert_eq!(r.test("a_passes")["outcome"], "passed");
    let held = r.test("b_holds_the_run");
    assert_eq!(held["outcome"], "error");
    assert!(held["message"]
        .as_str()
        .unwrap()
        .contains("interrupted by the session timeout (--timeout 20.00s)"));
    assert_valid_junit(&r.junit_path());
    let session = j["session"].as_str().unwrap();
    assert_eq!(
        crate::support::session_containers(session),
        Vec::<String>::new()
    );
}

#[tiered::test(tier = 3, timeout = "10m")]
fn an_aborting_test_fails_alone_naming_the_signal_and_the_rest_runs() {
    let r = crate::support::run_env(
        "signals",
        &["--tier", "1", "--", "--test-threads", "1"],
        &[("FX_CRASH", "1")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.json()["verdict"], "FAIL");
    let t = r.test("b_aborts_the_binary");
    assert_eq!(t["outcome"], "failed", "{t}");
    let m = t["message"].as_str().unwrap();
    assert!(
        m.contains("signal: 6 (SIGABRT)") && m.contains("before reporting a result"),
        "{m}"
    );
    // What ran before it and after it in its binary, and the other binary.
    for passed in ["a_finishes", "c_runs_after", "unit_passes"] {
        assert_eq!(r.test(passed)["outcome"], "passed", "{passed}");
    }
    assert!(
        r.stderr.contains(
            "CRASHED crash worker: signal: 6 (SIGABRT) while running b_aborts_the_binary"
        ),
        "{}",
        r.stderr
    );
    assert_valid_junit(&r.junit_path());
}

#[tiered::test(tier = 3, timeout = "10m")]
fn a_docker_daemon_that_accepts_and_never_answers_is_one_clear_error_within_seconds() {
    // A socket that accepts every connection and never says a word.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let listed = run_plain("signals", &["list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let started = Instant::now();
    let host = format!("unix://{}", socket.display());
    let r = crate::support::run_env(
        "signals",
        &["--tier", "2", "--", "a_passes"],
        &[("DOCKER_HOST", host.as_str())],
    );
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "Docker is not reachable at {host} (from DOCKER_HOST): no answer within 5s"
        )),
        "{}",
        r.stderr
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_eq!(r.test("a_passes")["outcome"], "error");
    assert_valid_junit(&r.junit_path());
}

#[tiered::test(tier = 3, timeout = "10m")]
fn a_container_that_dies_while_starting_is_a_clear_error_and_leaves_nothing() {
    let listed = run_plain("signals", &["list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    // The PostgreSQL image cannot run Redis's command: its container exits
    // at once, before it ever says it is ready.
    let started = Instant::now();
    let r = crate::support::run_env(
        "signals",
        &["--tier", "2", "--", "a_passes"],
        &[("TIERED_REDIS_IMAGE", "tiered-local/postgres:15")],
    );
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "SERVICE redis    NOT AVAILABLE (tiered-local/postgres:15): the container of image `tiered-local/postgres:15` did not start"
        ),
        "{}",
        r.stderr
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_eq!(r.test("a_passes")["outcome"], "error");
    let j = r.json();
    assert_eq!(j["services"][0]["ok"], false);
    let session = j["session"].as_str().unwrap();
    assert_eq!(
        crate::support::session_containers(session),
        Vec::<String>::new()
    );
}

/// The `suite` test binary of the `signals` fixture, built.
fn signals_binary() -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "test",
            "--test",
            "suite",
            "--no-run",
            "--message-format=json",
        ])
        .current_dir(fixture("signals"))
        .env("CARGO_TARGET_DIR", fixtures_target())
        .stderr(Stdio::null())
        .output()
        .expect("cargo runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|m| m["target"]["name"] == "suite" && m["executable"].is_string())
        .map(|m| m["executable"].as_str().unwrap().into())
        .expect("the suite binary was built")
}

/// Processes of process group `pgid` that are still running (not zombies).
fn running_in_group(pgid: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2) == Some(&pgid) && fields.first() != Some(&"Z") {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

#[tiered::test(tier = 3, timeout = "10m")]
fn sigterm_to_a_harness_binary_alone_removes_its_containers_and_its_test_processes() {
    let exe = signals_binary();
    let dir = tempfile::tempdir().unwrap();
    let ws = fixture("signals");
    let mut cmd = Command::new(&exe);
    cmd.args(["--tier", "2", "--exact", "b_holds_the_run"])
        .current_dir(&ws)
        .env("CARGO_MANIFEST_DIR", &ws)
        .env("FX_MARKER", dir.path().join("marker"))
        .env_remove("TIERED_SESSION")
        .env_remove("TIERED_REDIS_URL")
        .env_remove("TIERED_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Its own process group, as a shell gives a job: the marker names it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("the harness binary starts");
    let pgrp = wait_for_marker(dir.path(), &mut child);
    // The binary alone gets the signal, as from `timeout` or a CI cancel.
    kill("TERM", &child.id().to_string());
    let (code, stderr) = wait_bounded(child);
    assert_eq!(code, 143, "{stderr}");
    let session = stderr
        .lines()
        .find_map(|l| l.strip_prefix("services: removed 1 container(s) of session "))
        .unwrap_or_else(|| panic!("the binary says it removed its container:\n{stderr}"))
        .trim()
        .to_string();
    assert_eq!(
        crate::support::session_containers(&session),
        Vec::<String>::new()
    );
    // The test process it had started is gone too (killed, not orphaned).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !running_in_group(&pgrp).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(running_in_group(&pgrp), Vec::<String>::new(), "{stderr}");
}
