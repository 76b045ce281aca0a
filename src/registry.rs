//! The registry: every `#[tiered::test]` becomes a [`TestDef`] collected with
//! `inventory`, so a harness binary knows its tests without a build script.
//!
//! A `TestDef` is plain static data plus a function pointer ([`TestBody`]).
//! Names follow libtest: the module path inside the binary, without the crate
//! name (`config::rejects_unknown_keys`), so filters behave as `cargo test`
//! users expect.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use crate::fixture::TestContext;
pub use crate::tier::Isolation;
use crate::tier::Tier;

/// A test registered by `#[tiered::test]`.
pub struct TestDef {
    /// The function's name.
    pub name: &'static str,
    /// `module_path!()` where the function is declared (crate name first).
    pub module_path: &'static str,
    /// The tier number, 1–3 (checked by the attribute).
    pub tier: u8,
    /// `ignore` was given.
    pub ignored: bool,
    /// The reason given with `ignore = "…"`.
    pub ignore_reason: Option<&'static str>,
    /// What `should_panic` asked for.
    pub should_panic: ShouldPanic,
    /// `timeout = "…"` in milliseconds.
    pub timeout_ms: Option<u64>,
    /// `retries = N`: reruns after a failure; `None`: the run's default
    /// (`cargo tiered --retries`, `retries` in tiered.toml, else 0).
    pub retries: Option<u32>,
    /// `tags = […]`.
    pub tags: &'static [&'static str],
    /// `serial` (the group `serial`) or `serial = "group"`: runs one at a
    /// time with the other tests of its group.
    pub serial: Option<&'static str>,
    /// `exclusive`: nothing else runs while it does.
    pub exclusive: bool,
    /// `isolation = "process"` / `"worker"`; `None`: the tier's default
    /// (`[isolation]` in tiered.toml, else a shared worker).
    pub isolation: Option<Isolation>,
    /// Adds the services the test's fixtures need.
    pub needs: fn(&mut Vec<&'static str>),
    /// Adds the session-scoped values the test's fixtures need.
    pub session_inits: fn(&mut Vec<crate::fixture::SessionInit>),
    /// Source file of the declaration.
    pub file: &'static str,
    /// Source line of the declaration.
    pub line: u32,
    /// How to run it.
    pub body: TestBody,
}

inventory::collect!(TestDef);

/// A future a test body returns.
pub type BoxTestFuture = Pin<Box<dyn Future<Output = TestResult> + Send>>;

/// How a test runs.
#[derive(Clone, Copy)]
pub enum TestBody {
    /// A plain `fn` without fixtures: called on the test thread.
    Sync(fn() -> TestResult),
    /// An `async fn`, or any test with fixtures: driven on the shared runtime.
    Async(fn(TestContext) -> BoxTestFuture),
}

/// What `should_panic` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShouldPanic {
    /// The test must not panic.
    No,
    /// The test must panic.
    Yes,
    /// The test must panic with a message containing this text.
    WithMessage(&'static str),
}

pub use crate::fixture::TestFailure;

/// The result of running a test body.
pub type TestResult = Result<(), TestFailure>;

/// What a test function may return: `()` or `Result<(), E: Debug>`.
pub trait IntoTestResult {
    /// Converts the return value into a verdict.
    fn into_test_result(self) -> TestResult;
}

impl IntoTestResult for () {
    fn into_test_result(self) -> TestResult {
        Ok(())
    }
}

impl<E: Debug> IntoTestResult for Result<(), E> {
    fn into_test_result(self) -> TestResult {
        self.map_err(|e| TestFailure::Failed(format!("Error: {e:?}")))
    }
}

impl TestDef {
    /// The libtest-style name: module path inside the binary, then the
    /// function name.
    pub fn full_name(&self) -> String {
        match self.module_path.split_once("::") {
            Some((_crate, rest)) => format!("{rest}::{}", self.name),
            None => self.name.to_string(),
        }
    }

    /// The crate the test is declared in: the first segment of its module path.
    pub fn crate_name(&self) -> &'static str {
        self.module_path
            .split_once("::")
            .map_or(self.module_path, |(k, _)| k)
    }

    /// The keys of the session values ([`crate::PerSession`]) its fixtures
    /// take, as [`crate::fixture::session_key`] writes them.
    pub fn session_keys(&self) -> Vec<String> {
        let mut v = Vec::new();
        (self.session_inits)(&mut v);
        let mut keys: Vec<String> = v
            .iter()
            .map(|i| crate::fixture::session_key(i.key, self.crate_name()))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The test's tier.
    pub fn tier(&self) -> Tier {
        Tier::new(self.tier).unwrap_or(Tier::ALL[0])
    }

    /// The services the test needs, sorted and without repeats.
    pub fn services(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        (self.needs)(&mut v);
        v.retain(|n| !n.contains('/'));
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether a fixture of the test asked for `wish`: a name with a `/`
    /// that a fixture adds in [`Fixture::needs`](crate::Fixture::needs)
    /// beside its services, such as [`POSTGRES_DATABASE`].
    pub fn wants(&self, wish: &str) -> bool {
        let mut v = Vec::new();
        (self.needs)(&mut v);
        v.contains(&wish)
    }
}

/// The wish of the [`Postgres`](crate::Postgres) fixture: a database the
/// harness may claim for the test before its process starts.
pub const POSTGRES_DATABASE: &str = "postgres/database";

/// Every test registered in this binary, sorted by name.
pub fn all() -> Vec<&'static TestDef> {
    let mut defs: Vec<&'static TestDef> = inventory::iter::<TestDef>.into_iter().collect();
    defs.sort_by_cached_key(|d| d.full_name());
    defs
}
