//! Measuring inside tests: the [`Perf`] fixture.
//!
//! `perf.measure("database_query", async { … }).await` times the operation,
//! returns its own result, and records one [`Sample`]: the operation's name,
//! its duration and whether it failed (an `Err` counts as an error of that
//! operation — it is never hidden). Samples travel with the test's result to
//! `cargo tiered`, which merges them across every test and binary of the
//! session and judges them against SLAs ([`crate::sla`]).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// One timed operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The operation's name (`database_query`).
    pub op: String,
    /// Its duration in milliseconds.
    pub ms: f64,
    /// Whether it failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub error: bool,
}

/// Whether an operation's result is a failure: `Err` is; `()` and other
/// plain values are not.
pub trait Outcome {
    /// True when the operation failed.
    fn is_failure(&self) -> bool;
}

impl<T, E> Outcome for Result<T, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

impl Outcome for () {
    fn is_failure(&self) -> bool {
        false
    }
}

impl Outcome for bool {
    /// `false` is a failed operation (a check that did not hold).
    fn is_failure(&self) -> bool {
        !*self
    }
}

/// Where a test's samples (and load reports) are kept until it ends.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<Recorded>>,
}

/// What a test measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// Every timed operation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
    /// Every load scenario run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load: Vec<LoadReport>,
}

impl Recorder {
    /// Records one sample.
    pub fn sample(&self, op: &str, ms: f64, error: bool) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .samples
            .push(Sample {
                op: op.to_string(),
                ms,
                error,
            });
    }

    /// Records a load scenario's result.
    pub fn load(&self, report: LoadReport) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .load
            .push(report);
    }

    /// Takes everything recorded so far.
    pub fn take(&self) -> Recorded {
        std::mem::take(&mut *self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Times operations inside a test.
///
/// ```ignore
/// #[tiered::test(tier = 2)]
/// async fn lists_fast(pg: tiered::Postgres, perf: tiered::Perf) -> Result<(), tiered::sqlx::Error> {
///     perf.measure("database_query", tiered::sqlx::query("select 1").execute(pg.pool())).await?;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Perf {
    recorder: Recorder,
}

impl Perf {
    /// A `Perf` recording into `recorder`.
    pub fn new(recorder: Recorder) -> Self {
        Perf { recorder }
    }

    /// Awaits `op`, recording its duration under `name`; returns its result.
    pub async fn measure<F>(&self, name: &str, op: F) -> F::Output
    where
        F: Future,
        F::Output: Outcome,
    {
        let start = Instant::now();
        let out = op.await;
        self.recorder.sample(
            name,
            start.elapsed().as_secs_f64() * 1000.0,
            out.is_failure(),
        );
        out
    }

    /// Runs `op`, recording its duration under `name`; returns its result.
    pub fn measure_sync<T: Outcome>(&self, name: &str, op: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = op();
        self.recorder.sample(
            name,
            start.elapsed().as_secs_f64() * 1000.0,
            out.is_failure(),
        );
        out
    }

    /// The recorder, for load scenarios.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

/// What a scenario did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The scenario's name (also the operation name of its samples).
    pub scenario: String,
    /// Most virtual users at once.
    pub users: u32,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// Operations run.
    pub iterations: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Operations per second.
    pub throughput: f64,
    /// errors / iterations (0 when none ran).
    pub error_rate: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// Nearest-rank percentile of sorted values; `None` when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}
