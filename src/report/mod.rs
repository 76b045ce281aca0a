//! The session report: everything one `cargo tiered` run measured and judged,
//! and the writers that turn it into JSON ([`json`]), JUnit XML ([`junit`],
//! behind the internal feature), HTML ([`html`]), the terminal summary
//! ([`summary`]) and the GitHub Actions job summary ([`github`]).
//!
//! [`SessionReport`] is the single model all three read, so the numbers a CI
//! system ingests are the numbers a person reads. Its serde form *is* the
//! documented JSON report: field names here are a contract.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::gates::GateResult;
use crate::protocol::Outcome;
use crate::rates::{Counts, Rates};

pub mod github;
pub mod html;
pub mod json;
#[cfg(feature = "_cargo_tiered")]
pub mod junit;
pub mod summary;
#[cfg(feature = "_cargo_tiered")]
pub mod write;

/// PASS or FAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Every selected test passed, or every requested gate passed.
    #[serde(rename = "PASS")]
    Pass,
    /// Otherwise.
    #[serde(rename = "FAIL")]
    Fail,
}

impl Verdict {
    /// `"PASS"` or `"FAIL"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        }
    }
}

/// Counts and rates of one tier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TierReport {
    /// The counts.
    pub totals: Counts,
    /// The rates over declared tests.
    pub rates: Rates,
}

/// One test in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestEntry {
    /// libtest-style name.
    pub name: String,
    /// The test target (binary) it belongs to.
    pub binary: String,
    /// Tier 1–3.
    pub tier: u8,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// Failure message, or why it did not run.
    pub message: Option<String>,
    /// Captured standard output (failures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Captured standard error (failures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// How long the test waited for its fixtures, in ms (tests with
    /// fixtures only): a fresh database, a logical Redis database, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_ms: Option<f64>,
    /// The failed runs before the last (`retries`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<crate::protocol::Attempt>,
    /// Passed only after failing: `retries` is not empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
}

/// A test target that did not build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildFailure {
    /// The target's name.
    pub target: String,
    /// Its package.
    #[serde(default)]
    pub package: String,
    /// The compiler's first error, rendered.
    pub message: String,
}

/// One use of a mocking crate in tier-2/3 test sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MockingUse {
    /// The crate.
    #[serde(rename = "crate")]
    pub krate: String,
    /// `file:line`.
    pub location: String,
    /// Why it is allowed, when `[mocking.allow]` allows it.
    pub allowed: Option<String>,
}

/// Everything one run measured and judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    /// The verdict.
    pub verdict: Verdict,
    /// Tiers this run selected.
    pub selected_tiers: Vec<u8>,
    /// Counts over the selected tiers.
    pub totals: Counts,
    /// Rates over the selected tiers.
    pub rates: Rates,
    /// Per tier, keyed "1", "2", "3".
    pub tiers: BTreeMap<String, TierReport>,
    /// Every selected test.
    pub tests: Vec<TestEntry>,
    /// Requested gates, judged.
    pub gates: Vec<GateResult>,
    /// Test targets that did not build.
    pub build_failures: Vec<BuildFailure>,
    /// The session id: the value of the `dev.tiered.session` label on its
    /// containers.
    #[serde(default)]
    pub session: Option<String>,
    /// Services provisioned for the run (none for tier-1-only runs).
    #[serde(default)]
    pub services: Vec<crate::services::ServiceReport>,
    /// Uses of mocking crates found in tier-2/3 sources.
    #[serde(default)]
    pub mocking: Vec<MockingUse>,
    /// Every SLA judged: configured ones, defaults for measured operations,
    /// service startups.
    #[serde(default)]
    pub sla: Vec<crate::sla::SlaResult>,
    /// Every measured operation across the session.
    #[serde(default)]
    pub operations: Vec<crate::sla::OperationStats>,
    /// Every load scenario run.
    #[serde(default)]
    pub load: Vec<crate::load::LoadReport>,
    /// Wall time of the whole run, build included, in milliseconds.
    pub duration_ms: f64,
    /// The shard this run was (`--partition`): every count above is over
    /// its share of the selection; the whole selection's are in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<crate::partition::ShardInfo>,
    /// The shards this report was merged from (`cargo tiered merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<crate::partition::MergedShards>,
    /// The signal that stopped the run (`SIGINT`, `SIGTERM`): what had
    /// finished is reported, the rest is not run, and the verdict is FAIL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// Why the run did not run every selected test although nothing
    /// interrupted it (`--fail-fast` stopped it after a failure): the tests
    /// it did not start are `not_run`, and every gate fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    /// Where the run's time went, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// Where a run's wall time went, phase by phase, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// `cargo metadata` and `cargo build`.
    pub build_ms: f64,
    /// Listing the binaries, scanning the sources, selecting.
    pub plan_ms: f64,
    /// Starting (or checking kept) services and building session values.
    pub services_ms: f64,
    /// From the first worker started to the last result.
    pub tests_ms: f64,
    /// Removing the session's containers.
    pub teardown_ms: f64,
}

/// The one-line summary of a failure message: its first line, or for a
/// panic the message's first line with its location
/// (`assertion failed: x (at src/a.rs:3:5)`).
pub fn headline(text: &str) -> String {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("");
    match first
        .strip_prefix("panicked at ")
        .and_then(|l| l.strip_suffix(':'))
    {
        Some(location) => format!("{} (at {location})", lines.next().unwrap_or("panicked")),
        None => first.to_string(),
    }
}

/// What a run measured, before it is judged.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Tiers the run selected.
    pub selected_tiers: Vec<u8>,
    /// Declared tests per tier.
    pub declared: BTreeMap<u8, u64>,
    /// Discovered tests per tier.
    pub discovered: BTreeMap<u8, u64>,
    /// Every selected test with its outcome.
    pub tests: Vec<TestEntry>,
    /// Targets that did not build.
    pub build_failures: Vec<BuildFailure>,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
}

impl SessionReport {
    /// Builds the counts, rates and verdict from what was measured; `gates`
    /// are the requested gates (each with the tiers it covers, `None`: all
    /// selected), judged with `evidence`.
    pub fn assemble(
        measured: Measured,
        gates: &[(String, crate::config::GateSpec)],
        evidence: &crate::gates::Evidence,
    ) -> SessionReport {
        let Measured {
            selected_tiers,
            declared,
            discovered,
            tests,
            build_failures,
            duration_ms,
        } = measured;
        let mut per_tier: BTreeMap<u8, Counts> = BTreeMap::new();
        for &t in &selected_tiers {
            let c = per_tier.entry(t).or_default();
            c.declared = declared.get(&t).copied().unwrap_or(0);
        }
        for test in &tests {
            per_tier.entry(test.tier).or_default().record(test.outcome);
        }
        for (&t, c) in per_tier.iter_mut() {
            // Tests that never made it into a binary are declared, not discovered.
            c.discovered = discovered.get(&t).copied().unwrap_or(0);
            c.declared = c.declared.max(c.discovered);
        }
        let mut totals = Counts::default();
        for c in per_tier.values() {
            totals.add(c);
        }
        let gate_results: Vec<GateResult> = gates
            .iter()
            .map(|(name, spec)| {
                let counts = match &spec.tiers {
                    None => totals,
                    Some(tiers) => {
                        let mut c = Counts::default();
                        for t in tiers {
                            if let Some(tc) = per_tier.get(t) {
                                c.add(tc);
                            }
                        }
                        c
                    }
                };
                crate::gates::evaluate(name, spec, &counts, evidence)
            })
            .collect();
        let verdict = if !gate_results.is_empty() {
            gate_results.iter().all(|g| g.passed)
        } else {
            totals.failed == 0 && totals.errors == 0 && build_failures.is_empty()
        };
        SessionReport {
            verdict: if verdict {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            selected_tiers,
            totals,
            rates: totals.rates(),
            tiers: per_tier
                .into_iter()
                .map(|(t, c)| {
                    (
                        t.to_string(),
                        TierReport {
                            totals: c,
                            rates: c.rates(),
                        },
                    )
                })
                .collect(),
            tests,
            gates: gate_results,
            build_failures,
            session: None,
            services: Vec::new(),
            mocking: Vec::new(),
            sla: Vec::new(),
            operations: Vec::new(),
            load: Vec::new(),
            duration_ms,
            partition: None,
            merged: None,
            interrupted: None,
            incomplete: None,
            timings: None,
        }
    }

    /// Whether no test at all was selected (nothing declared or discovered).
    pub fn is_empty(&self) -> bool {
        self.totals.declared == 0 && self.build_failures.is_empty()
    }
}
