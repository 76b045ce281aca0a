//! Writing every report a run (or a merge) was asked for, and the exit code
//! of a judged report.

use std::path::Path;

use super::SessionReport;
use crate::exit_codes;

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
        ("JSON report", paths.json, super::json::write),
        ("HTML report", paths.html, super::html::write),
        ("JUnit report", paths.junit, super::junit::write),
        (
            "GitHub step summary",
            paths.github_summary,
            super::github::append,
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
    if report.verdict == super::Verdict::Fail {
        exit_codes::FAILED
    } else if !all_reports_written {
        exit_codes::INFRASTRUCTURE
    } else {
        exit_codes::SUCCESS
    }
}
