//! The build: `cargo build --tests --message-format=json --keep-going`, so
//! one target that does not compile cannot hide the others; each test
//! target's binary, or its first compiler error.

use std::collections::HashMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::{Message, TargetKind};

use super::workspace::{TestTarget, Workspace};
use super::{CargoArgs, RunError};
use crate::protocol;
use crate::report::BuildFailure;

/// What the build produced: a test binary per target that built, and the
/// first error of each that did not.
pub(crate) struct Built {
    pub(crate) binaries: Vec<(TestTarget, PathBuf)>,
    pub(crate) failures: Vec<BuildFailure>,
}

fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

pub(crate) fn build(ws: &Workspace, cargo: &CargoArgs) -> Result<Built, RunError> {
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
