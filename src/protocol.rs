//! What a harness binary and `cargo tiered` tell each other.
//!
//! A harness binary stays an ordinary program that `cargo test` can run;
//! `cargo tiered` talks to it through environment variables it sets, in one
//! of three modes:
//!
//! | variable | set by | effect |
//! |---|---|---|
//! | `TIERED_LIST_OUT=PATH` | `cargo tiered` | the binary writes its tests ([`ListedTest`], a JSON array) to PATH and exits 0 without running anything |
//! | `TIERED_WORKER=SOCKET`, `TIERED_WORKER_ID=N` | `cargo tiered` | the binary is a **worker**: it connects to the Unix socket SOCKET, says [`FromWorker::Hello`], then runs the tests each [`ToWorker::Run`] names, one at a time, answering [`FromWorker::Finished`] for each, until [`ToWorker::Exit`] or the socket closes (see [`crate::worker`]) |
//! | `TIERED_WORKER_STDOUT=PATH`, `TIERED_WORKER_STDERR=PATH` | `cargo tiered` | where a worker sends file descriptors 1 and 2 while a test runs: each test's output, read back after it (and by `cargo tiered` after a crash) |
//! | `TIERED_SESSION_INIT=KEY`, `TIERED_CHILD_OUT=PATH` | `cargo tiered`, the harness | build the session value KEY ([`crate::PerSession`]) and write its JSON to PATH |
//! | `TIERED_CHILD_TEST=NAME`, `TIERED_CHILD_OUT=PATH` | the harness itself | run only NAME in this process and write its [`TestRecord`] to PATH (a binary run alone runs each tier-2/3 test in a child process) |
//! | `TIERED_TIMEOUT_TIERn_MS=MS` | `cargo tiered services env`, the user | the limit of a tier-n test that sets no `timeout`, for a binary run alone (defaults: 60 s, 5 min, 15 min); under `cargo tiered` the limits are enforced by `cargo tiered` itself |
//! | `TIERED_RETRIES=N` | the user | a binary run alone reruns a failed test without its own `retries` up to N more times |
//!
//! A worker's messages are JSON lines on the socket, so stdin, stdout and
//! stderr stay the test's own. A harness binary is recognised without
//! running it by [`marker`]: bytes that only a binary built with
//! `tiered::main!()` contains.

use serde::{Deserialize, Serialize};

/// Names the file a harness binary writes its listing to.
pub const LIST_OUT_ENV: &str = "TIERED_LIST_OUT";
/// Asks a harness binary to run one test in-process (child mode).
pub const CHILD_TEST_ENV: &str = "TIERED_CHILD_TEST";
/// Where a child writes the one result.
pub const CHILD_OUT_ENV: &str = "TIERED_CHILD_OUT";
/// Asks a harness binary to build one session value (child mode).
pub const SESSION_INIT_ENV: &str = "TIERED_SESSION_INIT";
/// Reruns after a failure for tests that set no `retries` (a count).
pub const RETRIES_ENV: &str = "TIERED_RETRIES";
/// Makes a harness binary a worker of `cargo tiered`: the socket to reach.
pub const WORKER_ENV: &str = "TIERED_WORKER";
/// The worker's number, said back in [`FromWorker::Hello`].
pub const WORKER_ID_ENV: &str = "TIERED_WORKER_ID";
/// Where a worker's fd 1 goes while a test runs.
pub const WORKER_STDOUT_ENV: &str = "TIERED_WORKER_STDOUT";
/// Where a worker's fd 2 goes while a test runs.
pub const WORKER_STDERR_ENV: &str = "TIERED_WORKER_STDERR";

/// The most captured output a record carries per stream; the rest is cut
/// with a marker saying how much.
pub const CAPTURE_LIMIT: usize = 1 << 20;

/// This protocol's version; a worker of another version is refused.
pub const WORKER_PROTOCOL: u32 = 1;

/// What `cargo tiered` asks of a worker, one JSON line each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ToWorker {
    /// Run these tests (libtest-style names), one after another, in this
    /// order; answer [`FromWorker::Finished`] after each.
    Run {
        /// The tests.
        tests: Vec<String>,
        /// Tests of this binary wanting a PostgreSQL database are still
        /// queued after these: prepare one for the next while these run.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        more_postgres: bool,
    },
    /// Finish background work (queued database drops) and exit 0.
    Exit,
}

/// What a worker tells `cargo tiered`, one JSON line each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum FromWorker {
    /// The worker is connected and ready.
    Hello {
        /// Its `TIERED_WORKER_ID`.
        worker: u64,
        /// Its process id.
        pid: u32,
        /// [`WORKER_PROTOCOL`] of the binary.
        protocol: u32,
    },
    /// One test finished; its output is in the record.
    Finished(TestRecord),
}

/// The variable carrying a tier's default test timeout, in milliseconds
/// (`[timeouts] tierN` of tiered.toml): `TIERED_TIMEOUT_TIER2_MS`.
pub fn timeout_env(tier: u8) -> String {
    format!("TIERED_TIMEOUT_TIER{tier}_MS")
}

const MARKER_HEAD: &str = "tiered-harness-marker:";
const MARKER_TAIL: &str = "v1:7f3a9c";

/// The bytes that identify a tiered harness binary. Built at run time from
/// two halves so that only harness binaries (which embed it whole, see
/// [`crate::harness`]) contain it, not the tools that search for it.
pub fn marker() -> Vec<u8> {
    let mut m = MARKER_HEAD.as_bytes().to_vec();
    m.extend_from_slice(MARKER_TAIL.as_bytes());
    m
}

/// One test as the harness binary lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedTest {
    /// libtest-style name (module path inside the binary).
    pub name: String,
    /// Tier 1–3.
    pub tier: u8,
    /// `tags = […]`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Services the test's fixtures need.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Marked `ignore`.
    #[serde(default)]
    pub ignored: bool,
    /// The `ignore = "…"` reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_reason: Option<String>,
    /// Declaring file, as `file!()` gives it.
    pub file: String,
    /// Declaring line.
    pub line: u32,
    /// `timeout = "…"` in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// `retries = N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// `serial` / `serial = "group"`: one at a time with the group's other tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// `exclusive`: nothing else runs while it does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclusive: bool,
    /// `isolation = "process"`: a fresh process of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<crate::tier::Isolation>,
    /// The session values ([`crate::PerSession`]) its fixtures take, by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_values: Vec<String>,
    /// A fixture asked for a PostgreSQL database of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wants_postgres: bool,
}

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Ran and passed.
    Passed,
    /// Ran and failed.
    Failed,
    /// Could not be executed: its setup, a service, the build or the binary failed.
    Error,
    /// Ignored (not requested with `--ignored`).
    Ignored,
    /// Selected but never ran (`--fail-fast` or an interruption stopped the
    /// run first, or its target did not build).
    NotRun,
}

impl Outcome {
    /// Ran to a pass/fail verdict.
    pub fn executed(self) -> bool {
        matches!(self, Outcome::Passed | Outcome::Failed)
    }

    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::Ignored => "ignored",
            Outcome::NotRun => "not_run",
        }
    }
}

/// One finished test, as the harness reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    /// libtest-style name.
    pub name: String,
    /// Tier 1–3.
    pub tier: u8,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// The failure: panic message with its location, the `Err` value, or
    /// why it could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Captured standard output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Captured standard error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// What the test measured with `tiered::Perf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perf: Option<crate::perf::Recorded>,
    /// How long its fixtures took to set up, in ms (tests with fixtures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_ms: Option<f64>,
    /// The failed runs before this one (`retries`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<Attempt>,
}

/// A failed run of a test that was run again (`retries = N`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// `failed` or `error`.
    pub outcome: Outcome,
    /// Its wall time in milliseconds.
    pub duration_ms: f64,
    /// Its failure message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Its captured standard output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Its captured standard error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

impl Attempt {
    /// The failed run `record` describes.
    pub fn of(record: &TestRecord) -> Attempt {
        Attempt {
            outcome: record.outcome,
            duration_ms: record.duration_ms,
            message: record.message.clone(),
            stdout: record.stdout.clone(),
            stderr: record.stderr.clone(),
        }
    }
}
