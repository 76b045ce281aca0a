//! Running one test in this process: its fixtures, its body, its verdict.
//!
//! [`execute`] is what every mode shares — a worker of `cargo tiered`, a
//! binary run alone, a child process running one test. A panic hook records
//! the panic message and location of the test running on each thread (so a
//! failure carries `panicked at tests/x.rs:9:5: …` and nothing else of the
//! default hook's output escapes); [`judge`] turns the body's result and
//! `should_panic` into an [`Outcome`].

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::fixture::TestContext;
use crate::protocol::{Outcome, TestRecord};
use crate::registry::{self, ShouldPanic, TestBody, TestDef, TestFailure};

thread_local! {
    static IN_TEST: Cell<bool> = const { Cell::new(false) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the panic hook that records a test's panic message on its
/// thread; with `show` the default hook's output is printed too
/// (`--nocapture`). Idempotent.
pub(crate) fn install_panic_hook(show: bool) {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !IN_TEST.with(Cell::get) {
                return default(info);
            }
            let payload = info.payload_as_str().unwrap_or("Box<dyn Any>");
            let mut msg = match info.location() {
                Some(loc) => format!("panicked at {loc}:\n{payload}"),
                None => format!("panicked:\n{payload}"),
            };
            let bt = std::backtrace::Backtrace::capture();
            if bt.status() == std::backtrace::BacktraceStatus::Captured {
                let full = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v == "full");
                let text = bt.to_string();
                let text = if full { text } else { short_backtrace(&text) };
                msg.push_str(&format!("\nstack backtrace:\n{text}"));
            }
            PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(msg));
            if show {
                default(info);
            }
        }));
    });
}

/// A backtrace as libtest prints it by default: only the frames between
/// the panic machinery (`__rust_end_short_backtrace`, and the frames above
/// it) and the harness (`__rust_begin_short_backtrace`, and the frames
/// below it), renumbered from 0, with std's note on how to see the rest.
/// Text without the markers is returned as it is.
pub fn short_backtrace(full: &str) -> String {
    // Frames: a line `  N: symbol`, then its `at file:line` lines.
    let mut frames: Vec<Vec<&str>> = Vec::new();
    for line in full.lines() {
        let t = line.trim_start();
        let starts_frame = t
            .split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        match frames.last_mut() {
            Some(f) if !starts_frame => f.push(line),
            _ => frames.push(vec![line]),
        }
    }
    let has = |f: &Vec<&str>, marker: &str| f.first().is_some_and(|l| l.contains(marker));
    let start = frames
        .iter()
        .rposition(|f| has(f, "__rust_end_short_backtrace"))
        .map_or(0, |i| i + 1);
    let end = frames
        .iter()
        .skip(start)
        .position(|f| has(f, "__rust_begin_short_backtrace"))
        .map_or(frames.len(), |i| start + i);
    if start == 0 && end == frames.len() {
        return full.to_string();
    }
    let mut out = String::new();
    for (k, f) in frames[start..end].iter().enumerate() {
        let first = f[0].trim_start();
        let symbol = first.split_once(": ").map_or(first, |(_, s)| s);
        out.push_str(&format!("{k:>4}: {symbol}\n"));
        for line in &f[1..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(
        "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
    );
    out
}

/// Calls the test's body: the frame a short backtrace ends at, as
/// libtest's function of the same name is.
#[inline(never)]
fn __rust_begin_short_backtrace<T>(f: impl FnOnce() -> T) -> T {
    let result = f();
    // Not a tail call: this frame stays on the stack.
    std::hint::black_box(());
    result
}

/// The one multi-thread runtime every async test of the process runs on.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("tiered-rt")
            .build()
            .expect("the tokio runtime for async tests could not start")
    })
}

/// Runs the body on this thread; `Err` carries the panic message.
fn run_body(def: &TestDef, ctx: TestContext) -> Result<registry::TestResult, String> {
    IN_TEST.with(|c| c.set(true));
    PANIC_MESSAGE.with(|m| m.borrow_mut().take());
    let result = panic::catch_unwind(AssertUnwindSafe(|| match def.body {
        TestBody::Sync(f) => __rust_begin_short_backtrace(f),
        TestBody::Async(f) => __rust_begin_short_backtrace(|| runtime().block_on(f(ctx))),
    }));
    IN_TEST.with(|c| c.set(false));
    result.map_err(|payload| {
        PANIC_MESSAGE
            .with(|m| m.borrow_mut().take())
            .unwrap_or_else(|| {
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panicked with a non-string payload".into())
            })
    })
}

/// "timed out after 1.50s".
pub(crate) fn timeout_message(ms: u64) -> String {
    format!(
        "timed out after {}",
        crate::duration::human(Duration::from_millis(ms))
    )
}

/// The outcome of a body's result under `should_panic`.
pub(crate) fn judge(
    should_panic: ShouldPanic,
    result: Result<registry::TestResult, String>,
) -> (Outcome, Option<String>) {
    match (result, should_panic) {
        (Ok(Ok(())), ShouldPanic::No) => (Outcome::Passed, None),
        (Ok(Ok(())), _) => (
            Outcome::Failed,
            Some("test did not panic as expected".into()),
        ),
        (Ok(Err(TestFailure::Failed(m))), _) => (Outcome::Failed, Some(m)),
        (Ok(Err(TestFailure::Error(m))), _) => (Outcome::Error, Some(m)),
        (Err(m), ShouldPanic::No) => (Outcome::Failed, Some(m)),
        (Err(_), ShouldPanic::Yes) => (Outcome::Passed, None),
        (Err(m), ShouldPanic::WithMessage(expected)) if m.contains(expected) => {
            (Outcome::Passed, None)
        }
        (Err(m), ShouldPanic::WithMessage(expected)) => (
            Outcome::Failed,
            Some(format!(
                "panic did not contain the expected text\n      panic: {m}\n   expected: {expected}"
            )),
        ),
    }
}

/// Who stops a test that runs past its `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// This process: the body runs on a thread of its own and is given up
    /// on at the limit (it cannot be stopped; it ends with the process).
    InProcess,
    /// The process that started this one (`cargo tiered` kills a worker at
    /// the limit): the body runs on the calling thread.
    Outside,
}

/// A record of a test that could not be executed.
pub(crate) fn error_record(def: &TestDef, message: String, duration_ms: f64) -> TestRecord {
    TestRecord {
        name: def.full_name(),
        tier: def.tier,
        outcome: Outcome::Error,
        duration_ms,
        message: Some(message),
        stdout: None,
        stderr: None,
        perf: None,
        setup_ms: None,
        retries: Vec::new(),
    }
}

/// Why a service the test needs is not available, if one is not, from
/// the session's variables as `lookup` finds them.
pub(crate) fn unavailable_service(
    def: &TestDef,
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if !def.tier().uses_services() {
        return None;
    }
    for name in def.services() {
        let upper = name.to_ascii_uppercase();
        let url = if name == "neo4j" {
            format!("TIERED_{upper}_URI")
        } else {
            format!("TIERED_{upper}_URL")
        };
        if lookup(&url).is_none() {
            return Some(lookup(&format!("TIERED_{upper}_ERROR")).unwrap_or_else(|| {
                format!("the service `{name}` was not provisioned for this run ({url} is not set)")
            }));
        }
    }
    None
}

/// Runs one test in this process and judges it.
pub fn execute(def: &'static TestDef) -> TestRecord {
    execute_with(def, Limit::InProcess)
}

/// Runs one test in this process and judges it; `limit` says who enforces
/// its `timeout`.
pub(crate) fn execute_with(def: &'static TestDef, limit: Limit) -> TestRecord {
    let start = Instant::now();
    let ctx = TestContext::in_crate(def.full_name(), def.tier, def.crate_name());
    if def.tier == 1 && !def.services().is_empty() {
        return error_record(
            def,
            format!(
                "tier-1 tests take no services, and this one needs {}; make it #[tiered::test(tier = 2)]",
                def.services().join(", ")
            ),
            0.0,
        );
    }
    if let Some(why) = unavailable_service(def, |k| std::env::var(k).ok()) {
        return error_record(def, why, 0.0);
    }
    let body_ctx = ctx.clone();
    let result = match (def.timeout_ms, limit) {
        (Some(ms), Limit::InProcess) => {
            let (tx, rx) = mpsc::channel();
            let spawned = thread::Builder::new().name(def.full_name()).spawn(move || {
                let _ = tx.send(run_body(def, body_ctx));
            });
            match spawned {
                Err(e) => Ok(Err(TestFailure::Error(format!(
                    "could not start the test thread: {e}"
                )))),
                // A timed-out thread cannot be stopped in-process; it is left
                // behind and ends with the process.
                Ok(_) => rx
                    .recv_timeout(Duration::from_millis(ms))
                    .unwrap_or_else(|_| Ok(Err(TestFailure::Failed(timeout_message(ms))))),
            }
        }
        _ => run_body(def, body_ctx),
    };
    let (outcome, mut message) = judge(def.should_panic, result);
    if matches!(def.body, TestBody::Async(_)) {
        let notes = runtime().block_on(ctx.run_teardowns(outcome == Outcome::Passed));
        if !notes.is_empty() {
            let m = message.get_or_insert_with(String::new);
            for n in &notes {
                if !m.is_empty() {
                    m.push('\n');
                }
                m.push_str(n);
            }
        }
    }
    let recorded = ctx.recorder().take();
    TestRecord {
        name: def.full_name(),
        tier: def.tier,
        outcome,
        duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        message,
        stdout: None,
        stderr: None,
        perf: (recorded != crate::perf::Recorded::default()).then_some(recorded),
        setup_ms: ctx.setup_time().map(|d| d.as_secs_f64() * 1000.0),
        retries: Vec::new(),
    }
}
