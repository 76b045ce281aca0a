//! How long each test took last time: what orders the queue longest first.
//!
//! After every run the durations of the tests that ran are merged into
//! `<target-dir>/tiered/durations.json` (`{"binary::name": ms}`), written
//! atomically; the next run reads it. A missing or unreadable file is no
//! error: the queue is then ordered by tier (tier 3 first).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::report::TestEntry;

/// The file, under a target directory.
pub(crate) fn path(target_dir: &Path) -> PathBuf {
    target_dir.join("tiered").join("durations.json")
}

/// The durations of the previous runs, keyed `binary::name`.
pub(crate) fn load(target_dir: &Path) -> HashMap<String, f64> {
    std::fs::read(path(target_dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Merges the durations of the tests that ran into the file; best effort.
pub(crate) fn save(target_dir: &Path, mut known: HashMap<String, f64>, tests: &[TestEntry]) {
    let mut changed = false;
    for t in tests.iter().filter(|t| t.outcome.executed()) {
        known.insert(format!("{}::{}", t.binary, t.name), t.duration_ms);
        changed = true;
    }
    if !changed {
        return;
    }
    let file = path(target_dir);
    let Some(dir) = file.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let Ok(json) = serde_json::to_vec(&known) else {
        return;
    };
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
        use std::io::Write;
        if tmp.write_all(&json).is_ok() {
            let _ = tmp.persist(&file);
        }
    }
}
