//! The terminal summary printed at the end of a run: per-tier counts and
//! rates, each failure with its message, the gate table, the verdict and
//! where the reports went.
//!
//! It writes to any `Write`, so tests capture it exactly as a user sees it.

use std::io::{self, Write};

use super::{SessionReport, TestEntry, Verdict};
use crate::protocol::Outcome;

/// A rate as `85.7%`, or `n/a` when not measured.
pub fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}%"))
}

/// A gate criterion's required and measured values, in words
/// (`>= 90.0%` and `85.7%`, `<= 0` and `2`, `4 up` and `3 up`).
pub fn criterion_values(c: &crate::gates::CriterionResult) -> (String, String) {
    match c.name.as_str() {
        "services_operational" => (
            format!("{} up", c.required),
            c.actual
                .map_or("not measured".into(), |a| format!("{a} up")),
        ),
        "sla_met" => (
            format!("{} met", c.required),
            c.actual
                .map_or("not measured".into(), |a| format!("{a} met")),
        ),
        "complete_run" => ("complete".into(), "incomplete".into()),
        "no_mocking" | "max_failed" => (
            format!("<= {}", c.required),
            c.actual.map_or("not measured".into(), |a| format!("{a}")),
        ),
        _ => (
            format!(">= {:.1}%", c.required),
            c.actual
                .map_or("not measured".into(), |a| format!("{a:.1}%")),
        ),
    }
}

/// Makes text safe for a terminal: control characters (ESC, NUL, …) are
/// shown as `\u{..}` escapes so a test's output cannot drive the terminal.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// One line about a service: ready in how long, which version, against its
/// SLA; or why it is not available.
pub fn service_line(r: &crate::services::ServiceReport) -> String {
    if r.ok && r.reused {
        format!(
            "    SERVICE {:<8} reused, answered in {:.2}s ({}) — {}",
            r.name,
            r.startup_ms / 1000.0,
            r.version.as_deref().unwrap_or("version unknown"),
            r.image
        )
    } else if r.ok {
        format!(
            "    SERVICE {:<8} ready in {:.2}s ({}) — SLA {:.0}s {} — {}",
            r.name,
            r.startup_ms / 1000.0,
            r.version.as_deref().unwrap_or("version unknown"),
            r.sla_ms / 1000.0,
            if r.within_sla { "met" } else { "MISSED" },
            r.image
        )
    } else {
        format!(
            "    SERVICE {:<8} NOT AVAILABLE ({}): {}",
            r.name,
            r.image,
            r.error.as_deref().unwrap_or("unknown error")
        )
    }
}

/// What a shard's or a merged report says about its shards, in words.
pub fn shard_lines(report: &SessionReport) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(p) = &report.partition {
        let whole: u64 = p.suite.values().map(|c| c.declared).sum();
        lines.push(format!(
            "shard {}: {} of the selection's {whole} declared tests are this shard's; the counts and rates above are over them (`cargo tiered merge` joins the shards' JSON reports)",
            p.partition(),
            report.totals.declared
        ));
    }
    if let Some(m) = &report.merged {
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        lines.push(format!(
            "merged {} of {} {} shards: {}",
            m.shards.len(),
            m.count,
            m.kind.as_str(),
            list(&m.shards)
        ));
        if !m.missing.is_empty() {
            lines.push(format!(
                "warning: shard(s) {} of {} missing: their tests count as declared and not executed, and the verdict is FAIL",
                list(&m.missing),
                m.count
            ));
        }
    }
    lines
}

/// Writes the summary.
pub fn write(
    report: &SessionReport,
    reports_written: &[String],
    w: &mut dyn Write,
) -> io::Result<()> {
    writeln!(w)?;
    let problems: Vec<_> = report
        .tests
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Failed | Outcome::Error))
        .collect();
    if !report.build_failures.is_empty() {
        writeln!(w, "BUILD FAILURES ({}):", report.build_failures.len())?;
        for b in &report.build_failures {
            writeln!(w, "  {} ({}):", b.target, b.package)?;
            for line in printable(&b.message).lines().take(20) {
                writeln!(w, "    {line}")?;
            }
        }
        writeln!(w)?;
    }
    let flaky: Vec<&TestEntry> = report.tests.iter().filter(|t| t.flaky).collect();
    if !flaky.is_empty() {
        writeln!(w, "FLAKY ({}): passed only after failing", flaky.len())?;
        for t in &flaky {
            writeln!(
                w,
                "  FLAKY [tier {}] {} :: {} (passed on run {})",
                t.tier,
                t.binary,
                printable(&t.name),
                t.retries.len() + 1
            )?;
            if let Some(m) = t.retries.first().and_then(|a| a.message.as_deref()) {
                writeln!(w, "      first failure: {}", printable(&super::headline(m)))?;
            }
        }
        writeln!(w)?;
    }
    if !problems.is_empty() {
        writeln!(w, "FAILURES ({}):", problems.len())?;
        for t in &problems {
            let word = if t.outcome == Outcome::Error {
                "ERROR"
            } else {
                "FAIL"
            };
            writeln!(w, "  {word} [tier {}] {} :: {}", t.tier, t.binary, t.name)?;
            if let Some(m) = &t.message {
                for line in printable(m).lines().take(30) {
                    writeln!(w, "      {line}")?;
                }
            }
            for (label, text) in [("stdout", &t.stdout), ("stderr", &t.stderr)] {
                if let Some(text) = text.as_deref().filter(|s| !s.trim().is_empty()) {
                    writeln!(w, "      ---- {label} ----")?;
                    let lines: Vec<&str> = text.lines().collect();
                    let start = lines.len().saturating_sub(20);
                    if start > 0 {
                        writeln!(w, "      [... {start} earlier lines]")?;
                    }
                    for line in &lines[start..] {
                        writeln!(w, "      {}", printable(line))?;
                    }
                }
            }
        }
        writeln!(w)?;
    }
    if !report.services.is_empty() {
        writeln!(w, "SERVICES:")?;
        let mut shown_errors: Vec<&str> = Vec::new();
        for r in &report.services {
            match (&r.error, r.ok) {
                (Some(e), false) if shown_errors.contains(&e.as_str()) => writeln!(
                    w,
                    "    SERVICE {:<8} NOT AVAILABLE (same reason as above)",
                    r.name
                )?,
                (Some(e), false) => {
                    shown_errors.push(e);
                    writeln!(w, "{}", service_line(r))?
                }
                _ => writeln!(w, "{}", service_line(r))?,
            }
        }
        writeln!(w)?;
    }
    if !report.sla.is_empty() {
        writeln!(w, "SLA:")?;
        writeln!(
            w,
            "    {:<22} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>13}  {:<12} met",
            "operation", "count", "errors", "p50", "p95", "p99", "max", "threshold", "level"
        )?;
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}ms"));
        for r in &report.sla {
            let threshold = match (&r.threshold_ms, &r.threshold_on) {
                (Some(t), Some(on)) => format!("{on} {t:.0}ms"),
                _ => "-".into(),
            };
            writeln!(
                w,
                "    {:<22} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>13}  {:<12} {}",
                printable(&r.operation),
                r.count,
                r.errors,
                ms(r.p50_ms),
                ms(r.p95_ms),
                ms(r.p99_ms),
                ms(r.max_ms),
                threshold,
                r.level.as_str(),
                if r.met { "yes" } else { "NO" }
            )?;
            for b in &r.breaches {
                writeln!(w, "        {}", printable(b))?;
            }
        }
        writeln!(w)?;
    }
    if !report.load.is_empty() {
        writeln!(w, "LOAD:")?;
        for l in &report.load {
            writeln!(
                w,
                "    {:<22} {} users, {} ops in {:.2}s: {:.1} ops/s, error rate {:.3}, p95 {:.1}ms, max {:.1}ms",
                printable(&l.scenario),
                l.users,
                l.iterations,
                l.duration_ms / 1000.0,
                l.throughput,
                l.error_rate,
                l.p95_ms,
                l.max_ms
            )?;
        }
        writeln!(w)?;
    }
    if !report.mocking.is_empty() {
        writeln!(
            w,
            "NO MOCKING ({} use(s) of mocking crates in tier 2-3 tests):",
            report.mocking.len()
        )?;
        for m in &report.mocking {
            match &m.allowed {
                None => writeln!(w, "    {}: uses `{}`", m.location, m.krate)?,
                Some(r) => writeln!(w, "    {}: uses `{}` (allowed: {r})", m.location, m.krate)?,
            }
        }
        writeln!(w)?;
    }
    writeln!(
        w,
        "{:<8} {:>8} {:>10} {:>8} {:>6} {:>6} {:>6} {:>7}  {:>9} {:>9} {:>8}",
        "tier",
        "declared",
        "discovered",
        "executed",
        "passed",
        "failed",
        "errors",
        "ignored",
        "discovery",
        "execution",
        "success"
    )?;
    let rows = report
        .tiers
        .iter()
        .map(|(k, t)| (k.as_str(), t.totals, t.rates))
        .chain(std::iter::once(("all", report.totals, report.rates)));
    for (name, c, r) in rows {
        writeln!(
            w,
            "{:<8} {:>8} {:>10} {:>8} {:>6} {:>6} {:>6} {:>7}  {:>9} {:>9} {:>8}",
            name,
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
        )?;
    }
    if !report.gates.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "{:<14} {:<20} {:>10} {:>10}  result",
            "gate", "criterion", "required", "actual"
        )?;
        for g in &report.gates {
            for c in &g.criteria {
                let (required, actual) = criterion_values(c);
                writeln!(
                    w,
                    "{:<14} {:<20} {:>10} {:>10}  {}",
                    g.name,
                    c.name,
                    required,
                    actual,
                    if c.passed { "PASS" } else { "FAIL" }
                )?;
            }
            if g.criteria.is_empty() {
                writeln!(w, "{:<14} (no criteria)", g.name)?;
            }
        }
        let mut details: Vec<&str> = report
            .gates
            .iter()
            .flat_map(|g| g.criteria.iter().filter_map(|c| c.detail.as_deref()))
            .collect();
        details.dedup();
        for d in details {
            writeln!(w, "  {d}")?;
        }
    }
    writeln!(w)?;
    for line in shard_lines(report) {
        writeln!(w, "{line}")?;
    }
    for r in reports_written {
        writeln!(w, "{r}")?;
    }
    if let Some(why) = &report.interrupted {
        let why = if why == "timeout" {
            "the session timeout (--timeout)"
        } else {
            why
        };
        writeln!(
            w,
            "interrupted by {why}: the tests that finished are reported, the others are not; the verdict is FAIL"
        )?;
    }
    if let Some(why) = &report.incomplete {
        writeln!(
            w,
            "incomplete: {why}; the tests it did not start are not run, and no gate can pass"
        )?;
    }
    let word = match (report.verdict, report.incomplete.is_some()) {
        (Verdict::Pass, _) => "PASS",
        (Verdict::Fail, false) => "FAIL",
        (Verdict::Fail, true) => "FAIL (incomplete)",
    };
    let c = report.totals;
    writeln!(
        w,
        "verdict: {word} — {} passed, {} failed, {} errors, {} ignored, {} not run of {} declared in {:.2}s",
        c.passed,
        c.failed,
        c.errors,
        c.ignored,
        c.not_run,
        c.declared,
        report.duration_ms / 1000.0
    )?;
    // The plain closing line that CI log readers look for.
    writeln!(w, "{} passed, {} failed", c.passed, c.failed + c.errors)?;
    Ok(())
}
