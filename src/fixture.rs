//! Fixtures: the values a test takes as parameters.
//!
//! `async fn stores(db: MyFixture)` asks the harness to build a `MyFixture`
//! before the test runs. A type becomes a fixture by implementing
//! [`Fixture`]: it says which services it needs (so the harness starts only
//! those) and how to set itself up from the [`TestContext`]. A setup that
//! fails makes the test an *error* — not executed — never a pass or a skip.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::registry::TestFailure;

/// What a fixture sees while it is set up: the test it is for.
#[derive(Clone, Debug)]
pub struct TestContext {
    inner: Arc<ContextInner>,
}

/// Cleanup a fixture registers: told whether the test passed, it may
/// return a note for the report (e.g. what it kept for inspection).
pub type Teardown =
    Box<dyn FnOnce(bool) -> Pin<Box<dyn Future<Output = Option<String>> + Send>> + Send>;

struct ContextInner {
    test_name: String,
    tier: u8,
    teardowns: Mutex<Vec<Teardown>>,
    recorder: crate::perf::Recorder,
}

impl fmt::Debug for ContextInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestContext")
            .field("test_name", &self.test_name)
            .field("tier", &self.tier)
            .finish_non_exhaustive()
    }
}

impl TestContext {
    /// A context for the named test.
    pub fn new(test_name: impl Into<String>, tier: u8) -> Self {
        TestContext {
            inner: Arc::new(ContextInner {
                test_name: test_name.into(),
                tier,
                teardowns: Mutex::new(Vec::new()),
                recorder: crate::perf::Recorder::default(),
            }),
        }
    }

    /// The full name of the test being set up.
    pub fn test_name(&self) -> &str {
        &self.inner.test_name
    }

    /// The tier of the test being set up.
    pub fn tier(&self) -> u8 {
        self.inner.tier
    }

    /// Where the test's measurements are kept.
    pub fn recorder(&self) -> &crate::perf::Recorder {
        &self.inner.recorder
    }

    /// Registers cleanup to run after the test, whatever its outcome
    /// (last registered, first run).
    pub fn on_teardown<F>(&self, f: F)
    where
        F: FnOnce(bool) -> Pin<Box<dyn Future<Output = Option<String>> + Send>> + Send + 'static,
    {
        self.inner
            .teardowns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(f));
    }

    /// Runs the registered cleanups; returns their notes.
    pub async fn run_teardowns(&self, passed: bool) -> Vec<String> {
        let fns: Vec<Teardown> = std::mem::take(
            &mut *self
                .inner
                .teardowns
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        let mut notes = Vec::new();
        for f in fns.into_iter().rev() {
            if let Some(n) = f(passed).await {
                notes.push(n);
            }
        }
        notes
    }
}

/// A value a `#[tiered::test]` function can take as a parameter.
///
/// ```ignore
/// struct Answer(u32);
/// impl tiered::Fixture for Answer {
///     async fn setup(_ctx: &tiered::TestContext) -> Result<Self, tiered::FixtureError> {
///         Ok(Answer(42))
///     }
/// }
/// #[tiered::test(tier = 1)]
/// fn knows(answer: Answer) { assert_eq!(answer.0, 42); }
/// ```
pub trait Fixture: Sized + Send + 'static {
    /// Adds the names of the services this fixture needs (and the fixtures
    /// it builds on need) to `out`.
    fn needs(out: &mut Vec<&'static str>) {
        let _ = out;
    }

    /// Builds the fixture for one test.
    fn setup(ctx: &TestContext) -> impl Future<Output = Result<Self, FixtureError>> + Send;
}

/// A fixture could not be set up.
#[derive(Debug)]
pub struct FixtureError {
    fixture: &'static str,
    message: String,
}

impl FixtureError {
    /// A setup failure of the fixture type `F`, with what went wrong.
    pub fn new<F>(message: impl fmt::Display) -> Self {
        FixtureError {
            fixture: std::any::type_name::<F>(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fixture `{}` could not be set up: {}",
            self.fixture, self.message
        )
    }
}

impl std::error::Error for FixtureError {}

/// Sets up the fixture `F` for a test; a failure makes the test an error.
#[doc(hidden)]
pub async fn setup_fixture<F: Fixture>(ctx: &TestContext) -> Result<F, TestFailure> {
    F::setup(ctx)
        .await
        .map_err(|e| TestFailure::Error(e.to_string()))
}
