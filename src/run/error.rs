//! Why a run could not happen: [`RunError`], each variant with its exit
//! code and a hint for the person who has to fix it.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::exit_codes;
use crate::gates::UnknownGate;
use crate::partition::PartitionError;

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
