use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `cargo-tiered` binary: the one running this suite when there is one
/// (it exports `CARGO_TIERED`), else built once from this workspace.
pub fn cargo_tiered() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("CARGO_TIERED") {
            return PathBuf::from(p);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "cargo-tiered"])
            .current_dir(repo())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building cargo-tiered failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("target"));
        target.join("debug/cargo-tiered")
    })
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("fixtures/workspaces").join(name)
}

/// What one `cargo tiered` run did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: tempfile::TempDir,
}

impl Run {
    pub fn json_path(&self) -> PathBuf {
        self.dir.path().join("report.json")
    }
    pub fn junit_path(&self) -> PathBuf {
        self.dir.path().join("junit.xml")
    }
    pub fn json(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.json_path())
            .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr:\n{}", self.stderr));
        serde_json::from_str(&text).unwrap()
    }
    pub fn junit(&self) -> String {
        std::fs::read_to_string(self.junit_path())
            .unwrap_or_else(|e| panic!("no JUnit report ({e}); stderr:\n{}", self.stderr))
    }
    /// The test entry named `name` in the JSON report.
    pub fn test(&self, name: &str) -> serde_json::Value {
        self.json()["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no test {name} in the report"))
    }
}

/// Runs `cargo tiered ARGS` on a fixture workspace, asking for both reports.
pub fn run(fixture_name: &str, args: &[&str]) -> Run {
    run_env(fixture_name, args, &[])
}

/// Like [`run`], with extra environment variables.
pub fn run_env(fixture_name: &str, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(fixture_name);
    cmd.arg("--json")
        .arg(dir.path().join("report.json"))
        .arg("--junit")
        .arg(dir.path().join("junit.xml"))
        .args(args)
        .envs(envs.iter().copied());
    finish(cmd, dir)
}

/// Runs `cargo tiered ARGS` without report flags (ARGS may start with a
/// subcommand such as `list` or `check`: `--manifest-path` is global).
pub fn run_plain(fixture_name: &str, args: &[&str]) -> Run {
    let mut cmd = command(fixture_name);
    cmd.args(args);
    finish(cmd, tempfile::tempdir().unwrap())
}

/// Like [`run_plain`], with extra environment variables.
pub fn run_plain_env(fixture_name: &str, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut cmd = command(fixture_name);
    cmd.args(args).envs(envs.iter().copied());
    finish(cmd, tempfile::tempdir().unwrap())
}

/// `cargo tiered --manifest-path FIXTURE` with the suite's environment.
fn command(fixture_name: &str) -> Command {
    let ws = fixture(fixture_name);
    let mut cmd = Command::new(cargo_tiered());
    cmd.arg("tiered")
        .arg("--manifest-path")
        .arg(ws.join("Cargo.toml"))
        .current_dir(&ws)
        .env("CARGO_TARGET_DIR", fixtures_target())
        .env_remove("TIERED_CONFIG")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("RUST_BACKTRACE", "0");
    cmd
}

/// Runs `cargo tiered merge REPORTS… ARGS` in a fresh directory (no
/// `tiered.toml` around it), asking for both merged reports there.
pub fn merge(reports: &[PathBuf], args: &[&str], envs: &[(&str, &Path)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(cargo_tiered());
    cmd.arg("tiered")
        .arg("merge")
        .args(reports)
        .arg("--json")
        .arg(dir.path().join("report.json"))
        .arg("--junit")
        .arg(dir.path().join("junit.xml"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("TIERED_CONFIG")
        .env_remove("GITHUB_STEP_SUMMARY")
        .envs(envs.iter().copied());
    finish(cmd, dir)
}

fn finish(mut cmd: Command, dir: tempfile::TempDir) -> Run {
    let out = cmd.output().expect("cargo-tiered runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    }
}

/// then compiled once.
pub fn fixtures_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

/// Containers (running or not) labelled with this session.
pub fn session_containers(session: &str) -> Vec<String> {
    labelled("dev.tiered.session", session)
}

/// Containers, running or not, with `label=value`.
pub fn labelled(label: &str, value: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label={label}={value}"))
        .output()
        .expect("the docker CLI runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Validates a JUnit file against Jenkins' junit-10.xsd with xmllint.
pub fn assert_valid_junit(path: &Path) {
    let xsd = repo().join("fixtures/junit/junit-10.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(path)
        .output()
        .expect("xmllint is needed to validate JUnit: apt-get install libxml2-utils");
    assert!(
        out.status.success(),
        "{} is not valid against junit-10.xsd:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
