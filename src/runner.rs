//! The runner behind `cargo tiered`: build, scan, list, run, judge, report.
//!
//! [`run`] asks cargo for the workspace's test targets (`cargo metadata`),
//! scans their sources for declared tests ([`crate::scan`]), builds them
//! with `cargo build --tests --message-format=json --keep-going` (so one
//! target that does not compile cannot hide the others), recognises the
//! tiered harness binaries by their marker, lists and runs them with the
//! [`crate::protocol`] files, and turns what they report into one
//! [`SessionReport`]. Everything that happens is an [`Event`] for the sinks.
//!
//! Errors are a [`RunError`]: each variant knows its exit code and a hint.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use cargo_metadata::{Message, Metadata, MetadataCommand, TargetKind};
use clap::Parser as _;
use libtest_mimic::{Arguments, Trial};

use crate::config::{Config, ConfigError, GateSpec};
use crate::events::{Event, Sink};
use crate::exit_codes;
use crate::gates::{self, UnknownGate};
use crate::partition::{Partition, PartitionError, ShardInfo, SuiteCounts};
use crate::perf::Recorded;
use crate::protocol::{self, ListedTest, Outcome, ResultLine, TestRecord};
use crate::report::{self, BuildFailure, SessionReport, TestEntry};
use crate::scan;
use crate::services::kept;
use crate::services::session::{Reuse, Session, Update};
use crate::services::{ServiceKind, SESSION_ENV};
use crate::tier::TierSet;

/// The cargo flags `cargo tiered` passes through to cargo.
#[derive(Debug, Clone, Default)]
pub struct CargoArgs {
    /// `--manifest-path`.
    pub manifest_path: Option<PathBuf>,
    /// `-p/--package`.
    pub packages: Vec<String>,
    /// `--workspace`.
    pub workspace: bool,
    /// `--exclude`.
    pub exclude: Vec<String>,
    /// `--test NAME`: only these test targets.
    pub tests: Vec<String>,
    /// `--features`.
    pub features: Vec<String>,
    /// `--all-features`.
    pub all_features: bool,
    /// `--no-default-features`.
    pub no_default_features: bool,
    /// `--release`.
    pub release: bool,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--target-dir`.
    pub target_dir: Option<PathBuf>,
    /// `--locked`, `--offline`, `--frozen`.
    pub locked: bool,
    /// `--offline`.
    pub offline: bool,
    /// `--frozen`.
    pub frozen: bool,
}

impl CargoArgs {
    fn common(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(p) = &self.manifest_path {
            // cargo runs from the workspace root: make a relative path absolute.
            let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
            a.push("--manifest-path".into());
            a.push(p.display().to_string());
        }
        for (flag, on) in [
            ("--locked", self.locked),
            ("--offline", self.offline),
            ("--frozen", self.frozen),
        ] {
            if on {
                a.push(flag.into());
            }
        }
        a
    }

    fn build(&self) -> Vec<String> {
        let mut a = vec![
            "build".to_string(),
            "--message-format=json".into(),
            "--keep-going".into(),
        ];
        if self.tests.is_empty() {
            a.push("--tests".into());
        }
        for t in &self.tests {
            a.push("--test".into());
            a.push(t.clone());
        }
        a.extend(self.common());
        for p in &self.packages {
            a.push("--package".into());
            a.push(p.clone());
        }
        if self.workspace {
            a.push("--workspace".into());
        }
        for e in &self.exclude {
            a.push("--exclude".into());
            a.push(e.clone());
        }
        if !self.features.is_empty() {
            a.push("--features".into());
            a.push(self.features.join(","));
        }
        if self.all_features {
            a.push("--all-features".into());
        }
        if self.no_default_features {
            a.push("--no-default-features".into());
        }
        if self.release {
            a.push("--release".into());
        }
        if let Some(p) = &self.profile {
            a.push("--profile".into());
            a.push(p.clone());
        }
        if let Some(d) = &self.target_dir {
            let d = std::path::absolute(d).unwrap_or_else(|_| d.clone());
            a.push("--target-dir".into());
            a.push(d.display().to_string());
        }
        a
    }
}

/// What `cargo tiered` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Tiers to run (empty: all).
    pub tiers: TierSet,
    /// Gates to judge.
    pub gates: Vec<String>,
    /// Where to write JUnit XML.
    pub junit: Option<PathBuf>,
    /// Where to write the JSON report.
    pub json: Option<PathBuf>,
    /// Where to write the HTML report.
    pub html: Option<PathBuf>,
    /// Keep running binaries after one failed.
    pub no_fail_fast: bool,
    /// Show passing and ignored tests too.
    pub verbose: bool,
    /// Cargo's selection flags.
    pub cargo: CargoArgs,
    /// Filters and libtest flags after `--`.
    pub harness_args: Vec<String>,
    /// Run only this shard of the selected tests (`--partition`).
    pub partition: Option<Partition>,
    /// Append a markdown summary here (`GITHUB_STEP_SUMMARY`).
    pub github_summary: Option<PathBuf>,
    /// End the whole run after this long (`--timeout`), build included: the
    /// running binary is stopped, what finished is reported, the reports
    /// are written, and the verdict is FAIL.
    pub timeout: Option<Duration>,
    /// `--retries N`: reruns after a failure for tests that set none
    /// (overrides `retries` in tiered.toml).
    pub retries: Option<u32>,
    /// Standard output carries machine-readable events: nothing else may be
    /// written there, not even a `--nocapture` test's output (it goes to
    /// standard error instead).
    pub stdout_reserved: bool,
}

/// Why a run could not happen (or could not finish its reports).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `tiered.toml` is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `--gate NAME` names no gate.
    #[error(transparent)]
    UnknownGate(#[from] UnknownGate),
    /// The arguments after `--` are not libtest arguments.
    #[error("invalid test arguments after `--`: {message}")]
    HarnessArgs {
        /// clap's explanation.
        message: String,
    },
    /// `--partition` is not `slice:K/N` or `hash:K/N`.
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// The reports given to `cargo tiered merge` cannot be merged.
    #[error(transparent)]
    Merge(#[from] crate::merge::MergeError),
    /// `-p NAME` names no workspace package.
    #[error("package `{name}` is not a member of the workspace at {root}")]
    UnknownPackage {
        /// The name asked for.
        name: String,
        /// The workspace.
        root: PathBuf,
    },
    /// `cargo metadata` failed.
    #[error("cannot read the workspace{}", .manifest.as_ref().map(|m| format!(" at {}", m.display())).unwrap_or_default())]
    Metadata {
        /// The manifest given, if any.
        manifest: Option<PathBuf>,
        /// cargo's error.
        #[source]
        source: cargo_metadata::Error,
    },
    /// cargo could not be started.
    #[error("cannot run `{program}`")]
    CargoSpawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `cargo build` failed before compiling any test target.
    #[error(
        "`cargo build` failed ({status}) before building any test target; its output is above"
    )]
    CargoFailed {
        /// Its exit status.
        status: String,
    },
    /// Docker does not answer (for commands that need it).
    #[error(transparent)]
    Docker(#[from] crate::services::docker::Unreachable),
    /// Kept services could not be managed.
    #[error("{message}")]
    Services {
        /// What went wrong, naming the service or file.
        message: String,
        /// What to do.
        hint: String,
    },
    /// Files the runner needs could not be created.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    /// The documented exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Config(_)
            | RunError::UnknownGate(_)
            | RunError::HarnessArgs { .. }
            | RunError::Partition(_)
            | RunError::UnknownPackage { .. } => exit_codes::USAGE,
            RunError::Merge(e) => e.exit_code(),
            RunError::Metadata { manifest, .. } => {
                if manifest.as_ref().is_some_and(|m| !m.exists()) {
                    exit_codes::USAGE
                } else {
                    exit_codes::INFRASTRUCTURE
                }
            }
            RunError::CargoSpawn { .. }
            | RunError::CargoFailed { .. }
            | RunError::Io { .. }
            | RunError::Docker(_)
            | RunError::Services { .. } => exit_codes::INFRASTRUCTURE,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RunError::Config(e) => e.hint().to_string(),
            RunError::UnknownGate(_) => {
                "define it as [gates.NAME] in tiered.toml, or use one of the known gates".into()
            }
            RunError::HarnessArgs { .. } => {
                "after `--` come test-name filters and libtest flags such as --exact, --skip, --ignored".into()
            }
            RunError::Partition(e) => e.hint().into(),
            RunError::Merge(e) => e.hint().into(),
            RunError::UnknownPackage { .. } => "`cargo metadata --no-deps` lists the workspace's packages".into(),
            RunError::Metadata { .. } => {
                "run `cargo tiered` inside a cargo workspace, or point --manifest-path at its Cargo.toml".into()
            }
            RunError::CargoSpawn { .. } => "install Rust with rustup, or set CARGO to cargo's path".into(),
            RunError::CargoFailed { .. } => "fix the error cargo printed above; `cargo build --tests` shows it too".into(),
            RunError::Docker(e) => e.hint().into(),
            RunError::Services { hint, .. } => hint.clone(),
            RunError::Io { .. } => return None,
        })
    }
}

/// A test target of the workspace.
#[derive(Debug, Clone)]
struct TestTarget {
    package: String,
    package_id: String,
    name: String,
    src_path: PathBuf,
    manifest_dir: PathBuf,
    /// (name in code, package name) of the package's dependencies.
    deps: Vec<(String, String)>,
}

pub(crate) struct Workspace {
    pub(crate) root: PathBuf,
    pub(crate) target_dir: PathBuf,
    targets: Vec<TestTarget>,
}

pub(crate) fn load_workspace(cargo: &CargoArgs) -> Result<Workspace, RunError> {
    let mut cmd = MetadataCommand::new();
    cmd.no_deps();
    if let Some(p) = &cargo.manifest_path {
        cmd.manifest_path(p);
    }
    let meta: Metadata = cmd.exec().map_err(|source| RunError::Metadata {
        manifest: cargo.manifest_path.clone(),
        source,
    })?;
    let root: PathBuf = meta.workspace_root.clone().into();
    let members = meta.workspace_packages();
    for name in &cargo.packages {
        if !members.iter().any(|p| p.name.as_str() == name) {
            return Err(RunError::UnknownPackage {
                name: name.clone(),
                root,
            });
        }
    }
    let selected: Vec<_> = if !cargo.packages.is_empty() {
        members
            .into_iter()
            .filter(|p| cargo.packages.iter().any(|n| n == p.name.as_str()))
            .collect()
    } else if cargo.workspace {
        members
            .into_iter()
            .filter(|p| !cargo.exclude.iter().any(|e| e == p.name.as_str()))
            .collect()
    } else if let Some(root_pkg) = meta.root_package() {
        vec![root_pkg]
    } else {
        meta.workspace_default_packages()
    };
    let mut targets = Vec::new();
    for p in selected {
        let manifest_dir = p
            .manifest_path
            .parent()
            .map(|d| d.as_std_path().to_path_buf())
            .unwrap_or_default();
        let deps: Vec<(String, String)> = p
            .dependencies
            .iter()
            .map(|d| {
                (
                    d.rename.clone().unwrap_or_else(|| d.name.clone()),
                    d.name.clone(),
                )
            })
            .collect();
        for t in &p.targets {
            if !t.kind.contains(&TargetKind::Test) {
                continue;
            }
            if !cargo.tests.is_empty() && !cargo.tests.contains(&t.name) {
                continue;
            }
            targets.push(TestTarget {
                package: p.name.to_string(),
                package_id: p.id.repr.clone(),
                name: t.name.clone(),
                src_path: t.src_path.clone().into(),
                manifest_dir: manifest_dir.clone(),
                deps: deps.clone(),
            });
        }
    }
    let target_dir = match &cargo.target_dir {
        Some(d) => std::path::absolute(d).unwrap_or_else(|_| d.clone()),
        None => meta.target_directory.clone().into(),
    };
    Ok(Workspace {
        root,
        target_dir,
        targets,
    })
}

struct Built {
    binaries: Vec<(TestTarget, PathBuf)>,
    failures: Vec<BuildFailure>,
}

fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn build(ws: &Workspace, cargo: &CargoArgs) -> Result<Built, RunError> {
    let program = cargo_program();
    let mut child = Command::new(&program)
        .args(cargo.build())
        .current_dir(&ws.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| RunError::CargoSpawn {
            program: program.clone(),
            source,
        })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut exes: HashMap<(String, String), PathBuf> = HashMap::new();
    // First error per (package id, target name).
    let mut errors: HashMap<(String, String), String> = HashMap::new();
    let mut any_compiled = false;
    for msg in Message::parse_stream(BufReader::new(stdout)).flatten() {
        match msg {
            Message::CompilerArtifact(a) => {
                any_compiled = true;
                if let Some(exe) = a.executable {
                    if a.target.kind.contains(&TargetKind::Test) && a.profile.test {
                        exes.insert(
                            (a.package_id.repr.clone(), a.target.name.clone()),
                            exe.into(),
                        );
                    }
                }
            }
            Message::CompilerMessage(m)
                if m.message.level == cargo_metadata::diagnostic::DiagnosticLevel::Error =>
            {
                let text = m
                    .message
                    .rendered
                    .clone()
                    .unwrap_or(m.message.message.clone())
                    .trim_end()
                    .to_string();
                if !text.starts_with("error: aborting due to") {
                    errors
                        .entry((m.package_id.repr.clone(), m.target.name.clone()))
                        .or_insert(text);
                }
            }
            _ => {}
        }
    }
    let status = child.wait().map_err(|source| RunError::CargoSpawn {
        program: program.clone(),
        source,
    })?;
    if !status.success() && !any_compiled && errors.is_empty() {
        return Err(RunError::CargoFailed {
            status: status.to_string(),
        });
    }
    let mut binaries = Vec::new();
    let mut failures = Vec::new();
    for t in &ws.targets {
        let key = (t.package_id.clone(), t.name.clone());
        match exes.get(&key) {
            Some(exe) => binaries.push((t.clone(), exe.clone())),
            None => {
                // The target's own error, else its package library's.
                let message = errors
                    .get(&key)
                    .or_else(|| {
                        errors
                            .iter()
                            .find(|((pid, _), _)| *pid == t.package_id)
                            .map(|(_, m)| m)
                    })
                    .cloned()
                    .unwrap_or_else(|| "did not build; see cargo's output above".into());
                failures.push(BuildFailure {
                    target: t.name.clone(),
                    package: t.package.clone(),
                    message,
                });
            }
        }
    }
    Ok(Built { binaries, failures })
}

/// Whether the file is a tiered harness binary (it embeds the marker).
pub fn is_harness(exe: &Path) -> std::io::Result<bool> {
    let bytes = std::fs::read(exe)?;
    Ok(memchr::memmem::find(&bytes, &protocol::marker()).is_some())
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

fn harness_command(target: &TestTarget, exe: &Path) -> Command {
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
        protocol::RESULTS_OUT_ENV,
        protocol::CHILD_TEST_ENV,
        protocol::CHILD_OUT_ENV,
        protocol::ONLY_ENV,
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

/// One harness binary, listed and selected.
struct Planned {
    target: TestTarget,
    exe: PathBuf,
    /// Selected tests, and whether each will be ignored.
    selected: Vec<(ListedTest, bool)>,
}

fn harness_arguments(args: &[String]) -> Result<Arguments, RunError> {
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

/// Everything known before tests run: declared, discovered, selected.
struct Plan {
    planned: Vec<Planned>,
    /// Declared (and selected) tests that no built binary lists.
    undiscovered: Vec<TestEntry>,
    declared: BTreeMap<u8, u64>,
    discovered: BTreeMap<u8, u64>,
    failures: Vec<BuildFailure>,
    skipped_targets: Vec<String>,
}

fn plan(ws: &Workspace, built: Built, tiers: TierSet, args: &Arguments) -> Result<Plan, RunError> {
    let mut declared: BTreeMap<u8, u64> = BTreeMap::new();
    let mut discovered: BTreeMap<u8, u64> = BTreeMap::new();
    let mut planned = Vec::new();
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
    for target in &ws.targets {
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
        let listed: Vec<ListedTest> =
            match built_map.get(&(target.package_id.clone(), target.name.clone())) {
                Some(exe) => match is_harness(exe) {
                    Ok(true) => match list_binary(target, exe) {
                        Ok(l) => l,
                        Err(message) => {
                            failures.push(BuildFailure {
                                target: target.name.clone(),
                                package: target.package.clone(),
                                message: format!(
                                    "the harness binary {} could not list its tests: {message}",
                                    exe.display()
                                ),
                            });
                            Vec::new()
                        }
                    },
                    Ok(false) => {
                        if selected_decl.is_empty() {
                            skipped_targets.push(target.name.clone());
                        }
                        Vec::new()
                    }
                    Err(e) => {
                        return Err(RunError::Io {
                            what: format!("cannot read the test binary {}", exe.display()),
                            source: e,
                        })
                    }
                },
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
                            d.file.display(),
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
                planned.push(Planned {
                    target: target.clone(),
                    exe: exe.clone(),
                    selected,
                });
            }
        }
    }
    Ok(Plan {
        planned,
        undiscovered,
        declared,
        discovered,
        failures,
        skipped_targets,
    })
}

impl Plan {
    /// The selection's declared and discovered tests, per tier of `tiers`.
    fn suite(&self, tiers: TierSet) -> BTreeMap<String, SuiteCounts> {
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

    /// Keeps only the tests of shard `p` — discovered and undiscovered ones
    /// alike, keyed `binary::name` — and counts only those as declared and
    /// discovered.
    fn partition(&mut self, p: &Partition) {
        let keep = {
            let keys: Vec<(&str, &str)> = self
                .planned
                .iter()
                .flat_map(|pl| {
                    pl.selected
                        .iter()
                        .map(|(l, _)| (pl.target.name.as_str(), l.name.as_str()))
                })
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
        for pl in &mut self.planned {
            pl.selected.retain(|_| keep.next().unwrap_or(false));
            for (l, _) in &pl.selected {
                *self.discovered.entry(l.tier).or_default() += 1;
                *self.declared.entry(l.tier).or_default() += 1;
            }
        }
        self.planned.retain(|pl| !pl.selected.is_empty());
        self.undiscovered.retain(|_| keep.next().unwrap_or(false));
        for e in &self.undiscovered {
            *self.declared.entry(e.tier).or_default() += 1;
        }
    }
}

/// Reads the complete lines appended to a results file since `pos`.
fn read_new_records(file: &mut std::fs::File, pos: &mut u64) -> Vec<ResultLine> {
    let mut out = Vec::new();
    if file.seek(SeekFrom::Start(*pos)).is_err() {
        return out;
    }
    let mut buf = Vec::new();
    if file.read_to_end(&mut buf).is_err() {
        return out;
    }
    let complete = match buf.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => return out,
    };
    for line in buf[..complete].lines().map_while(Result::ok) {
        if let Ok(r) = serde_json::from_str::<ResultLine>(&line) {
            out.push(r);
        }
    }
    *pos += complete as u64;
    out
}

fn entry(binary: &str, r: TestRecord) -> TestEntry {
    let keep_output = matches!(r.outcome, Outcome::Failed | Outcome::Error);
    TestEntry {
        name: r.name,
        binary: binary.to_string(),
        tier: r.tier,
        outcome: r.outcome,
        duration_ms: r.duration_ms,
        message: r.message,
        stdout: r.stdout.filter(|_| keep_output),
        stderr: r.stderr.filter(|_| keep_output),
        setup_ms: r.setup_ms,
        flaky: r.outcome == Outcome::Passed && !r.retries.is_empty(),
        retries: r.retries,
    }
}

/// Replaces the session's secrets in what a test reported, before any sink
/// or report sees it.
fn redact_entry(e: &mut TestEntry, secrets: &[String]) {
    let attempts = e
        .retries
        .iter_mut()
        .flat_map(|a| [&mut a.message, &mut a.stdout, &mut a.stderr]);
    for text in [&mut e.message, &mut e.stdout, &mut e.stderr]
        .into_iter()
        .chain(attempts)
    {
        if let Some(x) = text.as_mut() {
            *x = crate::services::redact(x, secrets);
        }
    }
}

/// The file that tells a harness binary which tests are this shard's.
fn only_file(p: &Planned) -> Result<tempfile::NamedTempFile, RunError> {
    let names: Vec<&str> = p.selected.iter().map(|(l, _)| l.name.as_str()).collect();
    let io = |source| RunError::Io {
        what: "cannot write the temporary file naming the shard's tests".into(),
        source,
    };
    let mut file = tempfile::NamedTempFile::new().map_err(io)?;
    serde_json::to_writer(&mut file, &names).map_err(|e| io(e.into()))?;
    file.flush().map_err(io)?;
    Ok(file)
}

fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Adds, to the failure of each test that needed a service found dead,
/// what happened to the service.
fn blame_dead_services(entries: &mut [TestEntry], p: &Planned, down: &[(ServiceKind, String)]) {
    if down.is_empty() {
        return;
    }
    for e in entries
        .iter_mut()
        .filter(|e| matches!(e.outcome, Outcome::Failed | Outcome::Error))
    {
        let Some((listed, _)) = p.selected.iter().find(|(l, _)| l.name == e.name) else {
            continue;
        };
        for (kind, why) in down {
            if listed.needs.iter().any(|n| n == kind.name()) {
                let m = e.message.get_or_insert_with(String::new);
                if !m.is_empty() {
                    m.push('\n');
                }
                m.push_str(&format!("{}: {why}", kind.name()));
            }
        }
    }
}

/// Why a run stops before its end.
#[derive(Debug, Clone, Copy)]
enum Halt {
    /// SIGINT or SIGTERM.
    Signal(i32),
    /// The session's `--timeout` passed.
    Timeout(Duration),
}

impl Halt {
    /// The signal, or the timeout, in words.
    fn describe(self) -> String {
        match self {
            Halt::Signal(sig) => crate::interrupt::name(sig),
            Halt::Timeout(d) => format!(
                "the session timeout (--timeout {})",
                crate::duration::human(d)
            ),
        }
    }

    /// What the JSON report's `interrupted` says.
    fn key(self) -> String {
        match self {
            Halt::Signal(sig) => crate::interrupt::name(sig),
            Halt::Timeout(_) => "timeout".into(),
        }
    }
}

/// Whether the run must stop now, and why.
fn halt(deadline: Option<(Instant, Duration)>) -> Option<Halt> {
    if let Some(sig) = crate::interrupt::requested() {
        return Some(Halt::Signal(sig));
    }
    match deadline {
        Some((at, d)) if Instant::now() >= at => Some(Halt::Timeout(d)),
        _ => None,
    }
}

/// How long a test binary has to end after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Runs one harness binary; returns its entries, and why it was stopped
/// when it was.
#[allow(clippy::too_many_arguments)]
fn run_binary(
    p: &Planned,
    opts: &RunOptions,
    tiers: TierSet,
    session_env: &[(String, String)],
    secrets: &[String],
    measured: &mut Recorded,
    sink: &mut dyn Sink,
    deadline: Option<(Instant, Duration)>,
    retries: Option<u32>,
    timeouts: &BTreeMap<u8, Duration>,
) -> Result<(Vec<TestEntry>, Option<Halt>), RunError> {
    let only = opts.partition.map(|_| only_file(p)).transpose()?;
    let results = tempfile::NamedTempFile::new().map_err(|source| RunError::Io {
        what: "cannot create a temporary results file".into(),
        source,
    })?;
    let nocapture = opts.harness_args.iter().any(|a| a == "--nocapture");
    // With --nocapture the output is shown live; when standard output is
    // reserved for events, the binary's goes to standard error instead.
    let forward_stdout = nocapture && opts.stdout_reserved;
    let io = || {
        if nocapture {
            Stdio::inherit()
        } else {
            Stdio::piped()
        }
    };
    let mut cmd = harness_command(&p.target, &p.exe);
    cmd.arg("--tier")
        .arg(tiers.to_string())
        .args(&opts.harness_args)
        .envs(session_env.iter().map(|(k, v)| (k, v)))
        .env(protocol::RESULTS_OUT_ENV, results.path())
        .stdout(if forward_stdout { Stdio::piped() } else { io() })
        .stderr(io());
    if let Some(only) = &only {
        cmd.env(protocol::ONLY_ENV, only.path());
    }
    match retries {
        Some(n) => cmd.env(protocol::RETRIES_ENV, n.to_string()),
        None => cmd.env_remove(protocol::RETRIES_ENV),
    };
    for (tier, limit) in timeouts {
        cmd.env(protocol::timeout_env(*tier), limit.as_millis().to_string());
    }
    // Its own process group: a signal reaches the binary and the test
    // processes it started only through this process, which stops them
    // all and still reports (see `interrupt`).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|source| RunError::Io {
        what: format!("cannot start the test binary {}", p.exe.display()),
        source,
    })?;
    let out_thread = child.stdout.take().map(|mut s| {
        thread::spawn(move || {
            if forward_stdout {
                let _ = std::io::copy(&mut s, &mut std::io::stderr());
                return String::new();
            }
            let mut v = Vec::new();
            let _ = s.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    });
    let err_thread = child.stderr.take().map(|mut s| {
        thread::spawn(move || {
            let mut v = Vec::new();
            let _ = s.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    });
    let mut file = results.reopen().map_err(|source| RunError::Io {
        what: "cannot read the results file".into(),
        source,
    })?;
    let mut pos = 0u64;
    let mut entries: Vec<TestEntry> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut handle = |records: Vec<ResultLine>,
                      entries: &mut Vec<TestEntry>,
                      measured: &mut Recorded,
                      sink: &mut dyn Sink| {
        for line in records {
            let mut r = match line {
                ResultLine::Started { started, tier } => {
                    sink.event(&Event::TestStarted {
                        binary: &p.target.name,
                        name: &started,
                        tier,
                    });
                    continue;
                }
                ResultLine::Finished(r) => r,
            };
            if let Some(rec) = r.perf.take() {
                measured.samples.extend(rec.samples);
                measured.load.extend(rec.load);
            }
            if seen.insert(r.name.clone()) {
                let mut e = entry(&p.target.name, r);
                redact_entry(&mut e, secrets);
                sink.event(&Event::TestFinished(&e));
                entries.push(e);
            }
        }
    };
    let mut stopping: Option<(Halt, Instant)> = None;
    let status = loop {
        handle(
            read_new_records(&mut file, &mut pos),
            &mut entries,
            measured,
            sink,
        );
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => break Err(e),
        }
        if let Some(why) = halt(deadline) {
            if stopping.is_none() {
                crate::interrupt::signal_group(child.id(), crate::interrupt::SIGTERM);
                stopping = Some((why, Instant::now()));
            } else if stopping.is_some_and(|(_, at)| at.elapsed() > STOP_GRACE) {
                crate::interrupt::signal_group(child.id(), crate::interrupt::SIGKILL);
            }
        }
    };
    handle(
        read_new_records(&mut file, &mut pos),
        &mut entries,
        measured,
        sink,
    );
    let _stdout = out_thread.and_then(|t| t.join().ok()).unwrap_or_default();
    let stderr = err_thread.and_then(|t| t.join().ok()).unwrap_or_default();
    let (status_text, abnormal) = match &status {
        Ok(s) => (
            s.to_string(),
            !(s.success() || s.code() == Some(exit_codes::HARNESS_TEST_FAILED as i32)),
        ),
        Err(e) => (format!("lost track of the process: {e}"), true),
    };
    sink.event(&Event::BinaryFinished {
        binary: &p.target.name,
        status: &status_text,
        abnormal,
    });
    for (l, ignored) in &p.selected {
        if seen.contains(&l.name) {
            continue;
        }
        let (outcome, message) = if *ignored {
            (Outcome::Ignored, l.ignore_reason.clone())
        } else {
            let mut m = match stopping {
                Some((why, _)) => format!(
                    "the run was interrupted by {} before this test reported a result; the test binary was stopped ({status_text})",
                    why.describe()
                ),
                None => format!(
                    "the test binary exited ({status_text}) before this test reported a result"
                ),
            };
            let t = tail(&stderr, 15);
            if !t.trim().is_empty() {
                m.push_str(&format!("\nlast lines of its stderr:\n{t}"));
            }
            (Outcome::Error, Some(m))
        };
        let mut e = TestEntry {
            name: l.name.clone(),
            binary: p.target.name.clone(),
            tier: l.tier,
            outcome,
            duration_ms: 0.0,
            message,
            stdout: None,
            stderr: None,
            setup_ms: None,
            retries: Vec::new(),
            flaky: false,
        };
        redact_entry(&mut e, secrets);
        sink.event(&Event::TestFinished(&e));
        entries.push(e);
    }
    Ok((entries, stopping.map(|(why, _)| why)))
}

/// The result of a run.
pub struct RunOutcome {
    /// The report.
    pub report: SessionReport,
    /// The exit code to use.
    pub exit_code: u8,
}

/// Builds, runs and judges; writes the reports and the summary to `err`.
pub fn run(
    opts: &RunOptions,
    sink: &mut dyn Sink,
    err: &mut dyn Write,
) -> Result<RunOutcome, RunError> {
    let start = Instant::now();
    crate::interrupt::install();
    let deadline = opts.timeout.map(|t| (start + t, t));
    let args = harness_arguments(&opts.harness_args)?;
    let ws = load_workspace(&opts.cargo)?;
    let config = Config::load(&ws.root)?;
    let gate_specs: Vec<(String, GateSpec)> = gates::resolve(&config, &opts.gates)?;
    let tiers = opts.tiers.or_all();
    let built = build(&ws, &opts.cargo)?;
    sink.event(&Event::BuildFinished {
        failures: &built.failures,
    });
    let mut plan = plan(&ws, built, tiers, &args)?;
    let suite = plan.suite(tiers);
    if let Some(p) = &opts.partition {
        plan.partition(p);
    }
    let findings = mocking_findings(&ws, &config);
    let needed = needed_services(&plan);
    let rt = services_runtime()?;
    let reuse = Reuse {
        path: kept::state_path(&ws.target_dir),
        keep_new: false,
    };
    let mut session = rt.block_on(Session::provision_with(
        &needed,
        &config,
        &ws.root,
        Some(&reuse),
        &mut |u| forward(u, sink),
    ));
    let session_env = session.env();
    sink.event(&Event::RunPlanned {
        tests: plan.planned.iter().map(|p| p.selected.len()).sum(),
    });
    // Tests' messages and output are redacted as they arrive, so no sink
    // and no report ever sees a secret.
    let secrets = session.secrets();
    let mut measured = Recorded::default();
    let mut tests: Vec<TestEntry> = Vec::new();
    let mut stop: Option<String> = None;
    // What stopped the run while tests were left: it lost results.
    let mut halted: Option<Halt> = None;
    // Services whose container stopped during the run, and why.
    let mut down: Vec<(ServiceKind, String)> = Vec::new();
    for p in &plan.planned {
        if stop.is_none() {
            if let Some(why) = halt(deadline) {
                halted = Some(why);
                stop = Some(format!(
                    "not run: the run was interrupted by {}",
                    why.describe()
                ));
            }
        }
        if let Some(why) = &stop {
            for (l, ignored) in &p.selected {
                let e = TestEntry {
                    name: l.name.clone(),
                    binary: p.target.name.clone(),
                    tier: l.tier,
                    outcome: if *ignored {
                        Outcome::Ignored
                    } else {
                        Outcome::NotRun
                    },
                    duration_ms: 0.0,
                    message: (!*ignored).then(|| why.clone()),
                    stdout: None,
                    stderr: None,
                    setup_ms: None,
                    retries: Vec::new(),
                    flaky: false,
                };
                sink.event(&Event::TestFinished(&e));
                tests.push(e);
            }
            continue;
        }
        sink.event(&Event::BinaryStarted {
            binary: &p.target.name,
            tests: p.selected.len(),
        });
        let entries = match run_binary(
            p,
            opts,
            tiers,
            &session_env,
            &secrets,
            &mut measured,
            sink,
            deadline,
            opts.retries.or(config.retries),
            &config.timeouts,
        ) {
            Ok((e, stopped)) => {
                halted = halted.or(stopped);
                e
            }
            Err(e) => {
                rt.block_on(session.teardown());
                return Err(e);
            }
        };
        // A service that died during the binary: said now, and named in the
        // failures of the tests that needed it (here and in later binaries).
        for (kind, why) in rt.block_on(session.check_alive()) {
            sink.event(&Event::Note(&format!(
                "    SERVICE {:<8} DOWN: {}",
                kind.name(),
                why.lines().next().unwrap_or_default()
            )));
            down.push((kind, why));
        }
        let mut entries = entries;
        blame_dead_services(&mut entries, p, &down);
        let failed = entries
            .iter()
            .any(|e| matches!(e.outcome, Outcome::Failed | Outcome::Error));
        tests.extend(entries);
        if failed && !opts.no_fail_fast && stop.is_none() {
            stop = Some(
                "not run: an earlier test binary failed (use --no-fail-fast to run every binary)"
                    .to_string(),
            );
        }
    }
    for e in &plan.undiscovered {
        sink.event(&Event::TestFinished(e));
    }
    tests.extend(plan.undiscovered);
    let service_reports = session.reports().to_vec();
    let session_id = (!needed.is_empty()).then(|| session.id().to_string());
    let removed = rt.block_on(session.teardown());
    let (op_stats, sla_results) = crate::sla::judge_session(
        &measured.samples,
        &measured.load,
        &service_reports,
        &config.sla,
    );
    let evidence = gates::Evidence {
        slas: sla_results.len(),
        slas_met: sla_results.iter().filter(|r| r.met).count(),
        services_needed: needed.len(),
        services_up: service_reports.iter().filter(|r| r.ok).count(),
        mocking_findings: findings.iter().filter(|f| f.allowed.is_none()).count(),
    };
    let mut report = SessionReport::assemble(
        report::Measured {
            selected_tiers: tiers.iter().map(|t| t.get()).collect(),
            declared: plan.declared,
            discovered: plan.discovered,
            tests,
            build_failures: plan.failures,
            duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        },
        &gate_specs,
        &evidence,
    );
    report.partition = opts.partition.map(|p| ShardInfo {
        kind: p.kind,
        index: p.index,
        count: p.count,
        suite,
        samples: crate::partition::group_samples(&measured.samples),
    });
    // A halt after the last test changed nothing; one that cost results
    // fails the run.
    let interrupted = halted;
    if let Some(why) = interrupted {
        report.interrupted = Some(why.key());
        report.verdict = report::Verdict::Fail;
    }
    report.services = service_reports;
    report.sla = sla_results;
    report.operations = op_stats;
    report.load = measured.load;
    report.session = session_id;
    report.mocking = findings
        .iter()
        .map(|f| report::MockingUse {
            krate: f.krate.clone(),
            location: format!("{}:{}", f.file.display(), f.line),
            allowed: f.allowed.clone(),
        })
        .collect();
    sink.event(&Event::RunFinished(&report));
    let mut written = Vec::new();
    if !needed.is_empty() {
        written.push(format!(
            "services: removed {removed} container(s) of the session"
        ));
    }
    let all_written = write_reports(
        &report,
        &ReportPaths {
            json: opts.json.as_deref(),
            html: opts.html.as_deref(),
            junit: opts.junit.as_deref(),
            github_summary: opts.github_summary.as_deref(),
        },
        &mut written,
    );
    if !plan.skipped_targets.is_empty() && opts.verbose {
        written.push(format!(
            "note: test targets without tiered::main!() were not run: {}",
            plan.skipped_targets.join(", ")
        ));
    }
    let _ = report::summary::write(&report, &written, err);
    // A shard that got no test is an ordinary outcome of sharding; only a
    // selection with nothing in it, on any shard, is "no tests".
    let nothing_selected = match &report.partition {
        Some(p) => p.suite.values().all(|c| c.declared == 0) && report.build_failures.is_empty(),
        None => report.is_empty(),
    };
    let exit_code = if nothing_selected {
        let _ = writeln!(
            err,
            "no tests selected: no #[tiered::test] is declared in the selected targets for tier(s) {tiers}{}",
            if opts.harness_args.is_empty() { "" } else { " that matches the filters" }
        );
        exit_codes::NO_TESTS
    } else if let Some(Halt::Signal(sig)) = interrupted {
        crate::interrupt::exit_code(sig)
    } else {
        exit_code(&report, all_written)
    };
    Ok(RunOutcome { report, exit_code })
}

/// Where a run's (or a merge's) reports go; `None`: not asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportPaths<'a> {
    /// `--json`.
    pub json: Option<&'a Path>,
    /// `--html`.
    pub html: Option<&'a Path>,
    /// `--junit`.
    pub junit: Option<&'a Path>,
    /// `GITHUB_STEP_SUMMARY`: appended to, not replaced.
    pub github_summary: Option<&'a Path>,
}

/// Writes every report asked for. Each one written, or why it could not
/// be, becomes a line of `written` for the summary; returns whether all
/// were written.
pub fn write_reports(
    report: &SessionReport,
    paths: &ReportPaths<'_>,
    written: &mut Vec<String>,
) -> bool {
    type Writer = fn(&SessionReport, &Path) -> std::io::Result<()>;
    let writers: [(&str, Option<&Path>, Writer); 4] = [
        ("JSON report", paths.json, report::json::write),
        ("HTML report", paths.html, report::html::write),
        ("JUnit report", paths.junit, report::junit::write),
        (
            "GitHub step summary",
            paths.github_summary,
            report::github::append,
        ),
    ];
    let mut all = true;
    for (what, path, write) in writers {
        let Some(path) = path else { continue };
        match write(report, path) {
            Ok(()) => written.push(format!("{what}: {}", path.display())),
            Err(e) => {
                all = false;
                written.push(format!(
                    "error: cannot write the {what} to {}: {e}",
                    path.display()
                ));
            }
        }
    }
    all
}

/// The exit code of a judged report: 1 on FAIL, else 3 when a report could
/// not be written, else 0.
pub fn exit_code(report: &SessionReport, all_reports_written: bool) -> u8 {
    if report.verdict == report::Verdict::Fail {
        exit_codes::FAILED
    } else if !all_reports_written {
        exit_codes::INFRASTRUCTURE
    } else {
        exit_codes::SUCCESS
    }
}

/// Turns a provisioning update into an event.
pub fn forward(update: Update<'_>, sink: &mut dyn Sink) {
    match update {
        Update::Starting { kind, image } => sink.event(&Event::ServiceStarting {
            name: kind.name(),
            image,
        }),
        Update::Ready(r) => sink.event(&Event::ServiceReady(r)),
        Update::Note(text) => sink.event(&Event::Note(&text)),
    }
}

/// The services the selected, non-ignored tests of tiers 2–3 need.
fn needed_services(plan: &Plan) -> Vec<ServiceKind> {
    let mut v: Vec<ServiceKind> = plan
        .planned
        .iter()
        .flat_map(|p| p.selected.iter())
        .filter(|(l, ignored)| !ignored && l.tier >= 2)
        .flat_map(|(l, _)| l.needs.iter())
        .filter_map(|n| ServiceKind::from_name(n))
        .collect();
    v.sort();
    v.dedup();
    v
}

pub(crate) fn services_runtime() -> Result<tokio::runtime::Runtime, RunError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| RunError::Io {
            what: "cannot start the runtime that provisions services".into(),
            source,
        })
}

fn mocking_findings(ws: &Workspace, config: &Config) -> Vec<crate::mocking::Finding> {
    let targets: Vec<crate::mocking::Target<'_>> = ws
        .targets
        .iter()
        .map(|t| crate::mocking::Target {
            name: &t.name,
            root: &t.src_path,
            deps: t.deps.clone(),
        })
        .collect();
    crate::mocking::check(&targets, &config.mocking)
}

/// `cargo tiered check`: the NO MOCKING check alone (no build). Returns the
/// findings; the caller exits 1 when one is not allowed.
pub fn check(opts: &RunOptions) -> Result<Vec<crate::mocking::Finding>, RunError> {
    let ws = load_workspace(&opts.cargo)?;
    let config = Config::load(&ws.root)?;
    Ok(mocking_findings(&ws, &config))
}

/// One line of `cargo tiered list --json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ListEntry {
    /// libtest-style name.
    pub name: String,
    /// Test target.
    pub binary: String,
    /// Package.
    pub package: String,
    /// Tier.
    pub tier: u8,
    /// Tags.
    pub tags: Vec<String>,
    /// Services needed.
    pub needs: Vec<String>,
    /// Marked ignore.
    pub ignored: bool,
    /// Declaring file and line.
    pub location: String,
}

/// The listing `cargo tiered list` prints.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Listing {
    /// Every discovered test in the selected tiers.
    pub tests: Vec<ListEntry>,
    /// Targets that did not build.
    pub build_failures: Vec<BuildFailure>,
    /// The shard listed (`--partition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<ListedShard>,
}

/// The shard `cargo tiered list --partition` shows.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ListedShard {
    /// The partition.
    #[serde(flatten)]
    pub partition: Partition,
    /// Discovered tests of the whole selection, all shards together.
    pub selected: usize,
}

/// Builds and lists every discovered test.
pub fn list(opts: &RunOptions) -> Result<Listing, RunError> {
    let args = harness_arguments(&opts.harness_args)?;
    let ws = load_workspace(&opts.cargo)?;
    Config::load(&ws.root)?;
    let tiers = opts.tiers.or_all();
    let built = build(&ws, &opts.cargo)?;
    let mut plan = plan(&ws, built, tiers, &args)?;
    let selected = plan.planned.iter().map(|p| p.selected.len()).sum();
    if let Some(p) = &opts.partition {
        plan.partition(p);
    }
    let mut tests = Vec::new();
    for p in plan.planned {
        for (l, _) in p.selected {
            tests.push(ListEntry {
                name: l.name,
                binary: p.target.name.clone(),
                package: p.target.package.clone(),
                tier: l.tier,
                tags: l.tags,
                needs: l.needs,
                ignored: l.ignored,
                location: format!("{}:{}", l.file, l.line),
            });
        }
    }
    Ok(Listing {
        tests,
        build_failures: plan.failures,
        partition: opts.partition.map(|partition| ListedShard {
            partition,
            selected,
        }),
    })
}
