//! Load scenarios scaled to a test: N virtual users running one async
//! operation, optionally ramping from `a` to `b` users over a period,
//! bounded by a duration and/or an iteration count — it always stops by
//! itself (10 s when no bound is given).
//!
//! Each call is a [`crate::perf::Sample`] under the scenario's name, so its
//! latencies join the session's SLA table; the [`LoadReport`] adds
//! throughput and error rate, judged by `min_throughput` and
//! `max_error_rate`. Point it only at the session's own services.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::perf::LoadReport;
use crate::perf::{Outcome, Perf};

/// The bound used when a scenario sets neither a duration nor iterations.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// A load scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    name: String,
    users: u32,
    ramp: Option<(u32, u32, Duration)>,
    duration: Option<Duration>,
    iterations: Option<u64>,
}

impl Scenario {
    /// A scenario of one user, bounded by [`DEFAULT_DURATION`].
    pub fn new(name: impl Into<String>) -> Self {
        Scenario {
            name: name.into(),
            users: 1,
            ramp: None,
            duration: None,
            iterations: None,
        }
    }

    /// Runs with `n` virtual users from the start.
    pub fn users(mut self, n: u32) -> Self {
        self.users = n.max(1);
        self.ramp = None;
        self
    }

    /// Starts with `from` users and adds users evenly until `to` after `over`.
    pub fn ramp(mut self, from: u32, to: u32, over: Duration) -> Self {
        let (from, to) = (from.max(1), to.max(from.max(1)));
        self.users = to;
        self.ramp = Some((from, to, over));
        self
    }

    /// Stops after this long.
    pub fn duration(mut self, d: Duration) -> Self {
        self.duration = Some(d);
        self
    }

    /// Stops after this many operations in all.
    pub fn iterations(mut self, n: u64) -> Self {
        self.iterations = Some(n);
        self
    }

    /// When user `i` (0-based) starts.
    fn start_offset(&self, i: u32) -> Duration {
        match self.ramp {
            Some((from, to, over)) if i >= from && to > from => {
                over.mul_f64(f64::from(i - from + 1) / f64::from(to - from))
            }
            _ => Duration::ZERO,
        }
    }

    /// Runs the scenario: `op(i)` is called for iteration `i` by whichever
    /// user is free. Every call is recorded through `perf`.
    pub async fn run<F, Fut, T>(&self, perf: &Perf, op: F) -> LoadReport
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Outcome + Send + 'static,
    {
        let bound = match (self.duration, self.iterations) {
            (None, None) => Some(DEFAULT_DURATION),
            (d, _) => d,
        };
        let start = Instant::now();
        let deadline = bound.map(|d| start + d);
        let next = Arc::new(AtomicU64::new(0));
        let op = Arc::new(op);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..self.users {
            let offset = self.start_offset(i);
            let (next, op) = (next.clone(), op.clone());
            let limit = self.iterations;
            tasks.spawn(async move {
                let mut lat: Vec<(f64, bool)> = Vec::new();
                tokio::time::sleep(offset).await;
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if limit.is_some_and(|l| n >= l) {
                        break;
                    }
                    let t = Instant::now();
                    let out = op(n).await;
                    lat.push((t.elapsed().as_secs_f64() * 1000.0, out.is_failure()));
                }
                lat
            });
        }
        let mut all: Vec<(f64, bool)> = Vec::new();
        while let Some(r) = tasks.join_next().await {
            if let Ok(v) = r {
                all.extend(v);
            }
        }
        let elapsed = start.elapsed();
        for (ms, err) in &all {
            perf.recorder().sample(&self.name, *ms, *err);
        }
        let mut ms: Vec<f64> = all.iter().map(|(m, _)| *m).collect();
        ms.sort_by(f64::total_cmp);
        let errors = all.iter().filter(|(_, e)| *e).count() as u64;
        let n = all.len() as u64;
        let secs = elapsed.as_secs_f64().max(f64::EPSILON);
        let report = LoadReport {
            scenario: self.name.clone(),
            users: self.users,
            duration_ms: secs * 1000.0,
            iterations: n,
            errors,
            throughput: n as f64 / secs,
            error_rate: if n == 0 {
                0.0
            } else {
                errors as f64 / n as f64
            },
            p50_ms: crate::perf::percentile(&ms, 50.0).unwrap_or(0.0),
            p95_ms: crate::perf::percentile(&ms, 95.0).unwrap_or(0.0),
            p99_ms: crate::perf::percentile(&ms, 99.0).unwrap_or(0.0),
            max_ms: ms.last().copied().unwrap_or(0.0),
        };
        perf.recorder().load(report.clone());
        report
    }
}
