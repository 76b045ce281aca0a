//! The HTML report (`--html PATH`): one self-contained file — inline CSS and
//! SVG, no script, nothing fetched at view time — with the verdict, the gate
//! table, per-tier rates, a latency chart per operation (p50/p95/p99/max
//! bars against the threshold), load scenarios, services and every failure.
//!
//! Every piece of text from a run (test names, messages, captured output,
//! operation names) goes through [`escape`]; the page carries a
//! Content-Security-Policy that allows no script at all, so a test named
//! `<script>alert(1)</script>` is shown as text and can do nothing.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::SessionReport;
use crate::protocol::Outcome;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn rate(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |v| format!("{v:.1}%"))
}

fn chart(r: &crate::sla::SlaResult) -> String {
    let bars = [
        ("p50", r.p50_ms),
        ("p95", r.p95_ms),
        ("p99", r.p99_ms),
        ("max", r.max_ms),
    ];
    let top = bars
        .iter()
        .filter_map(|(_, v)| *v)
        .chain(r.threshold_ms)
        .fold(0.0_f64, f64::max)
        .max(0.001)
        * 1.1;
    let (w, bar_h, label_w) = (420.0, 16.0, 40.0);
    let scale = |v: f64| (v / top) * (w - label_w - 90.0);
    let mut svg = format!(
        r#"<svg class="chart" width="{w}" height="{h}" role="img" aria-label="latency of {name}">"#,
        h = bar_h * 4.0 + 8.0,
        name = escape(&r.operation)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 4.0 + i as f64 * bar_h;
        let v = v.unwrap_or(0.0);
        let over = r.threshold_ms.is_some_and(|t| v >= t);
        let _ = write!(
            svg,
            r#"<text x="0" y="{ty}">{label}</text><rect x="{label_w}" y="{y}" width="{bw:.1}" height="{bh}" class="{cls}"/><text x="{tx:.1}" y="{ty}">{v:.1} ms</text>"#,
            ty = y + bar_h - 4.0,
            bw = scale(v),
            bh = bar_h - 3.0,
            cls = if over { "bar over" } else { "bar" },
            tx = label_w + scale(v) + 4.0,
        );
    }
    if let Some(t) = r.threshold_ms {
        let x = label_w + scale(t);
        let _ = write!(
            svg,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="0" y2="{y2}" class="threshold"><title>threshold {t:.0} ms</title></line>"#,
            y2 = bar_h * 4.0 + 8.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Renders the report as a self-contained HTML page.
pub fn render(report: &SessionReport) -> String {
    let mut h = String::new();
    let verdict = report.verdict.as_str();
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>cargo tiered — {verdict}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}}
h1 .PASS{{color:#1a7f37}} h1 .FAIL{{color:#cf222e}}
table{{border-collapse:collapse;margin:0 0 1.5em}} td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}} .no{{color:#cf222e;font-weight:600}} .yes{{color:#1a7f37}}
pre{{background:#f6f8fa;padding:6px;white-space:pre-wrap;max-height:20em;overflow:auto}}
.chart text{{font:11px monospace}} .bar{{fill:#4c8bf5}} .bar.over{{fill:#cf222e}} .threshold{{stroke:#222;stroke-dasharray:3 2}}
.ok{{color:#1a7f37}} .warning{{color:#9a6700}} .critical,.emergency,.not_measured{{color:#cf222e;font-weight:600}}
</style></head><body>
<h1>Verdict: <span class="{verdict}">{verdict}</span></h1>
<p>{passed} passed, {failed} failed, {errors} errors, {ignored} ignored, {not_run} not run of {declared} declared in {secs:.2}s</p>
"#,
        passed = report.totals.passed,
        failed = report.totals.failed,
        errors = report.totals.errors,
        ignored = report.totals.ignored,
        not_run = report.totals.not_run,
        declared = report.totals.declared,
        secs = report.duration_ms / 1000.0,
    );
    h.push_str("<h2>Rates per tier</h2><table><tr><th>tier</th><th>declared</th><th>discovered</th><th>executed</th><th>passed</th><th>discovery</th><th>execution</th><th>success</th></tr>");
    let rows = report
        .tiers
        .iter()
        .map(|(k, t)| (k.clone(), t.totals, t.rates))
        .chain(std::iter::once((
            "all".to_string(),
            report.totals,
            report.rates,
        )));
    for (k, c, r) in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&k),
            c.declared,
            c.discovered,
            c.executed,
            c.passed,
            rate(r.discovery),
            rate(r.execution),
            rate(r.success)
        );
    }
    h.push_str("</table>");
    if !report.gates.is_empty() {
        h.push_str("<h2>Gates</h2><table><tr><th>gate</th><th>criterion</th><th>required</th><th>actual</th><th>result</th></tr>");
        for g in &report.gates {
            for c in &g.criteria {
                let _ = write!(
                    h,
                    r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="{}">{}</td></tr>"#,
                    escape(&g.name),
                    escape(&c.name),
                    c.required,
                    c.actual.map_or("not measured".into(), |a| a.to_string()),
                    if c.passed { "yes" } else { "no" },
                    if c.passed { "PASS" } else { "FAIL" }
                );
            }
        }
        h.push_str("</table>");
    }
    if !report.sla.is_empty() {
        h.push_str("<h2>Latency and SLAs</h2><table><tr><th>operation</th><th>count</th><th>errors</th><th>threshold</th><th>level</th><th>met</th><th>p50 / p95 / p99 / max</th></tr>");
        for r in &report.sla {
            let level = r.level.as_str().replace(' ', "_");
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="{level}">{}</td><td class="{}">{}</td><td>{}</td></tr>"#,
                escape(&r.operation),
                r.count,
                r.errors,
                r.threshold_ms.map_or("-".into(), |t| format!(
                    "{} {t:.0} ms",
                    r.threshold_on.as_deref().unwrap_or("")
                )),
                escape(r.level.as_str()),
                if r.met { "yes" } else { "no" },
                if r.met { "yes" } else { "NO" },
                chart(r)
            );
        }
        h.push_str("</table>");
    }
    if !report.load.is_empty() {
        h.push_str("<h2>Load scenarios</h2><table><tr><th>scenario</th><th>users</th><th>operations</th><th>duration</th><th>throughput</th><th>error rate</th><th>p95</th></tr>");
        for l in &report.load {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2} s</td><td>{:.1} ops/s</td><td>{:.3}</td><td>{:.1} ms</td></tr>",
                escape(&l.scenario),
                l.users,
                l.iterations,
                l.duration_ms / 1000.0,
                l.throughput,
                l.error_rate,
                l.p95_ms
            );
        }
        h.push_str("</table>");
    }
    if !report.services.is_empty() {
        h.push_str("<h2>Services</h2><table><tr><th>service</th><th>image</th><th>version</th><th>ready in</th><th>SLA</th><th>status</th></tr>");
        for s in &report.services {
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2} s</td><td>{:.0} s</td><td class="{}">{}</td></tr>"#,
                escape(&s.name),
                escape(&s.image),
                escape(s.version.as_deref().unwrap_or("-")),
                s.startup_ms / 1000.0,
                s.sla_ms / 1000.0,
                if s.ok { "yes" } else { "no" },
                escape(s.error.as_deref().unwrap_or("up"))
            );
        }
        h.push_str("</table>");
    }
    let problems: Vec<_> = report
        .tests
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Failed | Outcome::Error))
        .collect();
    if !problems.is_empty() {
        let _ = write!(h, "<h2>Failures ({})</h2>", problems.len());
        for t in problems {
            let _ = write!(
                h,
                r#"<h3 class="no">{} tier {} — {} :: {}</h3><pre>{}</pre>"#,
                escape(t.outcome.as_str()),
                t.tier,
                escape(&t.binary),
                escape(&t.name),
                escape(t.message.as_deref().unwrap_or(""))
            );
            for (label, text) in [("stdout", &t.stdout), ("stderr", &t.stderr)] {
                if let Some(text) = text.as_deref().filter(|s| !s.is_empty()) {
                    let _ = write!(h, "<p>{label}</p><pre>{}</pre>", escape(text));
                }
            }
        }
    }
    h.push_str("<h2>Tests</h2><table><tr><th>test</th><th>binary</th><th>tier</th><th>outcome</th><th>ms</th><th>note</th></tr>");
    for t in &report.tests {
        let note = t
            .message
            .as_deref()
            .and_then(|m| m.lines().next())
            .unwrap_or("");
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            escape(&t.name),
            escape(&t.binary),
            t.tier,
            escape(t.outcome.as_str()),
            t.duration_ms,
            escape(note)
        );
    }
    h.push_str("</table></body></html>\n");
    h
}

/// Writes the page to `path`, creating parent folders.
pub fn write(report: &SessionReport, path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, render(report))
}
