//! The harness inside every test binary: what `tiered::main!()` runs.
//!
//! [`run`] turns the registered [`TestDef`]s into libtest-mimic trials, so
//! every libtest flag keeps working, and adds `--tier`. Tier-1 tests run
//! in-process on libtest-mimic's thread pool: a panic hook records each
//! test's panic message and location on its own thread, so nothing but the
//! test's own prints escapes. Tier-2 and tier-3 tests each run in a child
//! process of the same binary (nextest's model): their stdout and stderr are
//! captured whole, a crash or `exit()` kills only that test, and a timeout can
//! really stop them. Next to service I/O a process spawn (~1 ms) is noise.
//!
//! When `cargo tiered` runs the binary it names files in the environment
//! ([`crate::protocol`]) and the harness writes its listing or one JSON line
//! per finished test there.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

use crate::fixture::TestContext;
use crate::protocol::{
    Attempt, ListedTest, Outcome, TestRecord, CHILD_OUT_ENV, CHILD_TEST_ENV, LIST_OUT_ENV,
    ONLY_ENV, RESULTS_OUT_ENV, RETRIES_ENV,
};
use crate::registry::{self, ShouldPanic, TestBody, TestDef, TestFailure};
use crate::tier::TierSet;

/// Embedded whole in every harness binary; see [`crate::protocol::marker`].
static HARNESS_MARKER: [u8; 31] = *b"tiered-harness-marker:v1:7f3a9c";

/// The most captured output kept per stream; the rest is cut with a marker.
pub const CAPTURE_LIMIT: usize = 1 << 20;

/// The entry point behind `tiered::main!()`.
pub fn run() -> ExitCode {
    std::hint::black_box(&HARNESS_MARKER);
    if let Ok(name) = std::env::var(CHILD_TEST_ENV) {
        return run_child(&name);
    }
    if let Ok(key) = std::env::var(SESSION_INIT_ENV) {
        return run_session_init(&key);
    }
    if let Some(path) = std::env::var_os(LIST_OUT_ENV) {
        return write_listing(Path::new(&path));
    }
    let (tiers, rest) = match split_tier_args(std::env::args()) {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let args = Arguments::from_iter(rest);
    install_panic_hook(args.nocapture);
    let results = ResultsFile::from_env();
    let nocapture = args.nocapture;
    let only = match only_tests() {
        Ok(only) => only,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let defs: Vec<&'static TestDef> = registry::all()
        .into_iter()
        .filter(|d| tiers.contains(d.tier()))
        .filter(|d| only.as_ref().is_none_or(|o| o.contains(&d.full_name())))
        .collect();
    let needed: Vec<&'static str> = defs
        .iter()
        .filter(|d| d.tier().uses_services())
        .filter(|d| {
            let probe = Trial::test(d.full_name(), || Ok(()))
                .with_kind(format!("tier{}", d.tier))
                .with_ignored_flag(d.ignored);
            !args.is_filtered_out(&probe) && !args.is_ignored(&probe)
        })
        .flat_map(|d| d.services())
        .collect();
    // Listing runs nothing: no services for it.
    let needed = if args.list { Vec::new() } else { needed };
    let session = match sessions::start(&needed) {
        Ok(s) => s,
        Err(code) => return code,
    };
    build_session_values(&defs, &args);
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
            let results = results.clone();
            Trial::test(def.full_name(), move || {
                let retries = def.retries.unwrap_or(default_retries);
                let mut failed = Vec::new();
                let record = loop {
                    let mut record = if def.tier().uses_services() {
                        // A graph has no cheap per-test copy: its tests take turns.
                        let _turn = def
                            .services()
                            .contains(&"neo4j")
                            .then(|| GRAPH_TURN.lock().unwrap_or_else(|p| p.into_inner()));
                        results.started(def.full_name(), def.tier);
                        run_in_child(def, nocapture)
                    } else if def.timeout_ms.is_none() {
                        let _watched = watchdog::watch(def, default_timeout_ms(1), &results);
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
                results.append(&record);
                verdict(&record)
            })
            .with_kind(format!("tier{}", def.tier))
            .with_ignored_flag(def.ignored)
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    #[cfg(feature = "postgres")]
    crate::services::postgres::handoff::finish(runtime(), Duration::from_secs(10));
    sessions::finish(session);
    conclusion.exit_code()
}

/// Reruns after a failure for tests that set no `retries`: `TIERED_RETRIES`
/// (`cargo tiered --retries`, or `retries` in tiered.toml), else 0.
fn default_retries() -> Result<u32, String> {
    match std::env::var(RETRIES_ENV) {
        Err(_) => Ok(0),
        Ok(v) => v.trim().parse().map_err(|_| {
            format!("{RETRIES_ENV}={v:?} is not a count of reruns; write e.g. {RETRIES_ENV}=2")
        }),
    }
}

/// The names `cargo tiered --partition` allows this binary to run, when it
/// named them ([`ONLY_ENV`]).
fn only_tests() -> Result<Option<std::collections::HashSet<String>>, String> {
    let Some(path) = std::env::var_os(ONLY_ENV) else {
        return Ok(None);
    };
    // Meant for this process only: not for the processes its tests start
    // (no thread runs yet).
    std::env::remove_var(ONLY_ENV);
    let path = Path::new(&path);
    let text = std::fs::read(path)
        .map_err(|e| format!("cannot read the shard's test list {}: {e}", path.display()))?;
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| format!("the shard's test list {} is not valid: {e}", path.display()))
}

/// Asks a harness binary to build one session value (child mode).
const SESSION_INIT_ENV: &str = "TIERED_SESSION_INIT";

/// Session values built before the tests, as environment for test processes.
static SESSION_VALUES: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Builds every session-scoped fixture value the selected tests of tiers
/// 2–3 need, each once, in a child process that sees the session's services.
fn build_session_values(defs: &[&'static TestDef], args: &Arguments) {
    let mut inits: Vec<crate::fixture::SessionInit> = Vec::new();
    for d in defs.iter().filter(|d| d.tier().uses_services()) {
        let probe = Trial::test(d.full_name(), || Ok(()))
            .with_kind(format!("tier{}", d.tier))
            .with_ignored_flag(d.ignored);
        if args.is_filtered_out(&probe) || args.is_ignored(&probe) {
            continue;
        }
        let mut v = Vec::new();
        (d.session_inits)(&mut v);
        for i in v {
            if !inits.iter().any(|x| x.key == i.key) {
                inits.push(i);
            }
        }
    }
    let mut env = Vec::new();
    for init in inits {
        let var = crate::fixture::session_env_key(init.key);
        let out = child_out_path();
        let status = std::env::current_exe().and_then(|exe| {
            Command::new(exe)
                .envs(sessions::env().iter().map(|(k, v)| (k, v)))
                .env(SESSION_INIT_ENV, init.key)
                .env(CHILD_OUT_ENV, &out)
                .env_remove(RESULTS_OUT_ENV)
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
                format!(
                    "building the session value {} failed ({status:?})",
                    init.key
                ),
            )),
        }
    }
    let _ = SESSION_VALUES.set(env);
}

/// Child mode: build one session value and write its JSON (or the error).
fn run_session_init(key: &str) -> ExitCode {
    let Some(out) = std::env::var_os(CHILD_OUT_ENV) else {
        return ExitCode::from(2);
    };
    let init = registry::all().into_iter().find_map(|d| {
        let mut v = Vec::new();
        (d.session_inits)(&mut v);
        v.into_iter().find(|i| i.key == key)
    });
    let Some(init) = init else {
        let _ = std::fs::write(&out, format!("no session value `{key}` in this binary"));
        return ExitCode::from(2);
    };
    match runtime().block_on((init.init)()) {
        Ok(json) => {
            let _ = std::fs::write(&out, json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = std::fs::write(&out, e.to_string());
            ExitCode::from(1)
        }
    }
}

/// Held while a test that uses the graph database runs.
static GRAPH_TURN: Mutex<()> = Mutex::new(());

/// The session a harness binary provisions for itself when it runs alone
/// (under `cargo test`); under `cargo tiered` the session is given.
#[cfg(feature = "_services")]
mod sessions {
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::sync::OnceLock;

    use crate::config::Config;
    use crate::services::session::{Reuse, Session, Update};
    use crate::services::{ServiceKind, SESSION_ENV};

    /// The environment and secrets of the session, for child processes.
    type Given = (Vec<(String, String)>, Vec<String>);
    pub static GIVEN: OnceLock<Given> = OnceLock::new();

    pub fn start(needed: &[&str]) -> Result<Option<Session>, ExitCode> {
        let kinds: Vec<ServiceKind> = needed
            .iter()
            .filter_map(|n| ServiceKind::from_name(n))
            .collect();
        if kinds.is_empty() || std::env::var_os(SESSION_ENV).is_some() {
            return Ok(None);
        }
        let dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let (config, root) = Config::discover(&dir).map_err(|e| {
            eprintln!("error: {e}\nhint: {}", e.hint());
            ExitCode::from(crate::exit_codes::USAGE)
        })?;
        // Services kept by `cargo tiered services up` are reused.
        let reuse = crate::services::kept::state_path_for_exe().map(|path| Reuse {
            path,
            keep_new: false,
        });
        let session = super::runtime().block_on(Session::provision_with(
            &kinds,
            &config,
            &root,
            reuse.as_ref(),
            &mut |u| match u {
                Update::Ready(r) => eprintln!("{}", crate::report::summary::service_line(r)),
                Update::Note(text) => eprintln!("{text}"),
                Update::Starting { .. } => {}
            },
        ));
        let _ = GIVEN.set((session.env(), session.secrets()));
        let _ = OWNED.set(session.id().to_string());
        watch_signals(session.id().to_string());
        Ok(Some(session))
    }

    /// The session this binary started, if it started one.
    static OWNED: OnceLock<String> = OnceLock::new();

    /// Removes the containers of the session this binary started, now (the
    /// process is about to end without its orderly teardown).
    pub fn remove_now() {
        if let Some(session) = OWNED.get() {
            let removed = remove_containers(session);
            eprintln!("services: removed {removed} container(s) of session {session}");
        }
    }

    fn remove_containers(session: &str) -> usize {
        super::runtime().block_on(async {
            let Ok((docker, _)) =
                crate::services::docker::connect(crate::services::session::DOCKER_PING_LIMIT).await
            else {
                return 0;
            };
            let mut removed = 0;
            for id in crate::services::docker::session_containers(&docker, session).await {
                if crate::services::docker::remove(&docker, &id).await.is_ok() {
                    removed += 1;
                }
            }
            removed
        })
    }

    /// On SIGINT or SIGTERM, removes the containers this binary started and
    /// exits 128 + the signal: libtest-mimic's threads cannot be stopped in
    /// an orderly way, and the containers must not outlive the process.
    fn watch_signals(session: String) {
        crate::interrupt::install();
        let _ = std::thread::Builder::new()
            .name("tiered-signals".into())
            .spawn(move || loop {
                let Some(sig) = crate::interrupt::requested() else {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    continue;
                };
                eprintln!(
                    "\n{}: removing the containers of session {session}",
                    crate::interrupt::name(sig)
                );
                let removed = remove_containers(&session);
                eprintln!("services: removed {removed} container(s) of session {session}");
                std::process::exit(i32::from(crate::interrupt::exit_code(sig)));
            });
    }

    pub fn finish(session: Option<Session>) {
        if let Some(s) = session {
            let id = s.id().to_string();
            let removed = super::runtime().block_on(s.teardown());
            if removed > 0 {
                eprintln!("services: removed {removed} container(s) of session {id}");
            }
        }
    }

    pub fn env() -> &'static [(String, String)] {
        GIVEN.get().map(|g| g.0.as_slice()).unwrap_or(&[])
    }

    pub fn secrets() -> &'static [String] {
        GIVEN.get().map(|g| g.1.as_slice()).unwrap_or(&[])
    }
}

#[cfg(not(feature = "_services"))]
mod sessions {
    use std::process::ExitCode;

    pub struct Session;

    pub fn start(_needed: &[&str]) -> Result<Option<Session>, ExitCode> {
        Ok(None)
    }

    pub fn finish(_session: Option<Session>) {}

    pub fn remove_now() {}

    pub fn env() -> &'static [(String, String)] {
        &[]
    }

    pub fn secrets() -> &'static [String] {
        &[]
    }
}

/// Splits `--tier X` / `--tier=X` (repeatable) from the other arguments.
pub fn split_tier_args(
    args: impl IntoIterator<Item = String>,
) -> Result<(TierSet, Vec<String>), String> {
    let mut tiers = TierSet::default();
    let mut rest = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let spec = if arg == "--tier" {
            Some(
                it.next()
                    .ok_or("`--tier` needs a value: 1, 2, 3, a list such as 1,2, or all")?,
            )
        } else {
            arg.strip_prefix("--tier=").map(str::to_string)
        };
        match spec {
            Some(spec) => tiers.parse_into(&spec).map_err(|e| e.to_string())?,
            None => rest.push(arg),
        }
    }
    Ok((tiers.or_all(), rest))
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

fn listing() -> Vec<ListedTest> {
    registry::all()
        .into_iter()
        .map(|d| ListedTest {
            name: d.full_name(),
            tier: d.tier,
            tags: d.tags.iter().map(|t| t.to_string()).collect(),
            needs: d.services().into_iter().map(str::to_string).collect(),
            ignored: d.ignored,
            ignore_reason: d.ignore_reason.map(str::to_string),
            file: d.file.to_string(),
            line: d.line,
        })
        .collect()
}

fn write_listing(path: &Path) -> ExitCode {
    let json = serde_json::to_vec(&listing()).expect("a listing always serializes");
    match std::fs::write(path, json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "error: cannot write the test listing to {}: {e}",
                path.display()
            );
            ExitCode::from(2)
        }
    }
}

/// Where finished tests are appended, when `cargo tiered` asked for it.
#[derive(Clone)]
struct ResultsFile(Option<&'static Mutex<File>>);

impl ResultsFile {
    fn from_env() -> Self {
        static FILE: OnceLock<Option<Mutex<File>>> = OnceLock::new();
        let file = FILE.get_or_init(|| {
            let path = std::env::var_os(RESULTS_OUT_ENV)?;
            match File::options().create(true).append(true).open(&path) {
                Ok(f) => Some(Mutex::new(f)),
                Err(e) => {
                    eprintln!(
                        "warning: cannot open the results file {}: {e}",
                        Path::new(&path).display()
                    );
                    None
                }
            }
        });
        ResultsFile(file.as_ref())
    }

    fn append(&self, record: &TestRecord) {
        // Written as the record itself: `ResultLine::Finished` is untagged.
        self.write(record);
    }

    fn started(&self, name: String, tier: u8) {
        self.write(&crate::protocol::ResultLine::Started {
            started: name,
            tier,
        });
    }

    fn write(&self, record: &impl serde::Serialize) {
        if let Some(file) = self.0 {
            let mut line = serde_json::to_vec(record).expect("a record always serializes");
            line.push(b'\n');
            let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
            // One write per line keeps lines whole even if the process dies.
            if let Err(e) = f.write_all(&line).and_then(|()| f.flush()) {
                eprintln!("warning: cannot write a test result: {e}");
            }
        }
    }
}

thread_local! {
    static IN_TEST: Cell<bool> = const { Cell::new(false) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_panic_hook(nocapture: bool) {
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
                msg.push_str(&format!("\nstack backtrace:\n{bt}"));
            }
            PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(msg));
            if nocapture {
                default(info);
            }
        }));
    });
}

fn runtime() -> &'static tokio::runtime::Runtime {
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
        TestBody::Sync(f) => f(),
        TestBody::Async(f) => runtime().block_on(f(ctx)),
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

/// Runs one test in this process and judges it, honouring its timeout.
pub fn execute(def: &'static TestDef) -> TestRecord {
    let start = Instant::now();
    let ctx = TestContext::new(def.full_name(), def.tier);
    if def.tier == 1 && !def.services().is_empty() {
        return TestRecord {
            name: def.full_name(),
            tier: def.tier,
            outcome: Outcome::Error,
            duration_ms: 0.0,
            message: Some(format!(
                "tier-1 tests take no services, and this one needs {}; make it #[tiered::test(tier = 2)]",
                def.services().join(", ")
            )),
            stdout: None,
            stderr: None,
            perf: None,
            setup_ms: None,
            retries: Vec::new(),
        };
    }
    let body_ctx = ctx.clone();
    let result = match def.timeout_ms {
        None => run_body(def, body_ctx),
        Some(ms) => {
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

/// The timeout of a test that sets none: `TIERED_TIMEOUT_TIERn_MS`
/// (`[timeouts]` in tiered.toml, passed by `cargo tiered`), else Bazel's
/// test sizes: 60 s in tier 1, 5 minutes in tier 2, 15 in tier 3.
pub fn default_timeout_ms(tier: u8) -> u64 {
    static CONFIGURED: OnceLock<[Option<u64>; 3]> = OnceLock::new();
    let configured = CONFIGURED.get_or_init(|| {
        [1, 2, 3].map(|t| {
            std::env::var(crate::protocol::timeout_env(t))
                .ok()
                .and_then(|v| v.trim().parse().ok())
        })
    });
    let built_in = match tier {
        1 => 60_000,
        2 => 300_000,
        _ => 900_000,
    };
    configured
        .get(usize::from(tier.clamp(1, 3)) - 1)
        .copied()
        .flatten()
        .unwrap_or(built_in)
}

/// Tier-1 tests without a `timeout` of their own run in this process, where
/// a hung thread cannot be stopped. One watchdog thread checks them against
/// their tier's limit; a test past it is reported failed ("timed out"),
/// the session's containers (if this binary started any) are removed and
/// the binary exits 101 — `cargo tiered` reports its unfinished tests as
/// errors and runs the other binaries.
mod watchdog {
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use super::ResultsFile;
    use crate::protocol::{Outcome, TestRecord};
    use crate::registry::TestDef;

    struct Watched {
        def: &'static TestDef,
        start: Instant,
        limit_ms: u64,
    }

    /// One slot per test thread, so watching a test costs one uncontended
    /// lock (tier-1 tests take microseconds; see BENCHMARKS.md, item 1).
    type Slot = Arc<Mutex<Option<Watched>>>;

    static SLOTS: Mutex<Vec<Slot>> = Mutex::new(Vec::new());
    static RESULTS: OnceLock<ResultsFile> = OnceLock::new();

    thread_local! {
        static MINE: Slot = {
            let slot: Slot = Arc::new(Mutex::new(None));
            SLOTS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Arc::clone(&slot));
            slot
        };
    }

    /// Unwatches the test when dropped (it finished).
    pub struct Guard(());

    impl Drop for Guard {
        fn drop(&mut self) {
            MINE.with(|s| *s.lock().unwrap_or_else(|p| p.into_inner()) = None);
        }
    }

    /// Watches a test from now on, with `limit_ms`.
    pub fn watch(def: &'static TestDef, limit_ms: u64, results: &ResultsFile) -> Guard {
        RESULTS.get_or_init(|| {
            let _ = std::thread::Builder::new()
                .name("tiered-watchdog".into())
                .spawn(run);
            results.clone()
        });
        MINE.with(|s| {
            *s.lock().unwrap_or_else(|p| p.into_inner()) = Some(Watched {
                def,
                start: Instant::now(),
                limit_ms,
            })
        });
        Guard(())
    }

    fn run() {
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let expired = SLOTS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find_map(|slot| {
                    let w = slot.lock().unwrap_or_else(|p| p.into_inner());
                    w.as_ref()
                        .filter(|w| w.start.elapsed() >= Duration::from_millis(w.limit_ms))
                        .map(|w| (w.def.full_name(), w.limit_ms, w.start.elapsed()))
                });
            let Some((name, limit_ms, ran)) = expired else {
                continue;
            };
            let limit = crate::duration::human(Duration::from_millis(limit_ms));
            let record = TestRecord {
                name: name.clone(),
                tier: 1,
                outcome: Outcome::Failed,
                duration_ms: ran.as_secs_f64() * 1000.0,
                message: Some(format!(
                    "timed out after {limit} (the tier-1 limit; a test running in the harness's own process cannot be stopped, so its binary stopped here)"
                )),
                stdout: None,
                stderr: None,
                perf: None,
                setup_ms: None,
                retries: Vec::new(),
            };
            if let Some(results) = RESULTS.get() {
                results.append(&record);
            }
            eprintln!(
                "error: the tier-1 test `{name}` timed out after {limit}; it cannot be stopped inside this process, so the binary stops (give it `timeout = \"…\"` or raise `[timeouts] tier1`)"
            );
            super::sessions::remove_now();
            std::process::exit(i32::from(crate::exit_codes::HARNESS_TEST_FAILED));
        }
    }
}

fn timeout_message(ms: u64) -> String {
    format!(
        "timed out after {}",
        crate::duration::human(Duration::from_millis(ms))
    )
}

fn judge(
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

/// Child mode: run the one named test here and write its record.
fn run_child(name: &str) -> ExitCode {
    let Some(out) = std::env::var_os(CHILD_OUT_ENV) else {
        eprintln!("error: {CHILD_TEST_ENV} is set but {CHILD_OUT_ENV} is not");
        return ExitCode::from(2);
    };
    let Some(def) = registry::all().into_iter().find(|d| d.full_name() == name) else {
        eprintln!("error: no test named `{name}` in this binary");
        return ExitCode::from(2);
    };
    // Processes the test starts must not believe they are children too.
    // Safe here: no other thread runs yet.
    std::env::remove_var(CHILD_TEST_ENV);
    std::env::remove_var(CHILD_OUT_ENV);
    #[cfg(feature = "postgres")]
    crate::services::postgres::handoff::adopt_from_env();
    install_panic_hook(false);
    let record = execute(def);
    let json = serde_json::to_vec(&record).expect("a record always serializes");
    if let Err(e) = std::fs::write(&out, json) {
        eprintln!(
            "error: cannot write the result to {}: {e}",
            Path::new(&out).display()
        );
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
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
    let given = sessions::env();
    let lookup = |key: &str| {
        given
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(key).ok())
    };
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

/// A PostgreSQL database claimed for the test about to start in a child
/// process, and how long the claim took (see `postgres::handoff`).
#[cfg(feature = "postgres")]
fn handed_database(def: &TestDef) -> Option<(String, Duration)> {
    if !def.wants(registry::POSTGRES_DATABASE) {
        return None;
    }
    let key = crate::services::ServiceKind::Postgres.url_env();
    let admin = sessions::env()
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
        return TestRecord {
            name: def.full_name(),
            tier: def.tier,
            outcome: Outcome::Error,
            duration_ms: 0.0,
            message: Some(why),
            stdout: None,
            stderr: None,
            perf: None,
            setup_ms: None,
            retries: Vec::new(),
        };
    }
    let out = child_out_path();
    let name = def.full_name();
    let error = |message: String| TestRecord {
        name: def.full_name(),
        tier: def.tier,
        outcome: Outcome::Error,
        duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        message: Some(message),
        stdout: None,
        stderr: None,
        perf: None,
        setup_ms: None,
        retries: Vec::new(),
    };
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
        .envs(sessions::env().iter().map(|(k, v)| (k, v)))
        .envs(
            SESSION_VALUES
                .get()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k, v)),
        )
        .env(CHILD_TEST_ENV, &name)
        .env(CHILD_OUT_ENV, &out)
        .env_remove(RESULTS_OUT_ENV)
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
    let secrets = sessions::secrets();
    if !secrets.is_empty() {
        for text in [&mut record.message, &mut record.stdout, &mut record.stderr] {
            if let Some(t) = text.as_mut() {
                *t = crate::services::redact(t, secrets);
            }
        }
    }
    record
}
