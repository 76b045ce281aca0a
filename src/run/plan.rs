//! Everything known before a test runs: what the sources declare, what the
//! built binaries list, what this run selects.
//!
//! [`plan`] lists every harness binary (at once, one thread each), matches
//! its tests with the declarations the sources hold ([`crate::scan`]),
//! applies `--tier` and the libtest filters after `--` to both, and keeps
//! the selected tests as one flat list over all binaries
//! ([`Selected`]) — the scheduler's input. A declared test no binary lists
//! is *undiscovered*: it counts as declared and is reported `not_run` with
//! the reason, so the rates stay honest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser as _;
use libtest_mimic::{Arguments, Trial};

use super::build::{is_harness, Built};
use super::schedule::Selected;
use super::workspace::{TestTarget, Workspace};
use super::RunError;
use crate::partition::{Partition, SuiteCounts};
use crate::protocol::{self, ListedTest, Outcome};
use crate::report::{BuildFailure, TestEntry};
use crate::scan;
use crate::services::{ServiceKind, SESSION_ENV};
use crate::tier::TierSet;

/// A harness binary of the run.
#[derive(Debug, Clone)]
pub(crate) struct Binary {
    /// Its test target.
    pub target: TestTarget,
    /// The built executable.
    pub exe: PathBuf,
}

/// The run's plan.
pub(crate) struct Plan {
    /// The harness binaries with selected tests.
    pub binaries: Vec<Binary>,
    /// Every selected test, binary by binary.
    pub tests: Vec<Selected>,
    /// Declared (and selected) tests that no built binary lists.
    pub undiscovered: Vec<TestEntry>,
    /// Declared tests per tier.
    pub declared: BTreeMap<u8, u64>,
    /// Discovered tests per tier.
    pub discovered: BTreeMap<u8, u64>,
    /// Targets that did not build, or whose binary could not list its tests.
    pub failures: Vec<BuildFailure>,
    /// Test targets without `tiered::main!()`.
    pub skipped_targets: Vec<String>,
}

/// Parses the arguments after `--` as libtest's.
pub(crate) fn harness_arguments(args: &[String]) -> Result<Arguments, RunError> {
    Arguments::try_parse_from(std::iter::once("harness".to_string()).chain(args.iter().cloned()))
        .map_err(|e| RunError::HarnessArgs {
            message: e
                .to_string()
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string(),
        })
}

fn trial(name: &str, tier: u8, ignored: bool) -> Trial {
    Trial::test(name, || Ok(()))
        .with_kind(format!("tier{tier}"))
        .with_ignored_flag(ignored)
}

/// Runs a command to completion within `limit`, killing it after.
fn wait_bounded(mut child: std::process::Child, limit: Duration) -> Result<ExitStatus, String> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Ok(s),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "did not finish within {}s and was stopped",
                    limit.as_secs()
                ));
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// A command running a harness binary as cargo would: in its package's
/// directory, with cargo's variables, and none of the caller's session.
pub(crate) fn harness_command(target: &TestTarget, exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    // cargo tiered owns the session: endpoints from the caller's own
    // environment are not passed on, only the session's.
    for kind in ServiceKind::ALL {
        for var in [kind.url_env(), kind.error_env()] {
            cmd.env_remove(var);
        }
    }
    cmd.env_remove(SESSION_ENV);
    for var in [
        protocol::LIST_OUT_ENV,
        protocol::CHILD_TEST_ENV,
        protocol::CHILD_OUT_ENV,
        protocol::SESSION_INIT_ENV,
        protocol::WORKER_ENV,
        protocol::WORKER_ID_ENV,
        protocol::WORKER_STDOUT_ENV,
        protocol::WORKER_STDERR_ENV,
    ] {
        cmd.env_remove(var);
    }
    cmd.current_dir(&target.manifest_dir)
        .env("CARGO_MANIFEST_DIR", &target.manifest_dir)
        .env("CARGO_PKG_NAME", &target.package)
        .stdin(Stdio::null());
    if let Ok(me) = std::env::current_exe() {
        cmd.env("CARGO_TIERED", me);
    }
    cmd
}

fn list_binary(target: &TestTarget, exe: &Path) -> Result<Vec<ListedTest>, String> {
    let file = tempfile::NamedTempFile::new()
        .map_err(|e| format!("cannot create a temporary file: {e}"))?;
    let child = harness_command(target, exe)
        .arg("--list")
        .env(protocol::LIST_OUT_ENV, file.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let status = wait_bounded(child, Duration::from_secs(60))?;
    if !status.success() {
        return Err(format!("listing its tests failed ({status})"));
    }
    let bytes = std::fs::read(file.path()).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("its listing is not valid: {e}"))
}

/// What one built target is, before its tests are selected.
enum Listed {
    Harness(Vec<ListedTest>),
    NotHarness,
    Unlisted(String),
}

/// Lists every built binary, each on a thread of its own.
fn list_all(
    ws: &Workspace,
    built: &HashMap<(String, String), PathBuf>,
) -> Result<Vec<Option<Listed>>, RunError> {
    thread::scope(|scope| {
        let handles: Vec<_> = ws
            .targets
            .iter()
            .map(|target| {
                let exe = built
                    .get(&(target.package_id.clone(), target.name.clone()))
                    .cloned();
                scope.spawn(move || -> Result<Option<Listed>, RunError> {
                    let Some(exe) = exe else { return Ok(None) };
                    match is_harness(&exe) {
                        Ok(true) => Ok(Some(match list_binary(target, &exe) {
                            Ok(l) => Listed::Harness(l),
                            Err(m) => Listed::Unlisted(format!(
                                "the harness binary {} could not list its tests: {m}",
                                ws.relative(&exe).display()
                            )),
                        })),
                        Ok(false) => Ok(Some(Listed::NotHarness)),
                        Err(e) => Err(RunError::Io {
                            what: format!("cannot read the test binary {}", exe.display()),
                            source: e,
                        }),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("listing a binary does not panic"))
            .collect()
    })
}

/// Lists, scans and selects.
pub(crate) fn plan(
    ws: &Workspace,
    built: Built,
    tiers: TierSet,
    args: &Arguments,
) -> Result<Plan, RunError> {
    let mut declared: BTreeMap<u8, u64> = BTreeMap::new();
    let mut discovered: BTreeMap<u8, u64> = BTreeMap::new();
    let mut binaries = Vec::new();
    let mut tests = Vec::new();
    let mut undiscovered = Vec::new();
    let mut skipped_targets = Vec::new();
    let mut failures = built.failures;
    let failed: HashSet<(String, String)> = failures
        .iter()
        .map(|f| (f.package.clone(), f.target.clone()))
        .collect();
    let built_map: HashMap<(String, String), PathBuf> = built
        .binaries
        .iter()
        .map(|(t, e)| ((t.package_id.clone(), t.name.clone()), e.clone()))
        .collect();
    let listings = list_all(ws, &built_map)?;
    for (target, listing) in ws.targets.iter().zip(listings) {
        let scanned = scan::scan_target(&target.src_path);
        let selected_decl: Vec<&scan::DeclaredTest> = scanned
            .tests
            .iter()
            .filter_map(|d| d.tier.map(|t| (d, t)))
            .filter(|(d, t)| {
                crate::tier::Tier::new(*t).is_some_and(|tt| tiers.contains(tt))
                    && !args.is_filtered_out(&trial(&d.name, *t, false))
            })
            .map(|(d, _)| d)
            .collect();
        let listed: Vec<ListedTest> = match listing {
            Some(Listed::Harness(l)) => l,
            Some(Listed::Unlisted(message)) => {
                failures.push(BuildFailure {
                    target: target.name.clone(),
                    package: target.package.clone(),
                    message,
                });
                Vec::new()
            }
            Some(Listed::NotHarness) => {
                if selected_decl.is_empty() {
                    skipped_targets.push(target.name.clone());
                }
                Vec::new()
            }
            None => Vec::new(),
        };
        let selected: Vec<(ListedTest, bool)> = listed
            .into_iter()
            .filter_map(|l| {
                let tier = crate::tier::Tier::new(l.tier)?;
                let t = trial(&l.name, l.tier, l.ignored);
                (tiers.contains(tier) && !args.is_filtered_out(&t)).then(|| {
                    let ignored = args.is_ignored(&t);
                    (l, ignored)
                })
            })
            .collect();
        let listed_names: HashSet<&str> = selected.iter().map(|(l, _)| l.name.as_str()).collect();
        let did_not_build = failed.contains(&(target.package.clone(), target.name.clone()));
        let mut counted: HashSet<&str> = HashSet::new();
        for (l, _) in &selected {
            *discovered.entry(l.tier).or_default() += 1;
            *declared.entry(l.tier).or_default() += 1;
            counted.insert(l.name.as_str());
        }
        for d in &selected_decl {
            if counted.insert(d.name.as_str()) {
                let tier = d.tier.unwrap_or(1);
                *declared.entry(tier).or_default() += 1;
                if !listed_names.contains(d.name.as_str()) {
                    let why = if did_not_build {
                        format!("not run: target `{}` did not build", target.name)
                    } else {
                        format!(
                            "declared at {}:{} but not in the built binary (no tiered::main!() in the target, or compiled out by #[cfg])",
                            ws.relative(&d.file).display(),
                            d.line
                        )
                    };
                    undiscovered.push(TestEntry {
                        name: d.name.clone(),
                        binary: target.name.clone(),
                        tier,
                        outcome: Outcome::NotRun,
                        duration_ms: 0.0,
                        message: Some(why),
                        stdout: None,
                        stderr: None,
                        setup_ms: None,
                        retries: Vec::new(),
                        flaky: false,
                    });
                }
            }
        }
        if let Some(exe) = built_map.get(&(target.package_id.clone(), target.name.clone())) {
            if !selected.is_empty() {
                let binary = binaries.len();
                binaries.push(Binary {
                    target: target.clone(),
                    exe: exe.clone(),
                });
                tests.extend(selected.into_iter().map(|(listed, ignored)| Selected {
                    binary,
                    listed,
                    ignored,
                }));
            }
        }
    }
    Ok(Plan {
        binaries,
        tests,
        undiscovered,
        declared,
        discovered,
        failures,
        skipped_targets,
    })
}

impl Plan {
    /// The selection's declared and discovered tests, per tier of `tiers`.
    pub(crate) fn suite(&self, tiers: TierSet) -> BTreeMap<String, SuiteCounts> {
        tiers
            .iter()
            .map(|t| {
                let t = t.get();
                let count = |m: &BTreeMap<u8, u64>| m.get(&t).copied().unwrap_or(0);
                (
                    t.to_string(),
                    SuiteCounts {
                        declared: count(&self.declared),
                        discovered: count(&self.discovered),
                    },
                )
            })
            .collect()
    }

    /// The name of a selected test's binary.
    pub(crate) fn binary_name(&self, test: &Selected) -> &str {
        &self.binaries[test.binary].target.name
    }

    /// Keeps only the tests of shard `p` — discovered and undiscovered ones
    /// alike, keyed `binary::name` — and counts only those as declared and
    /// discovered.
    pub(crate) fn partition(&mut self, p: &Partition) {
        let keep = {
            let keys: Vec<(&str, &str)> = self
                .tests
                .iter()
                .map(|t| (self.binary_name(t), t.listed.name.as_str()))
                .chain(
                    self.undiscovered
                        .iter()
                        .map(|e| (e.binary.as_str(), e.name.as_str())),
                )
                .collect();
            p.select(&keys)
        };
        // `retain` visits every element once, in order: the same order as `keys`.
        let mut keep = keep.into_iter();
        self.declared.clear();
        self.discovered.clear();
        self.tests.retain(|_| keep.next().unwrap_or(false));
        for t in &self.tests {
            *self.discovered.entry(t.listed.tier).or_default() += 1;
            *self.declared.entry(t.listed.tier).or_default() += 1;
        }
        self.undiscovered.retain(|_| keep.next().unwrap_or(false));
        for e in &self.undiscovered {
            *self.declared.entry(e.tier).or_default() += 1;
        }
    }

    /// The services the selected, non-ignored tests of tiers 2–3 need.
    pub(crate) fn needed_services(&self) -> Vec<ServiceKind> {
        let mut v: Vec<ServiceKind> = self
            .tests
            .iter()
            .filter(|t| !t.ignored && t.listed.tier >= 2)
            .flat_map(|t| t.listed.needs.iter())
            .filter_map(|n| ServiceKind::from_name(n))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The session values the selected, non-ignored tests take, each with
    /// the first binary that can build it.
    pub(crate) fn session_values(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for t in self.tests.iter().filter(|t| !t.ignored) {
            for key in &t.listed.session_values {
                if !out.iter().any(|(k, _)| k == key) {
                    out.push((key.clone(), t.binary));
                }
            }
        }
        out
    }
}
