use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{cargo_tiered, fixture, fixtures_target, repo, run_env, session_containers};

/// A command that sees none of this run's own session (this suite runs
/// under `cargo tiered`, which hands its tests `TIERED_*` variables): the
/// process under test must find the kept services by itself.
fn outside_session(program: &str) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TIERED_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn with_path(cmd: &mut Command) -> &mut Command {
    let bin_dir = cargo_tiered().parent().unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", bin_dir.display()))
}

fn plain(args: &[&str], state: &Path) -> crate::support::Run {
    crate::support::run_plain_env(
        "services",
        args,
        &[("TIERED_STATE_DIR", state.to_str().unwrap())],
    )
}

fn kept_session(state: &Path) -> String {
    let text = std::fs::read_to_string(state.join("services.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["session"].as_str().unwrap().to_string()
}

fn kept_container(state: &Path, service: &str) -> String {
    let text = std::fs::read_to_string(state.join("services.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == service)
        .map(|s| s["container"].as_str().unwrap().to_string())
        .unwrap()
}

/// The inner loop: `services up`, runs that reuse them (cargo tiered, the
/// harness binary under plain `cargo test`, and nextest, one process per
/// test), a dead one replaced, `status`, and `down` leaving nothing.
#[tiered::test(tier = 3, timeout = "15m")]
fn kept_services_are_reused_replaced_when_dead_and_removed_by_down() {
    let state = tempfile::tempdir().unwrap();
    let state_env = [("TIERED_STATE_DIR", state.path().to_str().unwrap())];

    let up = plain(&["services", "up"], state.path());
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert!(
        up.stderr.contains("kept 2 of 2 service(s)"),
        "{}",
        up.stderr
    );
    let file = state.path().join("services.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the state holds the password");
    }
    let session = kept_session(state.path());
    assert_eq!(session_containers(&session).len(), 2);

    // A cargo tiered run reuses both: no startup, still isolated slices.
    let r = run_env("services", &["--", "--skip", "leaks"], &state_env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("reused, answered in"), "{}", r.stderr);
    for s in r.json()["services"].as_array().unwrap() {
        assert_eq!(s["reused"], true, "{s}");
        assert_eq!(s["ok"], true, "{s}");
    }
    assert_eq!(session_containers(&session).len(), 2, "nothing removed");

    // The harness binary under plain `cargo test` finds them too.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = outside_session(&cargo)
        .args(["test", "--test", "suite", "--", "--skip", "leaks"])
        .current_dir(fixture("services"))
        .env("CARGO_TARGET_DIR", fixtures_target())
        .envs(state_env)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("reused, answered in"), "{stderr}");
    assert!(!stderr.contains("ready in"), "nothing started: {stderr}");

    // nextest runs one process per test; each connects to the kept ones.
    let out = outside_session(&cargo)
        .args([
            "nextest",
            "run",
            "--no-fail-fast",
            "--success-output",
            "immediate",
            "-E",
            "not test(leaks)",
        ])
        .current_dir(fixture("services"))
        .env("CARGO_TARGET_DIR", fixtures_target())
        .envs(state_env)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains("4 passed"), "{all}");
    assert!(all.contains("reused, answered in"), "{all}");
    assert!(
        !all.contains("ready in"),
        "no test process started one: {all}"
    );
    assert_eq!(session_containers(&session).len(), 2);

    // A kept service that died is detected and replaced, with a message.
    let redis = kept_container(state.path(), "redis");
    let killed = Command::new("docker")
        .args(["kill", &redis])
        .output()
        .unwrap();
    assert!(killed.status.success());
    let st = plain(&["services", "status"], state.path());
    assert_eq!(st.code, 3, "{}\n{}", st.stdout, st.stderr);
    assert!(st.stdout.contains("UNHEALTHY"), "{}", st.stdout);
    assert!(st.stdout.contains("exited with code 137"), "{}", st.stdout);
    let r = run_env("services", &["--", "--skip", "leaks"], &state_env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "the kept container {} is not running (exited with code 137); starting a replacement",
            &redis[..12]
        )),
        "{}",
        r.stderr
    );
    assert_ne!(kept_container(state.path(), "redis"), redis);
    let st = plain(&["services", "status"], state.path());
    assert_eq!(st.code, 0, "{}\n{}", st.stdout, st.stderr);
    assert_eq!(st.stdout.matches("healthy: ").count(), 2, "{}", st.stdout);
    assert!(st.stdout.contains("127.0.0.1") || st.stdout.contains("PORT"));

    // `env` prints what a nextest setup script appends to NEXTEST_ENV.
    let env = plain(&["services", "env"], state.path());
    assert_eq!(env.code, 0, "{}", env.stderr);
    assert!(env.stdout.contains(&format!("TIERED_SESSION={session}\n")));
    assert!(env.stdout.contains("TIERED_POSTGRES_URL=postgres://"));
    assert!(env.stdout.contains("TIERED_REDIS_URL=redis://"));

    let down = plain(&["services", "down"], state.path());
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert!(
        down.stderr.contains("removed 2 kept container(s)"),
        "{}",
        down.stderr
    );
    assert!(session_containers(&session).is_empty());
    assert!(!file.exists());
    let again = plain(&["services", "down"], state.path());
    assert!(
        again.stderr.contains("no services are kept"),
        "{}",
        again.stderr
    );
}

/// The documented nextest recipe: a setup script runs `services up` and
/// appends `services env` to NEXTEST_ENV; every test process connects to
/// those services and starts none of its own.
#[tiered::test(tier = 3, timeout = "15m")]
fn the_nextest_setup_script_recipe_shares_one_set_of_services() {
    let state = tempfile::tempdir().unwrap();
    let config = state.path().join("nextest.toml");
    std::fs::write(
        &config,
        r#"experimental = ["setup-scripts"]

[scripts.setup.tiered-services]
command = ["sh", "-c", "cargo tiered services up --no-progress && cargo tiered services env >> \"$NEXTEST_ENV\""]

[[profile.default.scripts]]
filter = "all()"
setup = "tiered-services"
"#,
    )
    .unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = with_path(&mut outside_session(&cargo))
        .args([
            "nextest",
            "run",
            "--no-fail-fast",
            "--success-output",
            "immediate",
        ])
        .arg("--config-file")
        .arg(&config)
        .args(["-E", "not test(leaks)"])
        .current_dir(fixture("services"))
        .env("CARGO_TARGET_DIR", fixtures_target())
        .env("TIERED_STATE_DIR", state.path())
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let session = state
        .path()
        .join("services.json")
        .exists()
        .then(|| kept_session(state.path()));
    let down = plain(&["services", "down"], state.path());
    assert!(out.status.success(), "{all}");
    assert!(all.contains("4 passed"), "{all}");
    // Started once, by the setup script; the test processes start none.
    assert_eq!(all.matches("SERVICE redis    ready in").count(), 1, "{all}");
    assert_eq!(all.matches("SERVICE postgres ready in").count(), 1, "{all}");
    let session = session.expect("the setup script kept the services");
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert!(session_containers(&session).is_empty());
}

fn doctor(envs: &[(&str, &str)]) -> (i32, String, Duration) {
    let start = Instant::now();
    let out = Command::new(cargo_tiered())
        .args(["tiered", "doctor", "--manifest-path"])
        .arg(repo().join("Cargo.toml"))
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        start.elapsed(),
    )
}

/// `doctor` checks Docker, the config, each image and each service with a
/// real query against its startup SLA; exit 0 only when all pass.
#[tiered::test(tier = 3, timeout = "10m")]
fn doctor_passes_here_and_names_the_fix_for_each_failure() {
    let (code, out, _) = doctor(&[]);
    assert_eq!(code, 0, "{out}");
    for line in [
        "  ok   docker ",
        "  ok   config ",
        "  ok   image postgres ",
        "  ok   image chroma ",
        "  ok   postgres        answered in ",
        "  ok   redis           answered in ",
        "  ok   chroma          answered in ",
        "  ok   neo4j           answered in ",
        "startup SLA",
        "doctor: 10 check(s), 0 failed",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }

    // Docker unreachable: one failure, its fix, exit 3, quickly.
    let (code, out, took) = doctor(&[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains(" FAIL  docker "), "{out}");
    assert!(out.contains("fix: start Docker"), "{out}");
    assert!(took < Duration::from_secs(30), "took {took:?}");

    // An image that is not there is named, with how to provide it.
    let (code, out, took) = doctor(&[("TIERED_REDIS_IMAGE", "tiered-local/absent:1")]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains(" FAIL  image redis     tiered-local/absent:1 is not present locally"),
        "{out}"
    );
    assert!(out.contains("TIERED_REDIS_IMAGE"), "{out}");
    assert!(
        out.contains("  ok   postgres "),
        "the others still pass: {out}"
    );
    assert!(took < Duration::from_secs(90), "took {took:?}");
}

/// Spinners and the test bar are drawn on a terminal (seen in tmux) and
/// never in a pipe or a CI log.
#[tiered::test(tier = 3, timeout = "10m")]
fn progress_is_drawn_on_a_terminal_and_never_in_a_pipe() {
    let ws = fixture("progress");
    let name = format!("tiered-progress-{}", std::process::id());
    let command = format!(
        "env -u CI CARGO_TARGET_DIR='{}' '{}' tiered --manifest-path '{}'; echo EXIT=$?; sleep 600",
        fixtures_target().display(),
        cargo_tiered().display(),
        ws.join("Cargo.toml").display()
    );
    let started = Command::new("tmux")
        .args(["new-session", "-d", "-s", &name, "-x", "160", "-y", "50"])
        .arg(command)
        .status()
        .expect("tmux is installed (scripts/test installs it)");
    assert!(started.success());
    let mut screens = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &name])
            .output()
            .unwrap();
        let screen = String::from_utf8_lossy(&out.stdout).into_owned();
        let done = screen.contains("EXIT=");
        screens.push(screen);
        if done || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &name])
        .status();
    let last = screens.last().unwrap().clone();
    assert!(last.contains("EXIT=0"), "{last}");
    assert!(
        screens
            .iter()
            .any(|s| s.contains("redis    starting tiered-local/redis:7.0")),
        "a spinner line while Redis starts:\n{}",
        screens.join("\n-----\n")
    );
    assert!(
        screens
            .iter()
            .any(|s| s.contains("tests [") && s.contains("/3 — ") && s.contains(" passed, ")),
        "a test bar with done/total and counts:\n{}",
        screens.join("\n-----\n")
    );
    assert!(!last.contains("tests ["), "the bar is cleared at the end");
    assert!(last.contains("ready in"), "the service line stays");

    // In a pipe: plain lines, no escape sequences, no bar.
    let piped = crate::support::run_plain_env("progress", &[], &[("CI", "")]);
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert!(!piped.stderr.contains('\x1b'), "{:?}", piped.stderr);
    assert!(!piped.stderr.contains("tests ["));
    assert!(piped.stderr.contains("SERVICE redis    ready in"));
}
