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
    /// The crate the test is declared in (the test binary's, mostly).
    krate: String,
    teardowns: Mutex<Vec<Teardown>>,
    recorder: crate::perf::Recorder,
    /// Time spent setting up fixtures, in microseconds.
    setup_us: std::sync::atomic::AtomicU64,
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
                krate: String::new(),
                teardowns: Mutex::new(Vec::new()),
                recorder: crate::perf::Recorder::default(),
                setup_us: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// The context of a test of crate `krate` (the first segment of its
    /// module path).
    pub(crate) fn in_crate(test_name: String, tier: u8, krate: &str) -> Self {
        let mut ctx = TestContext::new(test_name, tier);
        if let Some(inner) = Arc::get_mut(&mut ctx.inner) {
            inner.krate = krate.to_string();
        }
        ctx
    }

    /// The full name of the test being set up.
    pub fn test_name(&self) -> &str {
        &self.inner.test_name
    }

    /// The tier of the test being set up.
    pub fn tier(&self) -> u8 {
        self.inner.tier
    }

    /// How long the test waited for its fixtures (`None` when it had none).
    pub fn setup_time(&self) -> Option<std::time::Duration> {
        match self
            .inner
            .setup_us
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => None,
            us => Some(std::time::Duration::from_micros(us)),
        }
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

    /// Adds the session-scoped values this fixture needs prepared before
    /// the tests run (see [`PerSession`]); most fixtures need none.
    #[doc(hidden)]
    fn session_inits(out: &mut Vec<SessionInit>) {
        let _ = out;
    }

    /// Builds the fixture for one test.
    fn setup(ctx: &TestContext) -> impl Future<Output = Result<Self, FixtureError>> + Send;
}

/// A value built once per session and shared by every test that takes
/// `PerSession<T>`. It must serialize: tests of tiers 2–3 run in processes
/// of their own, and receive the value the harness built before them.
///
/// ```ignore
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct Pricing { rates: Vec<u32> }
/// impl tiered::SessionFixture for Pricing {
///     async fn setup_session() -> Result<Self, tiered::FixtureError> { Ok(Pricing { rates: load() }) }
/// }
/// #[tiered::test(tier = 2)]
/// fn prices(p: tiered::PerSession<Pricing>) { assert!(!p.rates.is_empty()); }
/// ```
pub trait SessionFixture:
    serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static
{
    /// Adds the services the value needs while it is built.
    fn needs(out: &mut Vec<&'static str>) {
        let _ = out;
    }

    /// Builds the value, once per session.
    fn setup_session() -> impl Future<Output = Result<Self, FixtureError>> + Send;
}

/// A future that builds a session value and returns it as JSON.
pub type SessionInitFuture = Pin<Box<dyn Future<Output = Result<String, FixtureError>> + Send>>;

/// How to build one session-scoped value; registered by fixtures.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct SessionInit {
    /// The key (the type's name).
    pub key: &'static str,
    /// Builds the value as JSON.
    pub init: fn() -> SessionInitFuture,
}

/// The key of a session value of type `type_name` (as
/// `std::any::type_name` writes it) for a test of crate `krate`: the
/// crate's own paths written `crate::…`, so a type in a module that several
/// test binaries include (`mod common;`) has one key in all of them and is
/// built once per `cargo tiered` run.
pub fn session_key(type_name: &str, krate: &str) -> String {
    if krate.is_empty() {
        return type_name.to_string();
    }
    let prefix = format!("{krate}::");
    let mut out = String::with_capacity(type_name.len());
    let mut copied = 0;
    for (at, _) in type_name.match_indices(&prefix) {
        let starts_path = type_name[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
        if starts_path && at >= copied {
            out.push_str(&type_name[copied..at]);
            out.push_str("crate::");
            copied = at + prefix.len();
        }
    }
    out.push_str(&type_name[copied..]);
    out
}

/// The environment variable carrying a session value's JSON.
pub fn session_env_key(key: &str) -> String {
    let mut k = String::from("TIERED_SESSION_FIXTURE_");
    k.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    k
}

/// A test's view of a [`SessionFixture`] built once per session.
#[derive(Debug, Clone)]
pub struct PerSession<T>(pub T);

impl<T> std::ops::Deref for PerSession<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn session_cache() -> &'static Mutex<std::collections::HashMap<&'static str, String>> {
    static CACHE: std::sync::OnceLock<Mutex<std::collections::HashMap<&'static str, String>>> =
        std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

async fn build_json<T: SessionFixture>() -> Result<String, FixtureError> {
    let v = T::setup_session().await?;
    serde_json::to_string(&v).map_err(FixtureError::new::<T>)
}

impl<T: SessionFixture> Fixture for PerSession<T> {
    fn needs(out: &mut Vec<&'static str>) {
        T::needs(out);
    }

    fn session_inits(out: &mut Vec<SessionInit>) {
        out.push(SessionInit {
            key: std::any::type_name::<T>(),
            init: || Box::pin(build_json::<T>()),
        });
    }

    async fn setup(ctx: &TestContext) -> Result<Self, FixtureError> {
        let key = std::any::type_name::<T>();
        let env = session_env_key(&session_key(key, &ctx.inner.krate));
        if let Ok(err) = std::env::var(format!("{env}_ERROR")) {
            return Err(FixtureError::new::<T>(err));
        }
        let json = match std::env::var(&env) {
            Ok(json) => json,
            Err(_) => {
                // Run in this process (tier 1, or a harness without a
                // session): build once and keep it for the process.
                let cached = session_cache()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(key)
                    .cloned();
                match cached {
                    Some(j) => j,
                    None => {
                        let j = build_json::<T>().await?;
                        session_cache()
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(key, j.clone());
                        j
                    }
                }
            }
        };
        serde_json::from_str(&json).map(PerSession).map_err(|e| {
            FixtureError::new::<T>(format!("its session value does not deserialize: {e}"))
        })
    }
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
    let start = std::time::Instant::now();
    let fixture = F::setup(ctx).await;
    let us = (start.elapsed().as_micros() as u64).max(1);
    ctx.inner
        .setup_us
        .fetch_add(us, std::sync::atomic::Ordering::Relaxed);
    fixture.map_err(|e| TestFailure::Error(e.to_string()))
}

/// Why a test did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestFailure {
    /// The test ran and failed (panic or `Err`).
    Failed(String),
    /// The test could not be set up (a fixture or service failed): it was
    /// not executed.
    Error(String),
}

impl Fixture for crate::perf::Perf {
    async fn setup(ctx: &TestContext) -> Result<Self, FixtureError> {
        Ok(crate::perf::Perf::new(ctx.recorder().clone()))
    }
}
