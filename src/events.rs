//! The run's event stream and the sinks that consume it.
//!
//! The runner emits [`Event`]s as things happen — build finished, a binary
//! started, a test finished, gates judged — and every display is a [`Sink`]:
//! the live terminal lines ([`TerminalSink`]), JSON lines on standard
//! output ([`json::JsonSink`], `--message-format json`), progress bars
//! beside them; [`Tee`] feeds several. The final [`SessionReport`] is built
//! from the same `TestFinished` events, so JUnit, JSON and the terminal can
//! never disagree.

use std::io::Write;

pub mod json;
pub use json::JsonSink;

use crate::protocol::Outcome;
use crate::report::{BuildFailure, SessionReport, TestEntry};

/// Something that happened during a run.
#[derive(Debug)]
pub enum Event<'a> {
    /// The build finished; these targets failed.
    BuildFinished {
        /// Test targets that did not build.
        failures: &'a [BuildFailure],
    },
    /// A harness binary is about to run `tests` tests.
    BinaryStarted {
        /// Target name.
        binary: &'a str,
        /// Selected tests in it.
        tests: usize,
    },
    /// A test of tiers 2–3 started (tier-1 tests are reported as they finish).
    TestStarted {
        /// Target name.
        binary: &'a str,
        /// libtest-style name.
        name: &'a str,
        /// Its tier.
        tier: u8,
    },
    /// One test finished (or was accounted for without running).
    TestFinished(&'a TestEntry),
    /// A harness binary exited.
    BinaryFinished {
        /// Target name.
        binary: &'a str,
        /// Its exit status, described.
        status: &'a str,
        /// Whether the status means it crashed or was killed.
        abnormal: bool,
    },
    /// A service is being started (or a kept one checked).
    ServiceStarting {
        /// Service name (`postgres`, …).
        name: &'a str,
        /// The image it runs.
        image: &'a str,
    },
    /// A service came up (or could not).
    ServiceReady(&'a crate::services::ServiceReport),
    /// Tests were selected; `tests` results will follow.
    RunPlanned {
        /// Selected tests in built harness binaries (ignored ones included).
        tests: usize,
    },
    /// Something the user should know that is not a result (a kept
    /// service replaced, a warning).
    Note(&'a str),
    /// The run is complete.
    RunFinished(&'a SessionReport),
}

/// A consumer of events.
pub trait Sink {
    /// Handles one event.
    fn event(&mut self, event: &Event<'_>);
}

/// Several sinks fed the same events, in order.
pub struct Tee<'a>(pub Vec<&'a mut dyn Sink>);

impl Sink for Tee<'_> {
    fn event(&mut self, event: &Event<'_>) {
        for sink in self.0.iter_mut() {
            sink.event(event);
        }
    }
}

/// Live lines on a terminal (or any writer), one per finished test.
pub struct TerminalSink<W: Write> {
    out: W,
    verbose: bool,
    shown_errors: Vec<String>,
}

impl<W: Write> TerminalSink<W> {
    /// A sink writing to `out`; `verbose` also lists passing tests.
    pub fn new(out: W, verbose: bool) -> Self {
        TerminalSink {
            out,
            verbose,
            shown_errors: Vec::new(),
        }
    }
}

impl<W: Write> Sink for TerminalSink<W> {
    fn event(&mut self, event: &Event<'_>) {
        let _ = match event {
            Event::BuildFinished { failures } if !failures.is_empty() => writeln!(
                self.out,
                "   BUILD FAILED {} test target(s): {}",
                failures.len(),
                failures
                    .iter()
                    .map(|f| f.target.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Event::ServiceReady(r) => match &r.error {
                Some(e) if self.shown_errors.contains(e) => writeln!(
                    self.out,
                    "    SERVICE {:<8} NOT AVAILABLE (same reason as above)",
                    r.name
                ),
                other => {
                    if let Some(e) = other {
                        self.shown_errors.push(e.clone());
                    }
                    writeln!(self.out, "{}", crate::report::summary::service_line(r))
                }
            },
            Event::Note(text) => writeln!(self.out, "{text}"),
            Event::BinaryStarted { binary, tests } => {
                writeln!(self.out, "    RUNNING {binary} ({tests} tests)")
            }
            Event::TestFinished(t) => {
                let word = match t.outcome {
                    Outcome::Passed if t.flaky => "FLAKY",
                    Outcome::Passed
                        if !self.verbose && t.stdout.is_none() && t.stderr.is_none() =>
                    {
                        return
                    }
                    Outcome::Passed => "PASS",
                    Outcome::Failed => "FAIL",
                    Outcome::Error => "ERROR",
                    Outcome::Ignored if !self.verbose => return,
                    Outcome::Ignored => "IGNORED",
                    Outcome::NotRun if !self.verbose => return,
                    Outcome::NotRun => "NOT RUN",
                };
                let tries = if t.retries.is_empty() {
                    String::new()
                } else {
                    format!(" (run {} times)", t.retries.len() + 1)
                };
                let line = writeln!(
                    self.out,
                    "{word:>11} [{:>8.3}s] tier{} {} {}{tries}",
                    t.duration_ms / 1000.0,
                    t.tier,
                    t.binary,
                    crate::report::summary::printable(&t.name)
                );
                // A pass carries output only with --success-output (failures
                // show theirs in the summary).
                if t.outcome == Outcome::Passed {
                    for (label, text) in [("stdout", &t.stdout), ("stderr", &t.stderr)] {
                        if let Some(text) = text.as_deref().filter(|x| !x.is_empty()) {
                            let _ = writeln!(
                                self.out,
                                "---- {} {label} ----\n{}",
                                crate::report::summary::printable(&t.name),
                                crate::report::summary::printable(text.trim_end())
                            );
                        }
                    }
                }
                line
            }
            Event::BinaryFinished {
                binary,
                status,
                abnormal: true,
            } => writeln!(self.out, "    CRASHED {binary}: {status}"),
            _ => Ok(()),
        };
    }
}
