//! `--message-format json`: every event as one JSON object per line.
//!
//! [`JsonSink`] writes to standard output what the terminal sink shows on
//! standard error, for tools: each line is an object whose `"type"` says
//! what happened — `build-finished`, `service-starting`, `service-ready`,
//! `note`, `run-planned`, `binary-started`, `test-started` (tiers 2–3),
//! `test-finished`, `binary-finished`, then one `gate-evaluated` per
//! requested gate and last `run-finished` with the verdict. The fields are
//! those of the JSON report's corresponding entries, so one schema serves
//! both; README documents it. Each line is flushed at once, so a consumer
//! sees a test the moment it finishes.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::{Event, Sink};
use crate::gates::GateResult;
use crate::partition::{MergedShards, Partition};
use crate::rates::{Counts, Rates};
use crate::report::{BuildFailure, SessionReport, TestEntry, TierReport, Verdict};
use crate::services::ServiceReport;

/// One line of the stream.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Line<'a> {
    BuildFinished {
        failures: &'a [BuildFailure],
    },
    ServiceStarting {
        name: &'a str,
        image: &'a str,
    },
    ServiceReady(&'a ServiceReport),
    RunPlanned {
        tests: usize,
    },
    Note {
        text: &'a str,
    },
    BinaryStarted {
        binary: &'a str,
        tests: usize,
    },
    TestStarted {
        binary: &'a str,
        name: &'a str,
        tier: u8,
    },
    TestFinished(&'a TestEntry),
    BinaryFinished {
        binary: &'a str,
        status: &'a str,
        abnormal: bool,
    },
    GateEvaluated(&'a GateResult),
    RunFinished(RunFinished<'a>),
}

#[derive(Serialize)]
struct RunFinished<'a> {
    verdict: Verdict,
    selected_tiers: &'a [u8],
    totals: &'a Counts,
    rates: &'a Rates,
    tiers: &'a BTreeMap<String, TierReport>,
    gates: Vec<GateVerdict<'a>>,
    build_failures: usize,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    partition: Option<Partition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merged: Option<&'a MergedShards>,
}

#[derive(Serialize)]
struct GateVerdict<'a> {
    name: &'a str,
    passed: bool,
}

/// Writes each event as a JSON line to `out` (standard output in the CLI).
pub struct JsonSink<W: Write> {
    out: W,
}

impl<W: Write> JsonSink<W> {
    /// A sink writing JSON lines to `out`.
    pub fn new(out: W) -> Self {
        JsonSink { out }
    }

    fn line(&mut self, line: &Line<'_>) {
        // A closed pipe must not stop the run: the reports still get written.
        if serde_json::to_writer(&mut self.out, line).is_ok() {
            let _ = self.out.write_all(b"\n");
            let _ = self.out.flush();
        }
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::BuildFinished { failures } => self.line(&Line::BuildFinished { failures }),
            Event::ServiceStarting { name, image } => {
                self.line(&Line::ServiceStarting { name, image })
            }
            Event::ServiceReady(r) => self.line(&Line::ServiceReady(r)),
            Event::RunPlanned { tests } => self.line(&Line::RunPlanned { tests: *tests }),
            Event::Note(text) => self.line(&Line::Note { text }),
            Event::BinaryStarted { binary, tests } => self.line(&Line::BinaryStarted {
                binary,
                tests: *tests,
            }),
            Event::TestStarted { binary, name, tier } => self.line(&Line::TestStarted {
                binary,
                name,
                tier: *tier,
            }),
            Event::TestFinished(t) => self.line(&Line::TestFinished(t)),
            Event::BinaryFinished {
                binary,
                status,
                abnormal,
            } => self.line(&Line::BinaryFinished {
                binary,
                status,
                abnormal: *abnormal,
            }),
            Event::RunFinished(report) => {
                for g in &report.gates {
                    self.line(&Line::GateEvaluated(g));
                }
                self.line(&Line::RunFinished(run_finished(report)));
            }
        }
    }
}

fn run_finished(r: &SessionReport) -> RunFinished<'_> {
    RunFinished {
        verdict: r.verdict,
        selected_tiers: &r.selected_tiers,
        totals: &r.totals,
        rates: &r.rates,
        tiers: &r.tiers,
        gates: r
            .gates
            .iter()
            .map(|g| GateVerdict {
                name: &g.name,
                passed: g.passed,
            })
            .collect(),
        build_failures: r.build_failures.len(),
        duration_ms: r.duration_ms,
        partition: r.partition.as_ref().map(|p| p.partition()),
        merged: r.merged.as_ref(),
    }
}
