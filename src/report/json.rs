//! The JSON report (`--json PATH`): [`SessionReport`] as serde writes it.
//!
//! Its keys are documented in README and are a contract for CI scripts:
//! `verdict`, `totals`, `rates`, `tiers`, `tests`, `gates`, `build_failures`.

use std::io;
use std::path::Path;

use super::SessionReport;

/// Writes the report as pretty JSON to `path`, creating parent folders.
pub fn write(report: &SessionReport, path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    text.push('\n');
    std::fs::write(path, text)
}

/// Reads a report written by [`write`].
pub fn read(path: &Path) -> io::Result<SessionReport> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
