//! Service-level agreements: what the session's measurements must meet.
//!
//! Samples of the same operation from every test and binary are merged into
//! [`OperationStats`] (count, errors, min, mean, median, p95, p99, max).
//! Percentiles use the **nearest-rank** method: the p-th percentile of n
//! sorted samples is the one at rank ⌈p/100 · n⌉. Below [`MIN_SAMPLES`]
//! samples a tail percentile cannot be told apart from the worst case, so
//! p95 and p99 are reported as the maximum (as the performance monitor this
//! harness grew from did) — conservative, never flattering.
//!
//! An [`SlaSpec`] sets thresholds (p95 by default, p99, error rate, load
//! throughput). [`evaluate`] judges every configured SLA, and every default
//! one whose operation was measured; a configured SLA with no measurement is
//! "not measured" and not met — no claim without proof. Each result carries
//! an alert level: warning from 80 % of the threshold, critical from 100 %
//! (not met), emergency from 120 %.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::perf::{LoadReport, Sample};

/// Below this many samples, p95 and p99 are the maximum.
pub const MIN_SAMPLES: usize = 20;

pub use crate::perf::percentile;

/// One operation across the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationStats {
    /// The operation.
    pub operation: String,
    /// Samples.
    pub count: usize,
    /// Failed samples.
    pub errors: usize,
    /// Fastest, ms.
    pub min_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Median (p50), ms.
    pub p50_ms: f64,
    /// 95th percentile, ms (the maximum below 20 samples).
    pub p95_ms: f64,
    /// 99th percentile, ms (the maximum below 20 samples).
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// Groups samples by operation and computes their statistics.
pub fn stats(samples: &[Sample]) -> Vec<OperationStats> {
    let mut by_op: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        by_op.entry(s.op.as_str()).or_default().push(s);
    }
    by_op
        .into_iter()
        .map(|(op, v)| {
            let mut ms: Vec<f64> = v.iter().map(|s| s.ms).collect();
            ms.sort_by(f64::total_cmp);
            let max = *ms.last().unwrap_or(&0.0);
            let tail = |p: f64| {
                if ms.len() < MIN_SAMPLES {
                    max
                } else {
                    percentile(&ms, p).unwrap_or(max)
                }
            };
            OperationStats {
                operation: op.to_string(),
                count: ms.len(),
                errors: v.iter().filter(|s| s.error).count(),
                min_ms: ms.first().copied().unwrap_or(0.0),
                mean_ms: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
                p50_ms: percentile(&ms, 50.0).unwrap_or(0.0),
                p95_ms: tail(95.0),
                p99_ms: tail(99.0),
                max_ms: max,
            }
        })
        .collect()
}

pub use crate::config::SlaSpec;

/// The SLAs that apply when an operation of that name is measured and the
/// configuration does not set one: the seeds' performance targets.
pub fn defaults() -> Vec<(&'static str, SlaSpec)> {
    let p95 = |ms| SlaSpec {
        p95: Some(Duration::from_millis(ms)),
        ..SlaSpec::default()
    };
    vec![
        ("api_response", p95(2000)),
        ("database_query", p95(500)),
        ("classification", p95(500)),
        ("safety_check", p95(1000)),
        ("search_operation", p95(300)),
    ]
}

/// Alert level of a figure against its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Below 80 % of the threshold.
    Ok,
    /// From 80 %.
    Warning,
    /// From 100 %: the SLA is not met.
    Critical,
    /// From 120 %.
    Emergency,
    /// Configured but nothing was measured.
    NotMeasured,
}

impl Level {
    /// The level of `actual` against `threshold` (higher is worse).
    pub fn of(actual: f64, threshold: f64) -> Level {
        if threshold <= 0.0 {
            return if actual > 0.0 {
                Level::Emergency
            } else {
                Level::Ok
            };
        }
        let r = actual / threshold;
        if r >= 1.2 {
            Level::Emergency
        } else if r >= 1.0 {
            Level::Critical
        } else if r >= 0.8 {
            Level::Warning
        } else {
            Level::Ok
        }
    }

    /// The word in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Critical => "critical",
            Level::Emergency => "emergency",
            Level::NotMeasured => "not measured",
        }
    }
}

/// One SLA, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaResult {
    /// The operation.
    pub operation: String,
    /// Samples.
    pub count: usize,
    /// Failed samples.
    pub errors: usize,
    /// Median, ms.
    pub p50_ms: Option<f64>,
    /// p95, ms.
    pub p95_ms: Option<f64>,
    /// p99, ms.
    pub p99_ms: Option<f64>,
    /// Slowest, ms.
    pub max_ms: Option<f64>,
    /// The latency threshold checked (p95's, else p99's), ms.
    pub threshold_ms: Option<f64>,
    /// Which percentile the threshold is on: `p95` or `p99`.
    pub threshold_on: Option<String>,
    /// Worst level over every requirement of the SLA.
    pub level: Level,
    /// Whether every requirement held.
    pub met: bool,
    /// Failed fraction, 0–1.
    pub error_rate: Option<f64>,
    /// The error-rate limit, when set.
    pub max_error_rate: Option<f64>,
    /// Operations per second of a load scenario of that name.
    pub throughput: Option<f64>,
    /// The throughput floor, when set.
    pub min_throughput: Option<f64>,
    /// Where the SLA comes from: `config`, `default` or `startup`.
    pub source: String,
    /// The requirements that did not hold, in words.
    pub breaches: Vec<String>,
}

/// The session's statistics and SLA judgements: the tests' `samples` plus
/// one `startup.<service>` sample per service that came up, judged by the
/// `configured` SLAs, the defaults for measured operations, and each
/// service's startup SLA. A run and a merge of shards both come here, so
/// they judge alike.
pub fn judge_session(
    samples: &[Sample],
    load: &[LoadReport],
    services: &[crate::services::ServiceReport],
    configured: &BTreeMap<String, SlaSpec>,
) -> (Vec<OperationStats>, Vec<SlaResult>) {
    let mut samples = samples.to_vec();
    let mut startup: Vec<(String, SlaSpec, &'static str)> = Vec::new();
    for r in services.iter().filter(|r| r.ok) {
        let op = format!("startup.{}", r.name);
        samples.push(Sample {
            op: op.clone(),
            ms: r.startup_ms,
            error: false,
        });
        if !startup.iter().any(|(n, _, _)| *n == op) {
            startup.push((
                op,
                SlaSpec {
                    p95: Some(Duration::from_secs_f64(r.sla_ms / 1000.0)),
                    ..SlaSpec::default()
                },
                "startup",
            ));
        }
    }
    let stats = stats(&samples);
    let results = evaluate(&stats, load, configured, &startup);
    (stats, results)
}

/// Judges SLAs: `configured` ones always, `defaults` for measured operations.
pub fn evaluate(
    stats: &[OperationStats],
    load: &[LoadReport],
    configured: &BTreeMap<String, SlaSpec>,
    extra: &[(String, SlaSpec, &'static str)],
) -> Vec<SlaResult> {
    let mut specs: Vec<(String, SlaSpec, &'static str)> = configured
        .iter()
        .map(|(k, v)| (k.clone(), v.clone(), "config"))
        .collect();
    for (name, spec, source) in extra {
        if !specs.iter().any(|(n, _, _)| n == name) {
            specs.push((name.clone(), spec.clone(), source));
        }
    }
    for (name, spec) in defaults() {
        if !specs.iter().any(|(n, _, _)| n == name) && stats.iter().any(|s| s.operation == name) {
            specs.push((name.to_string(), spec, "default"));
        }
    }
    specs.sort_by(|a, b| a.0.cmp(&b.0));
    specs
        .into_iter()
        .map(|(name, spec, source)| judge(&name, &spec, source, stats, load))
        .collect()
}

fn judge(
    name: &str,
    spec: &SlaSpec,
    source: &str,
    stats: &[OperationStats],
    load: &[LoadReport],
) -> SlaResult {
    let st = stats.iter().find(|s| s.operation == name);
    let lr = load.iter().find(|l| l.scenario == name);
    let (threshold, on) = match (spec.p95, spec.p99) {
        (Some(t), _) => (Some(t), Some("p95")),
        (None, Some(t)) => (Some(t), Some("p99")),
        _ => (None, None),
    };
    let mut out = SlaResult {
        operation: name.to_string(),
        count: st.map_or(0, |s| s.count),
        errors: st.map_or(0, |s| s.errors),
        p50_ms: st.map(|s| s.p50_ms),
        p95_ms: st.map(|s| s.p95_ms),
        p99_ms: st.map(|s| s.p99_ms),
        max_ms: st.map(|s| s.max_ms),
        threshold_ms: threshold.map(|t| t.as_secs_f64() * 1000.0),
        threshold_on: on.map(str::to_string),
        level: Level::Ok,
        met: true,
        error_rate: st.map(|s| s.errors as f64 / s.count.max(1) as f64),
        max_error_rate: spec.max_error_rate,
        throughput: lr.map(|l| l.throughput),
        min_throughput: spec.min_throughput,
        source: source.to_string(),
        breaches: Vec::new(),
    };
    let Some(st) = st else {
        out.level = Level::NotMeasured;
        out.met = false;
        out.breaches
            .push("not measured: no test recorded this operation".into());
        return out;
    };
    let mut worst = Level::Ok;
    let mut check = |label: &str, actual: f64, limit: f64, unit: &str| {
        let level = Level::of(actual, limit);
        worst = worst.max(level);
        if level >= Level::Critical {
            out.breaches.push(format!(
                "{label} {actual:.1}{unit} exceeds {limit:.1}{unit}"
            ));
        }
    };
    if let Some(t) = spec.p95 {
        check("p95", st.p95_ms, t.as_secs_f64() * 1000.0, "ms");
    }
    if let Some(t) = spec.p99 {
        check("p99", st.p99_ms, t.as_secs_f64() * 1000.0, "ms");
    }
    if let Some(max) = spec.max_error_rate {
        let rate = st.errors as f64 / st.count.max(1) as f64;
        let level = if rate > max {
            Level::Critical
        } else {
            Level::Ok
        };
        worst = worst.max(level);
        if level >= Level::Critical {
            out.breaches
                .push(format!("error rate {rate:.3} exceeds {max:.3}"));
        }
    }
    if let Some(min) = spec.min_throughput {
        match lr {
            Some(l) if l.throughput >= min => {}
            Some(l) => {
                worst = worst.max(Level::Critical);
                out.breaches.push(format!(
                    "throughput {:.1} ops/s is below {min:.1} ops/s",
                    l.throughput
                ));
            }
            None => {
                worst = worst.max(Level::Critical);
                out.breaches
                    .push("throughput not measured: no load scenario of this name ran".into());
            }
        }
    }
    out.level = worst;
    out.met = worst < Level::Critical;
    out
}
