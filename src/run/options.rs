//! What `cargo tiered` was asked to do: [`RunOptions`], and the cargo flags
//! it passes through ([`CargoArgs`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::partition::Partition;
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
    pub(crate) fn common(&self) -> Vec<String> {
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

    pub(crate) fn build(&self) -> Vec<String> {
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
    /// Stop starting tests after the first failure (`--fail-fast`); the
    /// run is then incomplete. Off by default: a run is a measurement.
    pub fail_fast: bool,
    /// Tests running at once (`--test-threads`, `-j`); `None`: `-- --test-threads N`,
    /// else the available cores.
    pub test_threads: Option<usize>,
    /// Keep (and show) the captured output of passing tests too.
    pub success_output: bool,
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

impl RunOptions {
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
