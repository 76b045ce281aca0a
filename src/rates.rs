//! The suite's objective numbers: declared, discovered, executed, passed.
//!
//! Every rate is a percentage over **declared** tests — those the sources
//! carry `#[tiered::test]` for — so no claim rests on tests that never ran:
//! a target that does not compile lowers discovery, an ignored test lowers
//! execution, a failure lowers success. With nothing declared a rate is
//! `None` ("not measured"), never 100 %.

use serde::{Deserialize, Serialize};

use crate::protocol::Outcome;

/// Counts for one tier or for the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Tests declared in the sources (`#[tiered::test]`).
    pub declared: u64,
    /// Tests the built harness binaries list.
    pub discovered: u64,
    /// Tests that ran to a pass/fail verdict.
    pub executed: u64,
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests that could not be executed (setup, service or crash).
    pub errors: u64,
    /// Ignored tests.
    pub ignored: u64,
    /// Selected tests that never ran.
    pub not_run: u64,
}

/// Rates in percent (0–100), `None` when nothing is declared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// discovered / declared.
    pub discovery: Option<f64>,
    /// executed / declared.
    pub execution: Option<f64>,
    /// passed / declared.
    pub success: Option<f64>,
}

/// `part / whole` in percent, rounded to two decimals.
pub fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 10_000.0 / whole as f64).round() / 100.0)
}

impl Counts {
    /// Counts one test's outcome (it was discovered).
    pub fn record(&mut self, outcome: Outcome) {
        self.discovered += 1;
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Ignored => self.ignored += 1,
            Outcome::NotRun => self.not_run += 1,
        }
        if outcome.executed() {
            self.executed += 1;
        }
    }

    /// Adds another set of counts.
    pub fn add(&mut self, other: &Counts) {
        self.declared += other.declared;
        self.discovered += other.discovered;
        self.executed += other.executed;
        self.passed += other.passed;
        self.failed += other.failed;
        self.errors += other.errors;
        self.ignored += other.ignored;
        self.not_run += other.not_run;
    }

    /// The rates over declared tests.
    pub fn rates(&self) -> Rates {
        Rates {
            discovery: percent(self.discovered, self.declared),
            execution: percent(self.executed, self.declared),
            success: percent(self.passed, self.declared),
        }
    }
}
