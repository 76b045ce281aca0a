//! Gates: named sets of criteria that turn the run's numbers into a verdict.
//!
//! Three gates are built in, from the phase gates this harness grew from:
//! `discovery` (discovery ≥ 90 %), `integration` (execution ≥ 80 %) and
//! `release` (success ≥ 70 %). A `[gates.NAME]` table in `tiered.toml`
//! replaces the built-in of the same name or adds a new gate.
//! [`evaluate`] judges one gate against [`Counts`] and keeps, for every
//! criterion, what was required, what was measured and whether it held, so
//! that reports can show the reasoning and not only the verdict.

use serde::{Deserialize, Serialize};

use crate::config::{Config, GateSpec};
use crate::rates::Counts;

/// The built-in gates, before configuration.
pub fn builtin() -> Vec<(String, GateSpec)> {
    vec![
        (
            "discovery".into(),
            GateSpec {
                description: Some("the built binaries discover the declared tests".into()),
                min_discovery_rate: Some(90.0),
                ..GateSpec::default()
            },
        ),
        (
            "integration".into(),
            GateSpec {
                description: Some(
                    "the declared tests are executed, on services that are up, without mocks"
                        .into(),
                ),
                min_execution_rate: Some(80.0),
                services_operational: Some(true),
                no_mocking: Some(true),
                ..GateSpec::default()
            },
        ),
        (
            "release".into(),
            GateSpec {
                description: Some("the declared tests pass and every SLA holds".into()),
                min_success_rate: Some(70.0),
                sla_met: Some(true),
                ..GateSpec::default()
            },
        ),
    ]
}

/// Every known gate: the built-ins, replaced or extended by configuration.
pub fn known(config: &Config) -> Vec<(String, GateSpec)> {
    let mut gates = builtin();
    for (name, spec) in &config.gates {
        match gates.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = spec.clone(),
            None => gates.push((name.clone(), spec.clone())),
        }
    }
    gates
}

/// A gate name that neither the built-ins nor `tiered.toml` define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown gate `{name}`; known gates: {}", known.join(", "))]
pub struct UnknownGate {
    /// The name asked for.
    pub name: String,
    /// The names that exist.
    pub known: Vec<String>,
}

/// Looks up the requested gates by name, in the order asked.
pub fn resolve(config: &Config, names: &[String]) -> Result<Vec<(String, GateSpec)>, UnknownGate> {
    let known = known(config);
    names
        .iter()
        .map(|name| {
            known
                .iter()
                .find(|(n, _)| n == name)
                .cloned()
                .ok_or_else(|| UnknownGate {
                    name: name.clone(),
                    known: known.iter().map(|(n, _)| n.clone()).collect(),
                })
        })
        .collect()
}

/// One criterion's judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionResult {
    /// `min_discovery_rate`, `min_execution_rate`, `min_success_rate`, `max_failed`.
    pub name: String,
    /// The threshold.
    pub required: f64,
    /// What was measured; `None` when it could not be (nothing declared).
    pub actual: Option<f64>,
    /// Whether it held. A criterion that could not be measured fails.
    pub passed: bool,
    /// Why, when the numbers alone do not say (`complete_run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One gate's judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// The gate's name.
    pub name: String,
    /// Every criterion held.
    pub passed: bool,
    /// Each criterion.
    pub criteria: Vec<CriterionResult>,
}

/// What the run proved beyond the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Services the selected tests needed.
    pub services_needed: usize,
    /// Of those, how many came up and answered.
    pub services_up: usize,
    /// Uses of mocking crates in tier-2/3 sources, not allowed.
    pub mocking_findings: usize,
    /// SLAs judged.
    pub slas: usize,
    /// Of those, how many held.
    pub slas_met: usize,
    /// Why the run did not run every selected test (`--fail-fast` stopped
    /// it): every gate then fails with a `complete_run` criterion, because
    /// rates over a run that stopped early judge tests that never ran.
    pub incomplete: Option<String>,
}

/// Judges a gate against the counts of the tiers it covers.
pub fn evaluate(name: &str, spec: &GateSpec, counts: &Counts, evidence: &Evidence) -> GateResult {
    let rates = counts.rates();
    let mut criteria = Vec::new();
    let mut min = |crit: &str, required: Option<f64>, actual: Option<f64>| {
        if let Some(required) = required {
            criteria.push(CriterionResult {
                name: crit.into(),
                required,
                actual,
                passed: actual.is_some_and(|a| a >= required),
                detail: None,
            });
        }
    };
    min(
        "min_discovery_rate",
        spec.min_discovery_rate,
        rates.discovery,
    );
    min(
        "min_execution_rate",
        spec.min_execution_rate,
        rates.execution,
    );
    min("min_success_rate", spec.min_success_rate, rates.success);
    if let Some(max) = spec.max_failed {
        let failed = counts.failed + counts.errors;
        criteria.push(CriterionResult {
            name: "max_failed".into(),
            required: max as f64,
            actual: Some(failed as f64),
            passed: failed <= max,
            detail: None,
        });
    }
    if spec.services_operational == Some(true) {
        criteria.push(CriterionResult {
            name: "services_operational".into(),
            required: evidence.services_needed as f64,
            actual: Some(evidence.services_up as f64),
            passed: evidence.services_up >= evidence.services_needed,
            detail: None,
        });
    }
    if spec.no_mocking == Some(true) {
        criteria.push(CriterionResult {
            name: "no_mocking".into(),
            required: 0.0,
            actual: Some(evidence.mocking_findings as f64),
            passed: evidence.mocking_findings == 0,
            detail: None,
        });
    }
    if spec.sla_met == Some(true) {
        criteria.push(CriterionResult {
            name: "sla_met".into(),
            required: evidence.slas as f64,
            actual: Some(evidence.slas_met as f64),
            passed: evidence.slas_met >= evidence.slas,
            detail: None,
        });
    }
    if let Some(why) = &evidence.incomplete {
        criteria.push(CriterionResult {
            name: "complete_run".into(),
            required: 1.0,
            actual: Some(0.0),
            passed: false,
            detail: Some(format!(
                "the run is incomplete: {why}; a gate judges only a whole run (run without --fail-fast)"
            )),
        });
    }
    GateResult {
        name: name.into(),
        passed: criteria.iter().all(|c| c.passed),
        criteria,
    }
}
