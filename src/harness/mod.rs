//! The harness inside every test binary: what `tiered::main!()` runs.
//!
//! One binary, several modes, chosen by the environment `cargo tiered` sets
//! ([`crate::protocol`]):
//!
//! - **worker** ([`crate::worker`]): a long-lived process of `cargo tiered`
//!   that runs the tests it is sent, one at a time, with each test's
//!   stdout and stderr captured;
//! - **listing**: the binary writes its tests and exits;
//! - **child**: one test, or one session value, in a process of its own
//!   ([`child`]);
//! - **alone** ([`standalone`]): run by `cargo test` or nextest, a
//!   libtest-mimic harness with every libtest flag, which provisions its
//!   own services.
//!
//! [`execute`](crate::execute) runs one test in-process; every mode uses it.

use std::path::Path;
use std::process::ExitCode;
use std::sync::OnceLock;

use crate::protocol::{ListedTest, CHILD_TEST_ENV, LIST_OUT_ENV, SESSION_INIT_ENV, WORKER_ENV};
use crate::registry;
use crate::tier::TierSet;

pub(crate) mod child;
mod children;
pub(crate) mod own_services;
pub(crate) mod standalone;
mod watchdog;

pub use crate::execute::execute;

/// Embedded whole in every harness binary; see [`crate::protocol::marker`].
static HARNESS_MARKER: [u8; 31] = *b"tiered-harness-marker:v1:7f3a9c";

pub use crate::protocol::CAPTURE_LIMIT;

/// The entry point behind `tiered::main!()`.
pub fn run() -> ExitCode {
    std::hint::black_box(&HARNESS_MARKER);
    if let Ok(name) = std::env::var(CHILD_TEST_ENV) {
        return child::run_test(&name);
    }
    if let Ok(key) = std::env::var(SESSION_INIT_ENV) {
        return child::build_session_value(&key);
    }
    if let Some(path) = std::env::var_os(LIST_OUT_ENV) {
        return write_listing(Path::new(&path));
    }
    if let Some(socket) = std::env::var_os(WORKER_ENV) {
        return crate::worker::serve(Path::new(&socket));
    }
    standalone::run()
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

/// Every registered test, as `cargo tiered` sees it.
pub fn listing() -> Vec<ListedTest> {
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
            timeout_ms: d.timeout_ms,
            retries: d.retries,
            serial: d.serial.map(str::to_string),
            exclusive: d.exclusive,
            isolation: d.isolation,
            session_values: d.session_keys(),
            wants_postgres: d.wants(registry::POSTGRES_DATABASE),
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

/// The timeout of a test that sets none, for a binary run alone:
/// `TIERED_TIMEOUT_TIERn_MS`, else Bazel's test sizes: 60 s in tier 1,
/// 5 minutes in tier 2, 15 in tier 3.
pub fn default_timeout_ms(tier: u8) -> u64 {
    static CONFIGURED: OnceLock<[Option<u64>; 3]> = OnceLock::new();
    let configured = CONFIGURED.get_or_init(|| {
        [1, 2, 3].map(|t| {
            std::env::var(crate::protocol::timeout_env(t))
                .ok()
                .and_then(|v| v.trim().parse().ok())
        })
    });
    configured
        .get(usize::from(tier.clamp(1, 3)) - 1)
        .copied()
        .flatten()
        .unwrap_or(builtin_timeout_ms(tier))
}

/// The built-in limit of a tier's tests: 60 s, 5 min, 15 min.
pub fn builtin_timeout_ms(tier: u8) -> u64 {
    match tier {
        1 => 60_000,
        2 => 300_000,
        _ => 900_000,
    }
}
