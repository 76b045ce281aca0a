//! `cargo tiered merge`: the JSON reports of a suite's shards joined into
//! one session result, judged again.
//!
//! [`combine`] checks that the reports are shards of one suite (same kind
//! and count of partition, same tiers, same declared tests, each shard
//! once), then builds one [`SessionReport`] through
//! [`SessionReport::assemble`], as a run does: the tests concatenated in
//! shard order; declared and discovered per tier taken **once**, from the
//! whole-selection counts every shard records; executed, passed and the
//! other outcomes summed through the tests themselves. Latency statistics
//! are recomputed from the samples each shard keeps, so the merged
//! percentiles are those of one run over every sample; service startups
//! are each shard's own. A shard that is missing is not an error but is
//! never a pass: its tests count as declared and not executed, the report
//! lists it under `merged.missing`, and the verdict is FAIL.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{Config, GateSpec};
use crate::events::{Event, Sink};
use crate::exit_codes;
use crate::gates;
use crate::partition::{self, MergedShards, ShardInfo};
use crate::report::write::{exit_code, write_reports};
use crate::report::{self, Measured, SessionReport, Verdict};
use crate::sla::SlaSpec;

/// What `cargo tiered merge` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// The shards' JSON reports.
    pub reports: Vec<PathBuf>,
    /// Gates to judge the merged result with.
    pub gates: Vec<String>,
    /// Where to write the merged JUnit XML.
    pub junit: Option<PathBuf>,
    /// Where to write the merged JSON report.
    pub json: Option<PathBuf>,
    /// Where to write the merged HTML report.
    pub html: Option<PathBuf>,
    /// Append a markdown summary here (`GITHUB_STEP_SUMMARY`).
    pub github_summary: Option<PathBuf>,
    /// Where `tiered.toml` is looked for (it and its ancestors): its gates
    /// and SLAs judge the merged result.
    pub config_dir: PathBuf,
}

impl MergeOptions {
    /// Where the reports asked for go.
    pub fn report_paths(&self) -> crate::report::write::ReportPaths<'_> {
        crate::report::write::ReportPaths {
            json: self.json.as_deref(),
            html: self.html.as_deref(),
            junit: self.junit.as_deref(),
            github_summary: self.github_summary.as_deref(),
        }
    }
}

/// Why the reports cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// `tiered.toml` is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// `--gate NAME` names no gate.
    #[error(transparent)]
    UnknownGate(#[from] gates::UnknownGate),
    /// A report cannot be read or is not a JSON report.
    #[error("cannot read the shard report {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A report was written without `--partition`.
    #[error("{path} is not a shard's report: it has no `partition` (the run that wrote it had no --partition)")]
    NotAShard {
        /// The file.
        path: PathBuf,
    },
    /// A selection flag was given to `merge`.
    #[error(
        "`cargo tiered merge` takes no {flag}: each shard's report already carries its selection"
    )]
    SelectionFlag {
        /// The flag.
        flag: String,
    },
    /// Two reports are not shards of the same suite.
    #[error("{first} and {second} are not shards of the same suite: {difference}")]
    Mismatch {
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
        /// How they differ.
        difference: String,
    },
}

impl MergeError {
    /// Every merge error is the caller's to fix: exit 2 (a `tiered.toml`
    /// that cannot be read included, as for a run).
    pub fn exit_code(&self) -> u8 {
        exit_codes::USAGE
    }

    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            MergeError::Config(e) => e.hint(),
            MergeError::UnknownGate(_) => {
                "define it as [gates.NAME] in tiered.toml, or use one of the known gates"
            }
            MergeError::Read { .. } => {
                "pass the files that `cargo tiered --partition KIND:K/N --json PATH` wrote"
            }
            MergeError::NotAShard { .. } => {
                "run each shard with --partition slice:K/N or hash:K/N and --json PATH, then merge those files"
            }
            MergeError::SelectionFlag { .. } => {
                "pass only the reports, the output flags (--junit, --json, --html), --gate and --manifest-path"
            }
            MergeError::Mismatch { .. } => {
                "merge the reports of one CI run: every shard with the same --partition kind and count, the same selection flags and the same sources"
            }
        }
    }
}

/// The result of `cargo tiered merge`.
pub struct MergeOutcome {
    /// The merged, judged report.
    pub report: SessionReport,
    /// The exit code to use.
    pub exit_code: u8,
}

/// A merged report and what the merge noticed without refusing it.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The merged, judged report.
    pub report: SessionReport,
    /// Warnings for the summary.
    pub warnings: Vec<String>,
}

/// Joins shard reports (with the files they came from, for messages) into
/// one report, judged by `gates` and the `sla` specs.
pub fn combine(
    shards: Vec<(PathBuf, SessionReport)>,
    gates: &[(String, GateSpec)],
    sla: &BTreeMap<String, SlaSpec>,
) -> Result<Merged, MergeError> {
    let mut shards: Vec<(PathBuf, SessionReport, ShardInfo)> = shards
        .into_iter()
        .map(|(path, mut r)| match r.partition.take() {
            Some(info) => Ok((path, r, info)),
            None => Err(MergeError::NotAShard { path }),
        })
        .collect::<Result<_, _>>()?;
    shards.sort_by_key(|(_, _, info)| info.index);
    let mut warnings = Vec::new();
    let Some((first_path, first, first_info)) = shards.first() else {
        return Ok(Merged {
            report: SessionReport::assemble(Measured::default(), gates, &Default::default()),
            warnings,
        });
    };
    let mut discovered: BTreeMap<u8, u64> = BTreeMap::new();
    let mut declared: BTreeMap<u8, u64> = BTreeMap::new();
    for (tier, c) in &first_info.suite {
        if let Ok(t) = tier.parse::<u8>() {
            declared.insert(t, c.declared);
            discovered.insert(t, c.discovered);
        }
    }
    for (path, r, info) in &shards[1..] {
        let differ = |what: String| Err(mismatch(first_path, path, what));
        if info.kind != first_info.kind {
            return differ(format!(
                "one was split by {}, the other by {}",
                first_info.kind.as_str(),
                info.kind.as_str()
            ));
        }
        if info.count != first_info.count {
            return differ(format!(
                "one is a shard of {}, the other of {}",
                first_info.count, info.count
            ));
        }
        if r.selected_tiers != first.selected_tiers {
            return differ(format!(
                "one selected tiers {:?}, the other {:?}",
                first.selected_tiers, r.selected_tiers
            ));
        }
        let declared_of = |i: &ShardInfo| -> Vec<(String, u64)> {
            i.suite
                .iter()
                .map(|(t, c)| (t.clone(), c.declared))
                .collect()
        };
        if declared_of(info) != declared_of(first_info) {
            return differ(format!(
                "their selections declare different tests per tier ({} and {})",
                describe(&declared_of(first_info)),
                describe(&declared_of(info))
            ));
        }
        for (tier, c) in &info.suite {
            if let Ok(t) = tier.parse::<u8>() {
                let d = discovered.entry(t).or_default();
                if c.discovered != *d {
                    warnings.push(format!(
                        "warning: the shards discovered different numbers of tier-{t} tests ({} and {}: a target built on one machine and not on another?); the smaller is used",
                        *d, c.discovered
                    ));
                    *d = (*d).min(c.discovered);
                }
            }
        }
    }
    // Same split, so the same index twice is the same shard twice.
    for pair in shards.windows(2) {
        let (path, _, info) = &pair[1];
        if pair[0].2.index == info.index {
            return Err(mismatch(
                &pair[0].0,
                path,
                format!("both are shard {} of {}", info.index, info.count),
            ));
        }
    }
    let kind = first_info.kind;
    let count = first_info.count;
    let present: Vec<u32> = shards.iter().map(|(_, _, i)| i.index).collect();
    let missing: Vec<u32> = (1..=count).filter(|k| !present.contains(k)).collect();
    if missing.is_empty() {
        let mut shares: BTreeMap<String, u64> = BTreeMap::new();
        for (_, r, _) in &shards {
            for (t, tr) in &r.tiers {
                *shares.entry(t.clone()).or_default() += tr.totals.declared;
            }
        }
        for (t, c) in &first_info.suite {
            let sum = shares.get(t).copied().unwrap_or(0);
            if sum != c.declared {
                warnings.push(format!(
                    "warning: the shards' tier-{t} tests add up to {sum}, but the selection declares {}: were they run with the same filters?",
                    c.declared
                ));
            }
        }
    }
    let selected_tiers = first.selected_tiers.clone();
    let mut tests = Vec::new();
    let mut build_failures: Vec<report::BuildFailure> = Vec::new();
    let mut mocking: Vec<report::MockingUse> = Vec::new();
    let mut services = Vec::new();
    let mut samples = Vec::new();
    let mut load = Vec::new();
    let mut duration_ms: f64 = 0.0;
    let mut seen_failures = HashSet::new();
    let mut seen_mocking = HashSet::new();
    // A shard that stopped early makes the whole incomplete; one that was
    // interrupted, the whole interrupted.
    let mut incomplete: Option<String> = None;
    let mut interrupted: Option<String> = None;
    for (_, r, info) in shards {
        if let Some(why) = &r.incomplete {
            incomplete.get_or_insert_with(|| format!("shard {}: {why}", info.index));
        }
        if let Some(why) = &r.interrupted {
            interrupted.get_or_insert_with(|| why.clone());
        }
        tests.extend(r.tests);
        for b in r.build_failures {
            if seen_failures.insert((b.package.clone(), b.target.clone())) {
                build_failures.push(b);
            }
        }
        for m in r.mocking {
            if seen_mocking.insert((m.krate.clone(), m.location.clone())) {
                mocking.push(m);
            }
        }
        services.extend(r.services);
        samples.extend(partition::ungroup_samples(&info.samples));
        load.extend(r.load);
        duration_ms = duration_ms.max(r.duration_ms);
    }
    let (operations, sla_results) = crate::sla::judge_session(&samples, &load, &services, sla);
    let evidence = gates::Evidence {
        slas: sla_results.len(),
        slas_met: sla_results.iter().filter(|r| r.met).count(),
        services_needed: services.len(),
        services_up: services.iter().filter(|r| r.ok).count(),
        mocking_findings: mocking.iter().filter(|m| m.allowed.is_none()).count(),
        incomplete: incomplete.clone(),
    };
    let mut report = SessionReport::assemble(
        Measured {
            selected_tiers,
            declared,
            discovered,
            tests,
            build_failures,
            duration_ms,
        },
        gates,
        &evidence,
    );
    report.services = services;
    report.sla = sla_results;
    report.operations = operations;
    report.load = load;
    report.mocking = mocking;
    if !missing.is_empty() || incomplete.is_some() || interrupted.is_some() {
        report.verdict = Verdict::Fail;
    }
    report.incomplete = incomplete;
    report.interrupted = interrupted;
    report.merged = Some(MergedShards {
        kind,
        count,
        shards: present,
        missing,
    });
    Ok(Merged { report, warnings })
}

fn mismatch(first: &Path, second: &Path, difference: String) -> MergeError {
    MergeError::Mismatch {
        first: first.to_path_buf(),
        second: second.to_path_buf(),
        difference,
    }
}

fn describe(per_tier: &[(String, u64)]) -> String {
    per_tier
        .iter()
        .map(|(t, n)| format!("tier {t}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the shard reports, merges and judges them, writes the reports and
/// the summary (to `err`); the sink sees the merged result.
pub fn merge(
    opts: &MergeOptions,
    sink: &mut dyn Sink,
    err: &mut dyn Write,
) -> Result<MergeOutcome, MergeError> {
    let (config, _root) = Config::discover(&opts.config_dir)?;
    let gate_specs = gates::resolve(&config, &opts.gates)?;
    let mut shards = Vec::new();
    for path in &opts.reports {
        let r = report::json::read(path).map_err(|source| MergeError::Read {
            path: path.clone(),
            source,
        })?;
        shards.push((path.clone(), r));
    }
    let Merged { report, warnings } = combine(shards, &gate_specs, &config.sla)?;
    sink.event(&Event::RunFinished(&report));
    let mut written = warnings;
    let all_written = write_reports(&report, &opts.report_paths(), &mut written);
    let _ = report::summary::write(&report, &written, err);
    let exit_code = if report.is_empty() {
        let _ = writeln!(err, "no tests: the shards' reports declare none");
        exit_codes::NO_TESTS
    } else {
        exit_code(&report, all_written)
    };
    Ok(MergeOutcome { report, exit_code })
}
