//! What a harness binary and `cargo tiered` tell each other.
//!
//! The channel is files named by environment variables, as insta does, so a
//! harness binary stays an ordinary program that `cargo test` can run:
//!
//! | variable | set by | effect |
//! |---|---|---|
//! | `TIERED_LIST_OUT=PATH` | `cargo tiered` | the binary writes its tests ([`ListedTest`], a JSON array) to PATH and exits 0 without running anything |
//! | `TIERED_RESULTS_OUT=PATH` | `cargo tiered` | the binary appends one [`TestRecord`] per finished test to PATH as a JSON line, flushed at once, so a crash keeps what ran |
//! | `TIERED_ONLY=PATH` | `cargo tiered --partition` | the binary runs only the tests whose names PATH lists (a JSON array): the shard's |
//! | `TIERED_TIMEOUT_TIERn_MS=MS` | `cargo tiered`, from `[timeouts]` in tiered.toml | the limit of a tier-n test that sets no `timeout` (defaults: 60 s, 5 min, 15 min) |
//! | `TIERED_RETRIES=N` | `cargo tiered --retries`, `retries` in tiered.toml | a failed test without its own `retries` runs again, up to N more times; the failed runs travel in its record (`retries`) |
//! | `TIERED_CHILD_TEST=NAME`, `TIERED_CHILD_OUT=PATH` | the harness itself | run only NAME in this process and write its [`TestRecord`] to PATH (tiers 2–3 run each test in a child process) |
//!
//! A harness binary is recognised without running it by [`marker`]: bytes
//! that only a binary built with `tiered::main!()` contains.

use serde::{Deserialize, Serialize};

/// Names the file a harness binary writes its listing to.
pub const LIST_OUT_ENV: &str = "TIERED_LIST_OUT";
/// Names the file a harness binary appends its results to.
pub const RESULTS_OUT_ENV: &str = "TIERED_RESULTS_OUT";
/// Names the file listing the only tests a harness binary may run (a shard).
pub const ONLY_ENV: &str = "TIERED_ONLY";
/// Asks a harness binary to run one test in-process (child mode).
pub const CHILD_TEST_ENV: &str = "TIERED_CHILD_TEST";
/// Where a child writes the one result.
pub const CHILD_OUT_ENV: &str = "TIERED_CHILD_OUT";
/// Reruns after a failure for tests that set no `retries` (a count).
pub const RETRIES_ENV: &str = "TIERED_RETRIES";

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
    /// Selected but never ran (fail-fast stopped the run, or filtered at run time).
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

/// One line of the results file: a test of tiers 2–3 that started (tier-1
/// tests run in-process in moments and are reported when they finish), or
/// a finished test's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResultLine {
    /// A test started.
    Started {
        /// Its libtest-style name.
        started: String,
        /// Its tier.
        tier: u8,
    },
    /// A test finished.
    Finished(TestRecord),
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
    /// Captured standard output (tests run in a child process only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Captured standard error (tests run in a child process only).
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
