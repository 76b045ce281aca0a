//! The GitHub Actions job summary: markdown appended to the file that
//! `GITHUB_STEP_SUMMARY` names.
//!
//! [`markdown`] renders the verdict, the per-tier counts and rates, the gate
//! table, service startups against their SLAs, build failures and failing
//! tests; [`append`] adds it to the file. GitHub refuses a step summary over
//! [`LIMIT`] bytes, so the document is built to fit: every cell is cut to a
//! readable length, and the failing-tests table — the one part that grows
//! with the suite — ends with "… and N more" when the rest would not fit.
//! Every text from a test goes through [`escape`], so a message can neither
//! break the table nor inject markdown or HTML.

use std::io::{self, Write};
use std::path::Path;

use super::summary::{criterion_values, printable, rate, shard_lines};
use super::{headline, SessionReport, Verdict};
use crate::protocol::Outcome;

/// The largest step summary GitHub accepts, in bytes.
pub const LIMIT: usize = 65_535;

/// The longest text kept in one table cell, in characters.
const CELL: usize = 200;

/// Room kept for the "… and N more" line.
const MORE_LINE: usize = 64;

/// Makes text safe inside a markdown table cell: control characters become
/// visible `\u{..}` escapes, line breaks spaces, `&`, `<`, `>` and `"` HTML
/// entities, and markdown's inline punctuation is backslash-escaped
/// (`|` included, so a cell cannot end early). Cut to [`CELL`] characters.
pub fn escape(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut shown: String = printable(&flat).chars().take(CELL).collect();
    if printable(&flat).chars().nth(CELL).is_some() {
        shown.push('…');
    }
    let mut out = String::with_capacity(shown.len() + 8);
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '|' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn ms_as_s(ms: f64) -> String {
    format!("{:.2} s", ms / 1000.0)
}

/// Renders the summary in at most `budget` bytes.
pub fn markdown(report: &SessionReport, budget: usize) -> String {
    let mut out = String::new();
    let c = report.totals;
    let mark = match report.verdict {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
    };
    out.push_str(&format!(
        "\n## {mark} cargo tiered: {}\n\n",
        report.verdict.as_str()
    ));
    out.push_str(&format!(
        "{} passed, {} failed, {} errors, {} ignored, {} not run of {} declared in {}.\n\n",
        c.passed,
        c.failed,
        c.errors,
        c.ignored,
        c.not_run,
        c.declared,
        ms_as_s(report.duration_ms)
    ));
    for line in shard_lines(report) {
        out.push_str(&format!("> {}\n\n", escape(&line)));
    }
    out.push_str(
        "| tier | declared | discovered | executed | passed | failed | errors | ignored | discovery | execution | success |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let rows = report
        .tiers
        .iter()
        .map(|(k, t)| (k.clone(), t.totals, t.rates))
        .chain(std::iter::once(("**all**".to_string(), c, report.rates)));
    for (name, c, r) in rows {
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            c.declared,
            c.discovered,
            c.executed,
            c.passed,
            c.failed,
            c.errors,
            c.ignored,
            rate(r.discovery),
            rate(r.execution),
            rate(r.success)
        ));
    }
    if !report.gates.is_empty() {
        out.push_str(
            "\n### Gates\n\n| gate | criterion | measured | target | result |\n|---|---|---:|---:|---|\n",
        );
        for g in &report.gates {
            for cr in &g.criteria {
                let (required, actual) = criterion_values(cr);
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    escape(&g.name),
                    cr.name,
                    escape(&actual),
                    escape(&required),
                    if cr.passed { "✅ pass" } else { "❌ FAIL" }
                ));
            }
            if g.criteria.is_empty() {
                out.push_str(&format!(
                    "| {} | (no criteria) | | | {} |\n",
                    escape(&g.name),
                    if g.passed { "✅ pass" } else { "❌ FAIL" }
                ));
            }
        }
    }
    if !report.services.is_empty() {
        out.push_str(
            "\n### Service startup\n\n| service | image | version | startup | SLA | result |\n|---|---|---|---:|---:|---|\n",
        );
        for s in &report.services {
            let result = match (&s.error, s.ok) {
                (_, true) if s.within_sla => "✅ within SLA".to_string(),
                (_, true) => "❌ SLA missed".to_string(),
                (e, false) => format!(
                    "❌ not available: {}",
                    escape(e.as_deref().unwrap_or("unknown error"))
                ),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {result} |\n",
                escape(&s.name),
                escape(&s.image),
                escape(s.version.as_deref().unwrap_or("-")),
                if s.ok {
                    ms_as_s(s.startup_ms)
                } else {
                    "-".into()
                },
                ms_as_s(s.sla_ms)
            ));
        }
    }
    if !report.build_failures.is_empty() {
        out.push_str(&format!(
            "\n### Build failures ({})\n\n| target | package | first error |\n|---|---|---|\n",
            report.build_failures.len()
        ));
        for b in &report.build_failures {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                escape(&b.target),
                escape(&b.package),
                escape(&headline(&b.message))
            ));
        }
    }
    let failing: Vec<_> = report
        .tests
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Failed | Outcome::Error))
        .collect();
    if !failing.is_empty() {
        let head = format!(
            "\n### Failing tests ({})\n\n| test | tier | outcome | message |\n|---|---:|---|---|\n",
            failing.len()
        );
        if out.len() + head.len() + MORE_LINE <= budget {
            out.push_str(&head);
            for (i, t) in failing.iter().enumerate() {
                let row = format!(
                    "| {} | {} | {} | {} |\n",
                    escape(&format!("{}::{}", t.binary, t.name)),
                    t.tier,
                    t.outcome.as_str(),
                    escape(&headline(t.message.as_deref().unwrap_or("")))
                );
                if out.len() + row.len() + MORE_LINE > budget {
                    out.push_str(&format!("\n… and {} more\n", failing.len() - i));
                    break;
                }
                out.push_str(&row);
            }
        } else {
            out.push_str(&format!(
                "\n… and {} failing tests not shown\n",
                failing.len()
            ));
        }
    }
    if out.len() > budget {
        // Only a pathological report (thousands of gates) gets here: cut
        // at a character boundary rather than exceed GitHub's limit.
        let note = "\n… (cut to fit GitHub's size limit)\n";
        let mut end = budget.saturating_sub(note.len());
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        if out.len() + note.len() <= budget {
            out.push_str(note);
        }
    }
    out
}

/// Appends the summary to `path`, keeping the whole file within [`LIMIT`]
/// (a step may write to it before `cargo tiered` does).
pub fn append(report: &SessionReport, path: &Path) -> io::Result<()> {
    let used = std::fs::metadata(path).map_or(0, |m| m.len() as usize);
    let text = markdown(report, LIMIT.saturating_sub(used));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}
