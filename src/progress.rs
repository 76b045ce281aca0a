//! Live progress on a terminal: a spinner per starting service and a bar
//! for the tests.
//!
//! [`ProgressSink`] is one more consumer of the run's [`Event`] stream. It
//! wraps the line-oriented sink (which it still feeds, printing through the
//! progress area so lines and bars never tear each other) and draws with
//! indicatif on **stderr only** — stdout, JUnit and JSON never see a frame.
//! [`enabled`] decides whether to draw at all: only when stderr is a
//! terminal, `CI` is not set, `TERM` is not `dumb` and `--no-progress` was
//! not given. Everything else (a pipe, a CI log) gets plain lines.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::events::{Event, Sink};
use crate::protocol::Outcome;

/// Whether progress should be drawn: stderr is a terminal, `CI` is unset,
/// `TERM` is not `dumb`, and the user did not ask for `--no-progress`.
pub fn enabled(no_progress: bool) -> bool {
    !no_progress
        && std::env::var_os("CI").is_none_or(|v| v.is_empty() || v == "false" || v == "0")
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
        && std::io::stderr().is_terminal()
}

/// Draws spinners and a test bar, and passes every event on to `inner`.
pub struct ProgressSink<S: Sink> {
    inner: S,
    area: MultiProgress,
    services: HashMap<String, ProgressBar>,
    tests: Option<ProgressBar>,
    passed: u64,
    failed: u64,
}

impl<S: Sink> ProgressSink<S> {
    /// A sink drawing on stderr in front of `inner`.
    pub fn new(inner: S) -> Self {
        ProgressSink {
            inner,
            area: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            services: HashMap::new(),
            tests: None,
            passed: 0,
            failed: 0,
        }
    }

    fn counts(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.cyan} {prefix:<8} {wide_msg} {elapsed:>4}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner:.cyan} tests [{bar:30.cyan/blue}] {pos}/{len} — {msg} — {elapsed_precise}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

impl<S: Sink> Sink for ProgressSink<S> {
    fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::ServiceStarting { name, image } => {
                let bar = self.area.add(ProgressBar::new_spinner());
                bar.set_style(spinner_style());
                bar.set_prefix(name.to_string());
                bar.set_message(format!("starting {image}"));
                bar.enable_steady_tick(Duration::from_millis(100));
                self.services.insert(name.to_string(), bar);
            }
            Event::ServiceReady(r) => {
                if let Some(bar) = self.services.remove(&r.name) {
                    bar.finish_and_clear();
                    self.area.remove(&bar);
                }
            }
            Event::RunPlanned { tests } if *tests > 0 => {
                for (_, bar) in self.services.drain() {
                    bar.finish_and_clear();
                }
                let bar = self.area.add(ProgressBar::new(*tests as u64));
                bar.set_style(bar_style());
                bar.set_message(self.counts());
                bar.enable_steady_tick(Duration::from_millis(100));
                self.tests = Some(bar);
            }
            Event::TestFinished(t) => {
                match t.outcome {
                    Outcome::Passed => self.passed += 1,
                    Outcome::Failed | Outcome::Error => self.failed += 1,
                    _ => {}
                }
                let counts = self.counts();
                if let Some(bar) = &self.tests {
                    if bar.position() < bar.length().unwrap_or(0) {
                        bar.inc(1);
                    }
                    bar.set_message(counts);
                }
            }
            Event::RunFinished(_) => {
                for (_, bar) in self.services.drain() {
                    bar.finish_and_clear();
                }
                if let Some(bar) = self.tests.take() {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
        let inner = &mut self.inner;
        self.area.suspend(|| inner.event(event));
    }
}
