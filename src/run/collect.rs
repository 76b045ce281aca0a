//! Turning what workers report into the report's entries.
//!
//! A worker's [`TestRecord`] becomes a [`TestEntry`] here: output kept for
//! failures (and for passes with `--success-output`), secrets replaced
//! before any sink or report sees them, and the failure of a test whose
//! service died named with what happened to the service.

use crate::protocol::{ListedTest, Outcome, TestRecord};
use crate::report::TestEntry;
use crate::services::ServiceKind;

/// The entry of a finished test of `binary`.
pub(crate) fn entry(binary: &str, r: TestRecord, success_output: bool) -> TestEntry {
    let keep_output = success_output || matches!(r.outcome, Outcome::Failed | Outcome::Error);
    TestEntry {
        name: r.name,
        binary: binary.to_string(),
        tier: r.tier,
        outcome: r.outcome,
        duration_ms: r.duration_ms,
        message: r.message,
        stdout: r.stdout.filter(|_| keep_output),
        stderr: r.stderr.filter(|_| keep_output),
        setup_ms: r.setup_ms,
        flaky: r.outcome == Outcome::Passed && !r.retries.is_empty(),
        retries: r.retries,
    }
}

/// The entry of a test that did not run to a result: ignored, not run, or
/// an error before it started.
pub(crate) fn unrun(
    binary: &str,
    l: &ListedTest,
    outcome: Outcome,
    message: Option<String>,
) -> TestEntry {
    TestEntry {
        name: l.name.clone(),
        binary: binary.to_string(),
        tier: l.tier,
        outcome,
        duration_ms: 0.0,
        message,
        stdout: None,
        stderr: None,
        setup_ms: None,
        retries: Vec::new(),
        flaky: false,
    }
}

/// Replaces the session's secrets in what a test reported.
pub(crate) fn redact_entry(e: &mut TestEntry, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    let attempts = e
        .retries
        .iter_mut()
        .flat_map(|a| [&mut a.message, &mut a.stdout, &mut a.stderr]);
    for text in [&mut e.message, &mut e.stdout, &mut e.stderr]
        .into_iter()
        .chain(attempts)
    {
        if let Some(x) = text.as_mut() {
            *x = crate::services::redact(x, secrets);
        }
    }
}

/// Adds to a failed test's message what happened to each service it
/// needs that was found dead.
pub(crate) fn blame_dead_services(
    e: &mut TestEntry,
    needs: &[ServiceKind],
    down: &[(ServiceKind, String)],
) {
    if !matches!(e.outcome, Outcome::Failed | Outcome::Error) {
        return;
    }
    for (kind, why) in down {
        if needs.contains(kind) {
            let m = e.message.get_or_insert_with(String::new);
            if !m.is_empty() {
                m.push('\n');
            }
            m.push_str(&format!("{}: {why}", kind.name()));
        }
    }
}
