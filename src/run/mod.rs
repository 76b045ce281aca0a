//! `cargo tiered`: one measured session over every selected test.
//!
//! [`run`] goes through the phases in one direction, each a module:
//! [`workspace`] (what cargo says the test targets are) → [`build`] (every
//! test target, `--keep-going`) → [`plan`] (list the binaries, scan the
//! sources, select, partition) → services (the session, started once) →
//! [`schedule`] (one queue over every binary, `--test-threads` slots of
//! [`pool`] workers; [`collect`] turns their records into entries) →
//! [`judge`] (rates, SLAs, gates) → reports
//! ([`crate::report::write`]). Everything that happens is an [`Event`]
//! for the sinks. The session's services, its session values, its Neo4j
//! turn and its stop policy belong to this process alone.
//!
//! Errors are a [`RunError`]: each variant knows its exit code and a hint.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::config::{Config, GateSpec};
use crate::events::{Event, Sink};
use crate::exit_codes;
use crate::gates;
use crate::protocol::{CHILD_OUT_ENV, SESSION_INIT_ENV};
use crate::report::write::write_reports;
use crate::report::{SessionReport, Timings};
use crate::services::kept;
use crate::services::session::{Reuse, Session, Update};
use crate::tier::Isolation;

pub mod build;
mod collect;
mod durations;
mod error;
mod judge;
mod list;
mod options;
mod plan;
mod pool;
pub mod queue;
mod schedule;
mod workspace;

pub use error::RunError;
pub use list::{list, ListEntry, ListedShard, Listing};
pub use options::{CargoArgs, RunOptions};
pub(crate) use workspace::load_workspace;

use schedule::{Halt, Host, Settings};

/// The result of a run.
pub struct RunOutcome {
    /// The report.
    pub report: SessionReport,
    /// The exit code to use.
    pub exit_code: u8,
}

/// Builds, runs and judges; writes the reports and the summary to `err`.
pub fn run(
    opts: &RunOptions,
    sink: &mut dyn Sink,
    err: &mut dyn Write,
) -> Result<RunOutcome, RunError> {
    let start = Instant::now();
    crate::interrupt::install();
    let deadline = opts.timeout.map(|t| (start + t, t));
    let args = plan::harness_arguments(&opts.harness_args)?;
    let ws = load_workspace(&opts.cargo)?;
    let config = Config::load(&ws.root)?;
    let gate_specs: Vec<(String, GateSpec)> = gates::resolve(&config, &opts.gates)?;
    let tiers = opts.tiers.or_all();
    let built = build::build(&ws, &opts.cargo)?;
    sink.event(&Event::BuildFinished {
        failures: &built.failures,
    });
    let build_ms = ms(start);
    let mut plan = plan::plan(&ws, built, tiers, &args)?;
    let suite = plan.suite(tiers);
    if let Some(p) = &opts.partition {
        plan.partition(p);
    }
    let findings = workspace::mocking_findings(&ws, &config);
    let plan_ms = ms(start) - build_ms;
    let needed = plan.needed_services();
    let rt = services_runtime()?;
    let reuse = Reuse {
        path: kept::state_path(&ws.target_dir),
        keep_new: false,
    };
    let mut session = rt.block_on(Session::provision_with(
        &needed,
        &config,
        &ws.root,
        Some(&reuse),
        &mut |u| forward(u, sink),
    ));
    // Tests' messages and output are redacted as they arrive, so no sink
    // and no report ever sees a secret.
    let secrets = session.secrets();
    let mut env = session.env();
    env.extend(session_values(&plan, &env));
    let services_ms = ms(start) - build_ms - plan_ms;
    sink.event(&Event::RunPlanned {
        tests: plan.tests.len(),
    });
    let settings = settings(opts, &args, &config, deadline);
    let nocapture = opts.harness_args.iter().any(|a| a == "--nocapture");
    let stdio = match (nocapture, opts.stdout_reserved) {
        (false, _) => pool::Stdio2::Kept,
        (true, false) => pool::Stdio2::Inherited,
        (true, true) => pool::Stdio2::StdoutToStderr,
    };
    let pool = pool::Pool::new(stdio).map_err(|source| RunError::Io {
        what: "cannot create the socket the test binaries' workers connect to".into(),
        source,
    });
    let pool = match pool {
        Ok(p) => p,
        Err(e) => {
            rt.block_on(session.teardown());
            return Err(e);
        }
    };
    let names: Vec<String> = plan
        .binaries
        .iter()
        .map(|b| b.target.name.clone())
        .collect();
    let command = |b: usize| -> Command {
        let binary = &plan.binaries[b];
        let mut cmd = plan::harness_command(&binary.target, &binary.exe);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd
    };
    let expected = durations::load(&ws.target_dir);
    let mut check = || rt.block_on(session.check_alive());
    let scheduled = schedule::run(
        &plan.tests,
        &settings,
        Host {
            binaries: &names,
            command: &command,
            check_services: &mut check,
            secrets: &secrets,
            expected: &expected,
        },
        pool,
        sink,
    );
    durations::save(&ws.target_dir, expected, &scheduled.entries);
    let mut tests = scheduled.entries;
    for e in &plan.undiscovered {
        sink.event(&Event::TestFinished(e));
    }
    tests.extend(plan.undiscovered);
    // A service that died after the last failure that would have noticed.
    let mut down = scheduled.down;
    for (kind, why) in rt.block_on(session.check_alive()) {
        sink.event(&Event::Note(&format!(
            "    SERVICE {:<8} DOWN: {}",
            kind.name(),
            why.lines().next().unwrap_or_default()
        )));
        down.push((kind, why));
    }
    let service_reports = session.reports().to_vec();
    let session_id = (!needed.is_empty()).then(|| session.id().to_string());
    let before_teardown = ms(start);
    let removed = rt.block_on(session.teardown());
    let teardown_ms = ms(start) - before_teardown;
    let mut report = judge::judge(judge::Judgement {
        tiers: tiers.iter().map(|t| t.get()).collect(),
        declared: plan.declared,
        discovered: plan.discovered,
        tests,
        build_failures: plan.failures,
        duration_ms: ms(start),
        gates: &gate_specs,
        config: &config,
        services: service_reports,
        services_needed: needed.len(),
        measured: scheduled.measured,
        mocking: &findings,
        halted: scheduled.halted,
        incomplete: scheduled.incomplete,
        partition: opts.partition.map(|p| (p, suite)),
        session: session_id,
    });
    report.timings = Some(Timings {
        build_ms,
        plan_ms,
        services_ms,
        tests_ms: scheduled.run_ms,
        teardown_ms,
    });
    sink.event(&Event::RunFinished(&report));
    let mut written = Vec::new();
    if !needed.is_empty() {
        written.push(format!(
            "services: removed {removed} container(s) of the session"
        ));
    }
    let all_written = write_reports(&report, &opts.report_paths(), &mut written);
    if !plan.skipped_targets.is_empty() && opts.verbose {
        written.push(format!(
            "note: test targets without tiered::main!() were not run: {}",
            plan.skipped_targets.join(", ")
        ));
    }
    let _ = crate::report::summary::write(&report, &written, err);
    // A shard that got no test is an ordinary outcome of sharding; only a
    // selection with nothing in it, on any shard, is "no tests".
    let nothing_selected = match &report.partition {
        Some(p) => p.suite.values().all(|c| c.declared == 0) && report.build_failures.is_empty(),
        None => report.is_empty(),
    };
    let exit_code = if nothing_selected {
        let _ = writeln!(
            err,
            "no tests selected: no #[tiered::test] is declared in the selected targets for tier(s) {tiers}{}",
            if opts.harness_args.is_empty() { "" } else { " that matches the filters" }
        );
        exit_codes::NO_TESTS
    } else if let Some(Halt::Signal(sig)) = scheduled.halted {
        crate::interrupt::exit_code(sig)
    } else {
        crate::report::write::exit_code(&report, all_written)
    };
    Ok(RunOutcome { report, exit_code })
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// How the run's tests are scheduled, from the flags and tiered.toml.
fn settings(
    opts: &RunOptions,
    args: &libtest_mimic::Arguments,
    config: &Config,
    deadline: Option<(Instant, std::time::Duration)>,
) -> Settings {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slots = opts
        .test_threads
        .or(args.test_threads)
        .unwrap_or(cores)
        .max(1);
    let per_tier_ms = |t: u8| {
        config
            .timeouts
            .get(&t)
            .map_or(crate::harness::builtin_timeout_ms(t), |d| {
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
            })
    };
    let isolation = |t: u8| {
        config
            .isolation
            .get(&t)
            .copied()
            .unwrap_or(Isolation::Worker)
    };
    Settings {
        slots,
        fail_fast: opts.fail_fast,
        retries: opts.retries.or(config.retries).unwrap_or(0),
        timeouts_ms: [per_tier_ms(1), per_tier_ms(2), per_tier_ms(3)],
        isolation: [isolation(1), isolation(2), isolation(3)],
        success_output: opts.success_output || args.show_output,
        deadline,
    }
}

/// Builds every session value ([`crate::PerSession`]) the selected tests
/// take, once for the whole run, each in a process of the first binary
/// that has it (with the session's services in reach), all at once.
/// Returns the variables that hand them (or why one failed) to the tests.
fn session_values(plan: &plan::Plan, env: &[(String, String)]) -> Vec<(String, String)> {
    let wanted = plan.session_values();
    std::thread::scope(|scope| {
        let handles: Vec<_> = wanted
            .iter()
            .map(|(key, b)| {
                let binary = &plan.binaries[*b];
                scope.spawn(move || {
                    let var = crate::fixture::session_env_key(key);
                    let out = match tempfile::NamedTempFile::new() {
                        Ok(f) => f.into_temp_path(),
                        Err(e) => {
                            return (
                                format!("{var}_ERROR"),
                                format!(
                                    "cannot create a temporary file for session value {key}: {e}"
                                ),
                            )
                        }
                    };
                    let out_path: PathBuf = out.to_path_buf();
                    let status = plan::harness_command(&binary.target, &binary.exe)
                        .envs(env.iter().map(|(k, v)| (k, v)))
                        .env(SESSION_INIT_ENV, key)
                        .env(CHILD_OUT_ENV, &out_path)
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .output();
                    let written = std::fs::read_to_string(&out_path).ok();
                    match (status, written) {
                        (Ok(o), Some(json)) if o.status.success() => (var, json),
                        (Ok(_), Some(e)) if !e.is_empty() => (format!("{var}_ERROR"), e),
                        (Ok(o), _) => (
                            format!("{var}_ERROR"),
                            format!(
                                "building the session value {key} in {} failed ({}): {}",
                                binary.target.name,
                                o.status,
                                String::from_utf8_lossy(&o.stderr).trim()
                            ),
                        ),
                        (Err(e), _) => (
                            format!("{var}_ERROR"),
                            format!(
                                "cannot start {} to build the session value {key}: {e}",
                                binary.exe.display()
                            ),
                        ),
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

/// Turns a provisioning update into an event.
pub fn forward(update: Update<'_>, sink: &mut dyn Sink) {
    match update {
        Update::Starting { kind, image } => sink.event(&Event::ServiceStarting {
            name: kind.name(),
            image,
        }),
        Update::Ready(r) => sink.event(&Event::ServiceReady(r)),
        Update::Note(text) => sink.event(&Event::Note(&text)),
    }
}

pub(crate) fn services_runtime() -> Result<tokio::runtime::Runtime, RunError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| RunError::Io {
            what: "cannot start the runtime that provisions services".into(),
            source,
        })
}

/// `cargo tiered check`: the NO MOCKING check alone (no build). Returns the
/// findings; the caller exits 1 when one is not allowed.
pub fn check(opts: &RunOptions) -> Result<Vec<crate::mocking::Finding>, RunError> {
    let ws = load_workspace(&opts.cargo)?;
    let config = Config::load(&ws.root)?;
    Ok(workspace::mocking_findings(&ws, &config))
}
