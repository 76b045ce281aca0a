//! Worker mode: a harness binary serving `cargo tiered`, many tests, one at
//! a time.
//!
//! `cargo tiered` starts a worker with `TIERED_WORKER` naming its Unix
//! socket ([`crate::protocol`]). The worker connects, says hello, and then
//! runs each [`ToWorker::Run`] batch in order, answering one
//! [`FromWorker::Finished`] per test, until [`ToWorker::Exit`] or the socket
//! closes. Each test's stdout and stderr are captured ([`capture`]); a
//! crash, an `abort` or a `process::exit` ends the worker, and `cargo
//! tiered` fails the test that was running (it knows which: the first of
//! the batch without an answer), reads its output from the capture files
//! and starts another worker. Timeouts are `cargo tiered`'s too: it kills
//! the worker at the limit, so every tier's tests can really be stopped.
//!
//! **What a worker's tests share** — the process: statics, `OnceLock`s and
//! lazily built globals, the environment (a variable a test sets stays set),
//! the one tokio runtime (a task a test spawned and did not wait for keeps
//! running), threads a test left behind (their output lands in a later
//! test's capture). **What is reset after each test** — the working
//! directory (back to the package's directory), the captured output, and
//! every fixture (torn down; its isolated slice is the test's own). A test
//! that cannot share a process says `isolation = "process"`.
//!
//! While its tests run the worker prepares the next test's PostgreSQL
//! database — a spare clone claimed and its connection open — so a test
//! that takes `tiered::Postgres` does not wait for either.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::execute::{execute_with, install_panic_hook, Limit};
use crate::protocol::{
    FromWorker, Outcome, TestRecord, ToWorker, WORKER_ENV, WORKER_ID_ENV, WORKER_PROTOCOL,
    WORKER_STDERR_ENV, WORKER_STDOUT_ENV,
};
use crate::registry::{self, TestDef};

pub mod capture;

/// Serves `cargo tiered` on `socket` until told to exit.
pub fn serve(socket: &Path) -> ExitCode {
    let id: u64 = std::env::var(WORKER_ID_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let files = (
        std::env::var_os(WORKER_STDOUT_ENV).map(PathBuf::from),
        std::env::var_os(WORKER_STDERR_ENV).map(PathBuf::from),
    );
    // Meant for this process, not for the ones its tests start. Safe: no
    // other thread runs yet.
    for var in [
        WORKER_ENV,
        WORKER_ID_ENV,
        WORKER_STDOUT_ENV,
        WORKER_STDERR_ENV,
    ] {
        std::env::remove_var(var);
    }
    // A worker whose `cargo tiered` is gone (killed) must not run on.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let mut capture = match files {
        (Some(out), Some(err)) => match capture::Capture::open(&out, &err) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("error: the worker cannot open its capture files: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    install_panic_hook(capture.is_none());
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "error: the worker cannot reach cargo tiered at {}: {e}",
                socket.display()
            );
            return ExitCode::from(2);
        }
    };
    let hello = FromWorker::Hello {
        worker: id,
        pid: std::process::id(),
        protocol: WORKER_PROTOCOL,
    };
    if send(&mut stream, &hello).is_err() {
        return ExitCode::from(2);
    }
    let defs: HashMap<String, &'static TestDef> = registry::all()
        .into_iter()
        .map(|d| (d.full_name(), d))
        .collect();
    let home = std::env::current_dir().ok();
    let reader = match stream.try_clone() {
        Ok(s) => BufReader::new(s),
        Err(_) => return ExitCode::from(2),
    };
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let message: ToWorker = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: the worker got a message it does not understand ({e}): {line}");
                return ExitCode::from(2);
            }
        };
        let (tests, more_postgres) = match message {
            ToWorker::Run {
                tests,
                more_postgres,
            } => (tests, more_postgres),
            ToWorker::Exit => break,
        };
        if let Some(c) = capture.as_mut() {
            if let Err(e) = c.begin() {
                eprintln!("warning: the worker cannot capture output: {e}");
            }
        }
        let batch: Vec<Option<&'static TestDef>> =
            tests.iter().map(|n| defs.get(n).copied()).collect();
        // Whether a test after the i-th (in this batch or a later one)
        // takes a PostgreSQL database.
        let mut later_postgres = vec![more_postgres; batch.len()];
        for i in (0..batch.len().saturating_sub(1)).rev() {
            later_postgres[i] = later_postgres[i + 1] || batch[i + 1].is_some_and(wants_postgres);
        }
        for (i, name) in tests.iter().enumerate() {
            let record = match batch[i] {
                Some(def) => {
                    prepare_databases(def, later_postgres[i]);
                    let mut record = execute_with(def, Limit::Outside);
                    if let Some(c) = capture.as_mut() {
                        (record.stdout, record.stderr) = c.take();
                    }
                    record
                }
                None => TestRecord {
                    name: name.clone(),
                    tier: 1,
                    outcome: Outcome::Error,
                    duration_ms: 0.0,
                    message: Some(format!(
                        "no test named `{name}` in this binary (was it rebuilt after it was listed?)"
                    )),
                    stdout: None,
                    stderr: None,
                    perf: None,
                    setup_ms: None,
                    retries: Vec::new(),
                },
            };
            if let Some(home) = &home {
                if std::env::current_dir().ok().as_ref() != Some(home) {
                    let _ = std::env::set_current_dir(home);
                }
            }
            if send(&mut stream, &FromWorker::Finished(record)).is_err() {
                // cargo tiered is gone: nothing to report to.
                return ExitCode::from(2);
            }
        }
        if let Some(c) = capture.as_mut() {
            c.end();
        }
    }
    drop(capture);
    finish();
    ExitCode::SUCCESS
}

/// One message, one write: a crash right after it keeps it whole.
fn send(stream: &mut UnixStream, message: &FromWorker) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).expect("a message always serializes");
    line.push(b'\n');
    stream.write_all(&line)
}

fn wants_postgres(def: &TestDef) -> bool {
    def.tier().uses_services() && def.wants(registry::POSTGRES_DATABASE)
}

/// Before `def` runs: a database ready for it if it takes one, and one more
/// for the next test that will (`later`).
#[cfg(feature = "postgres")]
fn prepare_databases(def: &TestDef, later: bool) {
    use crate::services::postgres::handoff;
    let want = usize::from(wants_postgres(def)) + usize::from(later);
    if want == 0 {
        return;
    }
    let rt = crate::execute::runtime();
    while handoff::prepared() < want {
        if !handoff::prepare(rt) {
            break;
        }
    }
}

#[cfg(not(feature = "postgres"))]
fn prepare_databases(_def: &TestDef, _later: bool) {}

/// At exit: databases prepared and not taken go back, queued drops are
/// done (within 10 s).
fn finish() {
    #[cfg(feature = "postgres")]
    crate::services::postgres::handoff::finish(
        crate::execute::runtime(),
        std::time::Duration::from_secs(10),
    );
}
