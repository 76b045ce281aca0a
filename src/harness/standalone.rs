//! A harness binary run alone — by `cargo test`, nextest or by hand.
//!
//! [`run`] turns the registered [`TestDef`]s into libtest-mimic trials, so
//! every libtest flag keeps working, and adds `--tier`. Tier-1 tests run
//! in-process on libtest-mimic's thread pool. Tier-2 and tier-3 tests each
//! run in a child process of the same binary (nextest's model): their
//! stdout and stderr are captured whole, a crash or `exit()` kills only that
//! test, and a timeout can really stop them. The binary provisions the
//! services its selected tests need ([`super::own_services`]), builds their
//! session values once, and keeps `serial`, `exclusive` and the Neo4j turn
//! with locks.
//!
//! Under `cargo tiered` none of this runs: the binary is a worker
//! ([`crate::worker`]) and `cargo tiered` schedules, captures and stops.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

use super::{default_timeout_ms, own_services, watchdog};
use crate::execute::{error_record, execute, install_panic_hook, runtime, timeout_message};
use crate::protocol::CAPTURE_LIMIT;
use crate::protocol::{
    Attempt, Outcome, TestRecord, CHILD_OUT_ENV, CHILD_TEST_ENV, LIST_OUT_ENV, RETRIES_ENV,
    SESSION_INIT_ENV,
};
use crate::registry::{self, TestDef};

/// Runs the registered tests as libtest would, plus `--tier`.
pub(crate) fn run() -> ExitCode {
    let (tiers, rest) = match super::split_tier_args(std::env::args()) {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let args = Arguments::from_iter(rest);
    install_panic_hook(args.nocapture);
    let nocapture = args.nocapture;
    let defs: Vec<&'static TestDef> = registry::all()
        .into_iter()
        .filter(|d| tiers.contains(d.tier()))
        .collect();
    let selected = |d: &TestDef| {
        let probe = Trial::test(d.full_name(), || Ok(()))
            .with_kind(format!("tier{}", d.tier))
            .with_ignored_flag(d.ignored);
        !args.is_filtered_out(&probe) && !args.is_ignored(&probe)
    };
    let needed: Vec<&'static str> = defs
        .iter()
        .filter(|d| d.tier().uses_services() && selected(d))
        .flat_map(|d| d.services())
        .collect();
    // Listing runs nothing: no services for it.
    let needed = if args.list { Vec::new() } else { needed };
    let session = match own_services::start(&needed) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if !args.list {
        let wanted: Vec<&'static TestDef> = defs
            .iter()
            .copied()
            .filter(|d| d.tier().uses_services() && selected(d))
            .collect();
        build_session_values(&wanted);
    }
    let default_retries = match default_retries() {
        Ok(n) => n,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let trials = defs
        .into_iter()
        .map(|def| {
            Trial::test(def.full_name(), move || {
                let retries = def.retries.unwrap_or(default_retries);
                let mut failed = Vec::new();
                let _turn = Turn::take(def);
                let record = loop {
                    let mut record = if def.tier().uses_services() {
                        run_in_child(def, nocapture)
                    } else if def.timeout_ms.is_none() {
                        let _watched = watchdog::watch(def, default_timeout_ms(1));
                        execute(def)
                    } else {
                        execute(def)
                    };
                    let rerun = matches!(record.outcome, Outcome::Failed | Outcome::Error)
                        && failed.len() < retries as usize;
                    if rerun {
                        failed.push(Attempt::of(&record));
                        continue;
                    }
                    record.retries = failed;
                    break record;
                };
                verdict(&record)
            })
            .with_kind(format!("tier{}", def.tier))
            .with_ignored_flag(def.ignored)
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    #[cfg(feature = "postgres")]
    crate::services::postgres::handoff::finish(runtime(), Duration::from_secs(10));
    own_services::finish(session);
    conclusion.exit_code()
}

/// What a test holds while it runs so that `exclusive`, `serial` and the
/// Neo4j turn hold on libtest-mimic's threads: every test a shared lock
/// that an `exclusive` one takes alone, and a test of a group its group's.
struct Turn {
    _shared: Option<std::sync::RwLockReadGuard<'static, ()>>,
    _alone: Option<std::sync::RwLockWriteGuard<'static, ()>>,
    _group: Option<std::sync::MutexGuard<'static, ()>>,
}

static EVERYONE: RwLock<()> = RwLock::new(());

impl Turn {
    fn take(def: &TestDef) -> Turn {
        let (shared, alone) = if def.exclusive {
            (
                None,
                Some(EVERYONE.write().unwrap_or_else(|p| p.into_inner())),
            )
        } else {
            (
                Some(EVERYONE.read().unwrap_or_else(|p| p.into_inner())),
                None,
            )
        };
        let group =
            group_of(def).map(|name| group_lock(name).lock().unwrap_or_else(|p| p.into_inner()));
        Turn {
            _shared: shared,
            _alone: alone,
            _group: group,
        }
    }
}

/// The group a test takes turns in: its `serial` group, else `neo4j` for a
/// test of the graph (a graph has no cheap per-test copy).
pub(crate) fn group_of(def: &TestDef) -> Option<&'static str> {
    def.serial.or_else(|| {
        (def.tier().uses_services() && def.services().contains(&"neo4j")).then_some("neo4j")
    })
}

fn group_lock(name: &'static str) -> &'static Mutex<()> {
    static GROUPS: OnceLock<Mutex<HashMap<&'static str, &'static Mutex<()>>>> = OnceLock::new();
    let mut groups = GROUPS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    groups
        .entry(name)
        .or_insert_with(|| Box::leak(Box::new(Mutex::new(()))))
}

/// Reruns after a failure for tests that set no `retries`: `TIERED_RETRIES`,
/// else 0.
fn default_retries() -> Result<u32, String> {
    match std::env::var(RETRIES_ENV) {
        Err(_) => Ok(0),
        Ok(v) => v.trim().parse().map_err(|_| {
            format!("{RETRIES_ENV}={v:?} is not a count of reruns; write e.g. {RETRIES_ENV}=2")
        }),
    }
}

/// Session values built before the tests, as environment for test processes.
static SESSION_VALUES: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Builds every session value the selected tests of tiers 2–3 need, each
/// once, in a child process that sees the session's services.
fn build_session_values(defs: &[&'static TestDef]) {
    let mut keys: Vec<String> = defs.iter().flat_map(|d| d.session_keys()).collect();
    keys.sort();
    keys.dedup();
    let mut env = Vec::new();
    for key in keys {
        let var = crate::fixture::session_env_key(&key);
        let out = child_out_path();
        let status = std::env::current_exe().and_then(|exe| {
            Command::new(exe)
                .envs(own_services::env().iter().map(|(k, v)| (k, v)))
                .env(SESSION_INIT_ENV, &key)
                .env(CHILD_OUT_ENV, &out)
                .env_remove(LIST_OUT_ENV)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
        });
        let written = std::fs::read_to_string(&out).ok();
        let _ = std::fs::remove_file(&out);
        match (status, written) {
            (Ok(s), Some(json)) if s.success() => env.push((var, json)),
            (Ok(_), Some(err)) => env.push((format!("{var}_ERROR"), err)),
            (status, _) => env.push((
                format!("{var}_ERROR"),
                format!("building the session value {key} failed ({status:?})"),
            )),
        }
    }
    let _ = SESSION_VALUES.set(env);
}

fn verdict(record: &TestRecord) -> Result<(), Failed> {
    match record.outcome {
        Outcome::Passed => Ok(()),
        _ => {
            let mut msg = record.message.clone().unwrap_or_default();
            if record.outcome == Outcome::Error {
                msg = format!("error (not executed): {msg}");
            }
            for (label, text) in [("stdout", &record.stdout), ("stderr", &record.stderr)] {
                if let Some(text) = text.as_deref().filter(|t| !t.is_empty()) {
                    msg.push_str(&format!("\n---- {label} ----\n{text}"));
                }
            }
            Err(msg.into())
        }
    }
}

fn child_out_path() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "tiered-{}-{}.json",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Reads a stream to its end, keeping at most [`CAPTURE_LIMIT`] bytes.
fn capture(mut stream: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut dropped = 0usize;
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = CAPTURE_LIMIT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                    dropped += n.saturating_sub(room);
                }
            }
        }
        let mut text = String::from_utf8_lossy(&kept).into_owned();
        if dropped > 0 {
            text.push_str(&format!(
                "\n[tiered: output truncated, {dropped} more bytes]"
            ));
        }
        text
    })
}

/// Why a service the test needs is not available, if one is not.
fn unavailable_service(def: &TestDef) -> Option<String> {
    let given = own_services::env();
    crate::execute::unavailable_service(def, |key| {
        given
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(key).ok())
    })
}

/// A PostgreSQL database claimed for the test about to start in a child
/// process, and how long the claim took (see `postgres::handoff`).
#[cfg(feature = "postgres")]
fn handed_database(def: &TestDef) -> Option<(String, Duration)> {
    if !def.wants(registry::POSTGRES_DATABASE) {
        return None;
    }
    let key = crate::services::ServiceKind::Postgres.url_env();
    let admin = own_services::env()
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var(key).ok())?;
    crate::services::postgres::handoff::claim(runtime(), &admin)
}

#[cfg(not(feature = "postgres"))]
fn handed_database(_def: &TestDef) -> Option<(String, Duration)> {
    None
}

#[cfg(feature = "postgres")]
fn release_database(database: String) {
    crate::services::postgres::handoff::release(database);
}

#[cfg(not(feature = "postgres"))]
fn release_database(_database: String) {}

/// Runs one test in a child process of this binary.
fn run_in_child(def: &'static TestDef, nocapture: bool) -> TestRecord {
    let start = Instant::now();
    if let Some(why) = unavailable_service(def) {
        return error_record(def, why, 0.0);
    }
    let out = child_out_path();
    let name = def.full_name();
    let error =
        |message: String| error_record(def, message, start.elapsed().as_secs_f64() * 1000.0);
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return error(format!("cannot find this test binary to re-run it: {e}")),
    };
    let io = || {
        if nocapture {
            Stdio::inherit()
        } else {
            Stdio::piped()
        }
    };
    let handed = handed_database(def);
    let mut command = Command::new(exe);
    #[cfg(feature = "postgres")]
    match &handed {
        Some((db, _)) => command.env(crate::services::postgres::handoff::HANDED_ENV, db),
        None => command.env_remove(crate::services::postgres::handoff::HANDED_ENV),
    };
    let spawned = command
        .envs(own_services::env().iter().map(|(k, v)| (k, v)))
        .envs(
            SESSION_VALUES
                .get()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k, v)),
        )
        .env(CHILD_TEST_ENV, &name)
        .env(CHILD_OUT_ENV, &out)
        .env_remove(LIST_OUT_ENV)
        .stdin(Stdio::null())
        .stdout(io())
        .stderr(io())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            if let Some((database, _)) = handed {
                release_database(database);
            }
            return error(format!("cannot start the test process: {e}"));
        }
    };
    super::children::started(child.id());
    let stdout = child.stdout.take().map(capture);
    let stderr = child.stderr.take().map(capture);
    let limit_ms = def.timeout_ms.unwrap_or(default_timeout_ms(def.tier));
    let deadline = Some(start + Duration::from_millis(limit_ms));
    let mut pause = Duration::from_micros(200);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(timeout_message(limit_ms));
            }
            Ok(None) => {
                thread::sleep(pause);
                // Polled often: the wait is part of every test's wall time.
                pause = (pause * 2).min(Duration::from_millis(2));
            }
            Err(e) => break Err(format!("lost track of the test process: {e}")),
        }
    };
    super::children::ended(child.id());
    let stdout = stdout.and_then(|h| h.join().ok());
    let stderr = stderr.and_then(|h| h.join().ok());
    let reported = std::fs::read(&out)
        .ok()
        .and_then(|b| serde_json::from_slice::<TestRecord>(&b).ok());
    let _ = std::fs::remove_file(&out);
    let mut record = match (status, reported) {
        (Err(timeout), _) => {
            let mut r = error(timeout);
            r.outcome = Outcome::Failed;
            r
        }
        (Ok(_), Some(r)) => r,
        (Ok(status), None) => {
            let mut r = error(format!(
                "the test process ended ({status}) before reporting a result"
            ));
            r.outcome = Outcome::Failed;
            r
        }
    };
    record.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
    if let Some((database, claimed)) = handed {
        // The claim is part of the test's wait for its database.
        let ms = claimed.as_secs_f64() * 1000.0;
        record.setup_ms = Some(record.setup_ms.unwrap_or(0.0) + ms);
        if record.outcome == Outcome::Passed {
            release_database(database);
        } else {
            let m = record.message.get_or_insert_with(String::new);
            if !m.is_empty() {
                m.push('\n');
            }
            m.push_str(&format!(
                "kept the test database `{database}` for inspection"
            ));
        }
    }
    record.stdout = stdout;
    record.stderr = stderr;
    let secrets = own_services::secrets();
    if !secrets.is_empty() {
        for text in [&mut record.message, &mut record.stdout, &mut record.stderr] {
            if let Some(t) = text.as_mut() {
                *t = crate::services::redact(t, secrets);
            }
        }
    }
    record
}
