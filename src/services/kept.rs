//! Kept services: started by `cargo tiered services up`, left running, and
//! reused by later runs for an inner loop without startup cost.
//!
//! The state of a kept session lives in one JSON file, by default
//! `<target-dir>/tiered/services.json` (`TIERED_STATE_DIR` moves the
//! directory): the session id its containers are labelled with, its secret,
//! and per service the container, image, port and the endpoint variables
//! tests need. The file is written atomically with mode 0600 — it holds the
//! session's password — and never leaves the target directory. A run reuses
//! a kept service only after a real round trip proves it still answers;
//! every test still gets its own isolated slice of it.
//!
//! A harness binary run on its own (`cargo test --test tier2`, or one test
//! per process under nextest) finds the file from its own path: test
//! executables live in `<target-dir>/<profile>/deps/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ServiceKind;

/// Environment variable naming the directory of the state file.
pub const STATE_DIR_ENV: &str = "TIERED_STATE_DIR";
/// The state file's name.
pub const STATE_FILE: &str = "services.json";

/// A kept session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeptState {
    /// Format version of this file.
    pub format: u32,
    /// The session id the containers are labelled with.
    pub session: String,
    /// The session's password.
    pub secret: String,
    /// The workspace the services were started for.
    pub workspace: PathBuf,
    /// The services, one per kind.
    pub services: Vec<KeptService>,
}

/// One kept service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeptService {
    /// Which service.
    pub kind: ServiceKind,
    /// Docker's container id.
    pub container: String,
    /// The image it runs.
    pub image: String,
    /// The host port (on 127.0.0.1).
    pub port: u16,
    /// The server's version, as it answered.
    pub version: Option<String>,
    /// Where it listens, without credentials.
    pub endpoint: Option<String>,
    /// The environment tests need to reach it.
    pub env: Vec<(String, String)>,
    /// When it was started (seconds since the Unix epoch).
    pub started_at: u64,
    /// How long it took to answer after it was asked for, in ms.
    pub startup_ms: f64,
}

impl KeptState {
    /// A new, empty kept session for `workspace`.
    pub fn new(workspace: &Path) -> KeptState {
        KeptState {
            format: 1,
            session: format!("k{}", &super::random_token()[..12]),
            secret: super::random_token(),
            workspace: workspace.to_path_buf(),
            services: Vec::new(),
        }
    }

    /// The kept service of this kind.
    pub fn service(&self, kind: ServiceKind) -> Option<&KeptService> {
        self.services.iter().find(|s| s.kind == kind)
    }

    /// Records `service`, replacing any earlier one of its kind.
    pub fn put(&mut self, service: KeptService) {
        self.services.retain(|s| s.kind != service.kind);
        self.services.push(service);
        self.services.sort_by_key(|s| s.kind);
    }
}

/// The state file for a target directory (or `TIERED_STATE_DIR`).
pub fn state_path(target_dir: &Path) -> PathBuf {
    match std::env::var_os(STATE_DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d).join(STATE_FILE),
        _ => target_dir.join("tiered").join(STATE_FILE),
    }
}

/// The state file a harness binary should look at: `TIERED_STATE_DIR`'s,
/// else `tiered/services.json` in the nearest ancestor of the executable
/// that has one.
pub fn state_path_for_exe() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(STATE_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join(STATE_FILE));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(4)
        .map(|dir| dir.join("tiered").join(STATE_FILE))
        .find(|p| p.is_file())
}

/// Reads the state file; `Ok(None)` when there is none.
pub fn load(path: &Path) -> Result<Option<KeptState>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            format!(
                "the kept-services state {} is not valid ({e}); remove it, or run `cargo tiered services down`",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes the state file atomically, readable by its owner only.
pub fn save(path: &Path, state: &KeptState) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{STATE_FILE}.{}", std::process::id()));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        std::io::Write::write_all(&mut f, &serde_json::to_vec_pretty(state)?)?;
    }
    std::fs::rename(&tmp, path)
}

/// Removes the state file (absent is fine).
pub fn forget(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
