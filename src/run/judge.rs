//! Judging a run: counts and rates per tier, SLAs over every sample of the
//! session, the gates with their evidence, the verdict.
//!
//! Everything the run measured goes in as a [`Judgement`]; one
//! [`SessionReport`] comes out, the single model every report is written
//! from.

use std::collections::BTreeMap;

use super::schedule::Halt;
use crate::config::{Config, GateSpec};
use crate::gates;
use crate::mocking::Finding;
use crate::partition::{Partition, ShardInfo, SuiteCounts};
use crate::perf::Recorded;
use crate::report::{self, BuildFailure, SessionReport, TestEntry};
use crate::services::ServiceReport;

/// What a run measured, to be judged.
pub(crate) struct Judgement<'a> {
    /// The selected tiers.
    pub tiers: Vec<u8>,
    /// Declared tests per tier.
    pub declared: BTreeMap<u8, u64>,
    /// Discovered tests per tier.
    pub discovered: BTreeMap<u8, u64>,
    /// Every selected test, run or not.
    pub tests: Vec<TestEntry>,
    /// Targets that did not build.
    pub build_failures: Vec<BuildFailure>,
    /// Wall time so far.
    pub duration_ms: f64,
    /// The gates asked for.
    pub gates: &'a [(String, GateSpec)],
    /// The configuration (SLAs).
    pub config: &'a Config,
    /// Every needed service's start.
    pub services: Vec<ServiceReport>,
    /// Services the selected tests needed.
    pub services_needed: usize,
    /// Samples and load reports of every test.
    pub measured: Recorded,
    /// Uses of mocking crates in tier-2/3 sources.
    pub mocking: &'a [Finding],
    /// What stopped the run while tests were left.
    pub halted: Option<Halt>,
    /// Why the run did not run every selected test (`--fail-fast`).
    pub incomplete: Option<String>,
    /// The shard, with the whole selection's counts.
    pub partition: Option<(Partition, BTreeMap<String, SuiteCounts>)>,
    /// The session id, when services were needed.
    pub session: Option<String>,
}

/// The judged report.
pub(crate) fn judge(j: Judgement<'_>) -> SessionReport {
    let (op_stats, sla_results) = crate::sla::judge_session(
        &j.measured.samples,
        &j.measured.load,
        &j.services,
        &j.config.sla,
    );
    let evidence = gates::Evidence {
        slas: sla_results.len(),
        slas_met: sla_results.iter().filter(|r| r.met).count(),
        services_needed: j.services_needed,
        services_up: j.services.iter().filter(|r| r.ok).count(),
        mocking_findings: j.mocking.iter().filter(|f| f.allowed.is_none()).count(),
        incomplete: j.incomplete.clone(),
    };
    let mut report = SessionReport::assemble(
        report::Measured {
            selected_tiers: j.tiers,
            declared: j.declared,
            discovered: j.discovered,
            tests: j.tests,
            build_failures: j.build_failures,
            duration_ms: j.duration_ms,
        },
        j.gates,
        &evidence,
    );
    report.partition = j.partition.map(|(p, suite)| ShardInfo {
        kind: p.kind,
        index: p.index,
        count: p.count,
        suite,
        samples: crate::partition::group_samples(&j.measured.samples),
    });
    if let Some(why) = j.halted {
        report.interrupted = Some(why.key());
        report.verdict = report::Verdict::Fail;
    }
    if j.incomplete.is_some() {
        report.verdict = report::Verdict::Fail;
    }
    report.incomplete = j.incomplete;
    report.services = j.services;
    report.sla = sla_results;
    report.operations = op_stats;
    report.load = j.measured.load;
    report.session = j.session;
    report.mocking = j
        .mocking
        .iter()
        .map(|f| report::MockingUse {
            krate: f.krate.clone(),
            location: format!("{}:{}", f.file.display(), f.line),
            allowed: f.allowed.clone(),
        })
        .collect();
    report
}
