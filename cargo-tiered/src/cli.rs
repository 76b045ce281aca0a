//! The command line: clap definitions, and the one place that turns a
//! library error into a message, a hint and an exit code.

use std::io::Write;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use tiered::events::{JsonSink, Sink, Tee, TerminalSink};
use tiered::exit_codes;
use tiered::hook::{self, HookKind, InstallOptions, Previous, Uninstalled};
use tiered::partition::Partition;
use tiered::run::{self, CargoArgs, RunError, RunOptions};
use tiered::services::ServiceKind;
use tiered::TierSet;
use tiered::{doctor, lifecycle, progress};

/// Build, run and judge a workspace's tiered test suites.
#[derive(Parser, Debug)]
#[command(
    name = "cargo tiered",
    bin_name = "cargo tiered",
    version,
    about,
    after_help = "Exit codes: 0 passed, 1 a test or gate failed, 2 usage or configuration error, \
                  3 infrastructure failure, 4 no tests selected."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List every discovered test with its tier, binary, tags and needs.
    List(ListArgs),
    /// NO MOCKING: find mocking crates used by tier 2-3 tests (exit 1 if any).
    Check(CheckArgs),
    /// Keep services running between runs: up, status, down, env.
    #[command(subcommand)]
    Services(ServicesCommand),
    /// Check that Docker, the images and every service work here (exit 0 only if all do).
    Doctor(DoctorArgs),
    /// Install or remove a git hook that runs `cargo tiered` before a push or commit.
    Hook(HookArgs),
    /// Join the JSON reports of a suite's shards (--partition) into one result and judge it.
    Merge(MergeArgs),
}

#[derive(Subcommand, Debug)]
enum ServicesCommand {
    /// Start the services the tests need (or --service ones) and leave them running.
    Up(ServicesArgs),
    /// Show each kept service's health, uptime, image and port (exit 3 if one is unhealthy).
    Status(StatusArgs),
    /// Remove the kept services.
    Down(ServicesArgs),
    /// Print KEY=VALUE lines pointing test processes at the kept services.
    Env(ServicesArgs),
}

#[derive(Args, Debug)]
struct ServicesArgs {
    /// Only this service: postgres, redis, neo4j, chroma (repeatable or comma separated).
    #[arg(long = "service", value_name = "NAME", value_delimiter = ',')]
    services: Vec<String>,
    /// Do not draw progress spinners.
    #[arg(long)]
    no_progress: bool,
    #[command(flatten)]
    select: Select,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    select: Select,
}

#[derive(Args, Debug)]
struct DoctorArgs {
    /// Only this service: postgres, redis, neo4j, chroma (repeatable or comma separated).
    #[arg(long = "service", value_name = "NAME", value_delimiter = ',')]
    services: Vec<String>,
    /// Print JSON instead of lines.
    #[arg(long)]
    json: bool,
    /// Do not draw progress spinners.
    #[arg(long)]
    no_progress: bool,
    #[command(flatten)]
    select: Select,
}

#[derive(Args, Debug)]
struct HookArgs {
    #[command(subcommand)]
    action: HookAction,
}

#[derive(Subcommand, Debug)]
enum HookAction {
    /// Write a git hook that runs `cargo tiered --tier … --gate …` (default: pre-push, tier 1, gate discovery).
    Install(HookInstallArgs),
    /// Remove the hook `hook install` wrote, and put a chained hook back.
    Uninstall(HookUninstallArgs),
}

#[derive(Args, Debug)]
struct HookInstallArgs {
    /// Which git hook.
    #[arg(long, value_enum, default_value_t = HookName::PrePush)]
    hook: HookName,
    /// Tiers the hook runs: 1, 2, 3, a list such as 1,2, or all (repeatable; default 1).
    // The id `tiers` is the global --tier's: clap keeps one `--tier`.
    #[arg(long = "tier", value_name = "TIERS")]
    tiers: Vec<String>,
    /// Gate the hook judges (repeatable; default discovery): built in, or from tiered.toml.
    #[arg(long = "gate", value_name = "NAME")]
    gates: Vec<String>,
    /// Keep an existing hook: move it to <hook>.tiered-chained; it runs first and its failure stops git.
    #[arg(long, conflicts_with = "force")]
    chain: bool,
    /// Replace an existing hook that cargo tiered did not install.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct HookUninstallArgs {
    /// Which git hook.
    #[arg(long, value_enum, default_value_t = HookName::PrePush)]
    hook: HookName,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum HookName {
    PrePush,
    PreCommit,
}

impl From<HookName> for HookKind {
    fn from(h: HookName) -> HookKind {
        match h {
            HookName::PrePush => HookKind::PrePush,
            HookName::PreCommit => HookKind::PreCommit,
        }
    }
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// The shards' JSON reports, as written by `cargo tiered --partition K/N --json PATH`.
    #[arg(value_name = "REPORT", required = true)]
    reports: Vec<PathBuf>,
    /// Write the merged JUnit XML here.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Write the merged JSON report here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report of the merged result here.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Judge the merged result with this gate (repeatable), from tiered.toml of the
    /// current directory (or --manifest-path's) or the built-in ones.
    #[arg(long = "gate", value_name = "NAME")]
    gates: Vec<String>,
    /// human, or json: the merged result's gate-evaluated and run-finished events as JSON lines on stdout.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "human")]
    message_format: MessageFormat,
}

/// How events are shown.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum MessageFormat {
    /// Lines for people, on stderr.
    Human,
    /// Lines for people on stderr, and one JSON object per event on stdout.
    Json,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Print JSON instead of lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    select: Select,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// List only this shard: slice:K/N or hash:K/N.
    #[arg(long, value_name = "SPEC")]
    partition: Option<String>,
    #[command(flatten)]
    select: Select,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    select: Select,
    /// Write JUnit XML here.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report here.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Judge this gate (repeatable): discovery, integration, release, or one from tiered.toml.
    #[arg(long = "gate", value_name = "NAME")]
    gates: Vec<String>,
    /// Stop starting tests after the first failure (a quick local loop): the tests not started are not run, the run is incomplete, and every gate given fails.
    #[arg(long, overrides_with = "no_fail_fast")]
    fail_fast: bool,
    /// Run every selected test whatever fails (the default; accepted for cargo test's users).
    #[arg(long, overrides_with = "fail_fast")]
    no_fail_fast: bool,
    /// Tests running at once, across every binary (default: the available cores; `-- --test-threads N` is read too).
    #[arg(long = "test-threads", short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    test_threads: Option<u16>,
    /// Keep and show the captured output of passing tests too (terminal, JSON, JUnit).
    #[arg(long)]
    success_output: bool,
    /// End the whole run after DURATION (e.g. 30m, build included): the running binary is stopped, what finished is reported, the reports are written, the verdict is FAIL.
    #[arg(long, value_name = "DURATION", value_parser = tiered::duration::parse)]
    timeout: Option<std::time::Duration>,
    /// Run a failed test again, up to N more times (tests with their own `retries` keep it); a pass after a failure is reported as flaky.
    #[arg(long, value_name = "N")]
    retries: Option<u32>,
    /// Show passing and ignored tests as they finish.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Do not draw progress bars (they are drawn only on a terminal, and never with CI set).
    #[arg(long)]
    no_progress: bool,
    /// Run only shard K of N of the selected tests: slice:K/N or hash:K/N.
    #[arg(long, value_name = "SPEC")]
    partition: Option<String>,
    /// human, or json: also one JSON object per event on stdout (human lines stay on stderr).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "human")]
    message_format: MessageFormat,
}

#[derive(Args, Debug)]
struct Select {
    /// Tiers to run: 1, 2, 3, a list such as 1,2, or all (repeatable; default all).
    #[arg(long = "tier", value_name = "TIERS", global = true, value_parser = tiers_value)]
    tiers: Vec<String>,
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH", global = true)]
    manifest_path: Option<PathBuf>,
    /// Package to test (repeatable).
    #[arg(long = "package", short = 'p', value_name = "SPEC", global = true)]
    packages: Vec<String>,
    /// Test every package in the workspace.
    #[arg(long, global = true)]
    workspace: bool,
    /// Exclude a package (with --workspace).
    #[arg(long, value_name = "SPEC", global = true)]
    exclude: Vec<String>,
    /// Only this test target (repeatable).
    #[arg(long = "test", value_name = "NAME", global = true)]
    tests: Vec<String>,
    /// Features to activate (space or comma separated).
    #[arg(long, short = 'F', value_name = "FEATURES", global = true)]
    features: Vec<String>,
    /// Activate all features.
    #[arg(long, global = true)]
    all_features: bool,
    /// Do not activate the default feature.
    #[arg(long, global = true)]
    no_default_features: bool,
    /// Build in release mode.
    #[arg(long, short = 'r', global = true)]
    release: bool,
    /// Build with this profile.
    #[arg(long, value_name = "NAME", global = true)]
    profile: Option<String>,
    /// Directory for build artifacts.
    #[arg(long, value_name = "DIR", global = true)]
    target_dir: Option<PathBuf>,
    /// Require Cargo.lock to be up to date.
    #[arg(long, global = true)]
    locked: bool,
    /// Run without accessing the network.
    #[arg(long, global = true)]
    offline: bool,
    /// Require Cargo.lock and cache to be up to date.
    #[arg(long, global = true)]
    frozen: bool,
    /// Test-name filters and libtest flags for the harness binaries.
    #[arg(last = true, value_name = "ARGS", global = true)]
    harness_args: Vec<String>,
}

/// Checks a `--tier` value as clap parses it, so a bad one is a usage
/// error naming the flag and what it accepts.
fn tiers_value(spec: &str) -> Result<String, tiered::tier::TierParseError> {
    TierSet::default().parse_into(spec)?;
    Ok(spec.to_string())
}

/// Parses the process arguments, accepting both `cargo tiered …` and
/// `cargo-tiered …`.
pub fn parse() -> Cli {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "tiered") {
        args.remove(1);
    }
    let cli = Cli::parse_from(args);
    if let Some(Command::Hook(hook)) = &cli.command {
        if let Some(message) = flag_hook_ignores(&cli.run, &hook.action) {
            Cli::command()
                .error(ErrorKind::ArgumentConflict, message)
                .exit();
        }
    }
    cli
}

/// A flag given with `cargo tiered hook` that it would ignore — the run's
/// flags, which clap accepts after any subcommand as they are global — said
/// as a usage error.
fn flag_hook_ignores(run: &RunArgs, action: &HookAction) -> Option<String> {
    let (action, takes) = match action {
        HookAction::Install(_) => (
            "install",
            "--hook, --tier, --gate, --chain, --force and --manifest-path",
        ),
        HookAction::Uninstall(_) => ("uninstall", "--hook and --manifest-path"),
    };
    if !run.gates.is_empty() {
        return Some(format!(
            "`--gate` before `hook` is not used; write it after `hook {action}`"
        ));
    }
    let s = &run.select;
    [
        ("--tier", action == "uninstall" && !s.tiers.is_empty()),
        ("--package", !s.packages.is_empty()),
        ("--workspace", s.workspace),
        ("--exclude", !s.exclude.is_empty()),
        ("--test", !s.tests.is_empty()),
        ("--features", !s.features.is_empty()),
        ("--all-features", s.all_features),
        ("--no-default-features", s.no_default_features),
        ("--release", s.release),
        ("--profile", s.profile.is_some()),
        ("--target-dir", s.target_dir.is_some()),
        ("--locked", s.locked),
        ("--offline", s.offline),
        ("--frozen", s.frozen),
        ("-- ARGS", !s.harness_args.is_empty()),
        ("--junit", run.junit.is_some()),
        ("--json", run.json.is_some()),
        ("--html", run.html.is_some()),
        ("--fail-fast", run.fail_fast),
        ("--no-fail-fast", run.no_fail_fast),
        ("--test-threads", run.test_threads.is_some()),
        ("--success-output", run.success_output),
        ("--timeout", run.timeout.is_some()),
        ("--retries", run.retries.is_some()),
        ("--verbose", run.verbose),
    ]
    .into_iter()
    .find(|(_, given)| *given)
    .map(|(flag, _)| {
        format!("`{flag}` does not apply to `cargo tiered hook {action}`; it takes {takes}")
    })
}

fn options(select: Select) -> Result<RunOptions, RunError> {
    let mut tiers = TierSet::default();
    for spec in &select.tiers {
        tiers.parse_into(spec).map_err(|e| RunError::HarnessArgs {
            message: format!("--tier: {e}"),
        })?;
    }
    Ok(RunOptions {
        tiers,
        cargo: CargoArgs {
            manifest_path: select.manifest_path,
            packages: select.packages,
            workspace: select.workspace,
            exclude: select.exclude,
            tests: select.tests,
            features: select.features,
            all_features: select.all_features,
            no_default_features: select.no_default_features,
            release: select.release,
            profile: select.profile,
            target_dir: select.target_dir,
            locked: select.locked,
            offline: select.offline,
            frozen: select.frozen,
        },
        harness_args: select.harness_args,
        github_summary: github_summary(),
        ..RunOptions::default()
    })
}

/// The file GitHub Actions collects a step's markdown summary from.
fn github_summary() -> Option<PathBuf> {
    std::env::var_os("GITHUB_STEP_SUMMARY")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn partition(spec: Option<&str>) -> Result<Option<Partition>, RunError> {
    Ok(spec.map(str::parse).transpose()?)
}

/// Runs the command and returns the exit code.
pub fn execute(cli: Cli) -> u8 {
    let result = match cli.command {
        Some(Command::List(list)) => list_command(list),
        Some(Command::Check(check)) => check_command(check),
        Some(Command::Services(cmd)) => services_command(cmd),
        Some(Command::Doctor(args)) => doctor_command(args),
        Some(Command::Hook(hook)) => {
            return match hook_command(hook, cli.run.select.manifest_path) {
                Ok(code) => code,
                Err(e) => {
                    report_error(&e, e.hint());
                    e.exit_code()
                }
            }
        }
        Some(Command::Merge(merge)) => {
            return match merge_command(merge, cli.run.select) {
                Ok(code) => code,
                Err(e) => {
                    report_error(&e, Some(e.hint().to_string()));
                    e.exit_code()
                }
            }
        }
        None => run_command(cli.run),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(&e, e.hint());
            e.exit_code()
        }
    }
}

fn hook_command(args: HookArgs, manifest_path: Option<PathBuf>) -> Result<u8, hook::HookError> {
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut out = std::io::stdout().lock();
    match args.action {
        HookAction::Install(a) => {
            let done = hook::install(&InstallOptions {
                dir,
                manifest_path,
                hook: a.hook.into(),
                tiers: a.tiers,
                gates: a.gates,
                chain: a.chain,
                force: a.force,
            })?;
            let command: Vec<String> = std::iter::once("cargo")
                .chain(done.args.iter().map(String::as_str))
                .map(|a| hook::shell_quote(a).into_owned())
                .collect();
            let _ = writeln!(
                out,
                "installed the {} hook {}\nit runs `{}` in the repository's top-level directory",
                done.hook,
                done.path.display(),
                command.join(" ")
            );
            match &done.previous {
                Previous::Nothing => {}
                Previous::Ours => {
                    let _ = writeln!(out, "it replaces the hook an earlier `hook install` wrote");
                }
                Previous::Chained(kept) => {
                    let _ = writeln!(
                        out,
                        "the hook that was there is kept as {}: it runs first, and when it fails, git stops",
                        kept.display()
                    );
                }
                Previous::Replaced => {
                    let _ = writeln!(out, "the hook that was there was replaced (--force)");
                }
            }
            match (&done.chained, &done.previous) {
                (Some(_), Previous::Chained(_)) | (None, _) => {}
                (Some(chained), _) => {
                    let _ = writeln!(
                        out,
                        "the chained hook {} runs first, and when it fails, git stops",
                        chained.display()
                    );
                }
            }
        }
        HookAction::Uninstall(a) => {
            match hook::uninstall(&dir, manifest_path.as_deref(), a.hook.into())? {
                Uninstalled::NotInstalled {
                    path,
                    restored: None,
                } => {
                    let _ = writeln!(out, "no hook installed: {} does not exist", path.display());
                }
                Uninstalled::NotInstalled {
                    path,
                    restored: Some(from),
                } => {
                    let _ = writeln!(
                        out,
                        "no hook installed at {}; the chained hook {} is back in its place",
                        path.display(),
                        from.display()
                    );
                }
                Uninstalled::Removed { path, restored } => {
                    let _ = writeln!(
                        out,
                        "removed the {} hook {}",
                        HookKind::from(a.hook),
                        path.display()
                    );
                    if let Some(from) = restored {
                        let _ = writeln!(
                            out,
                            "the earlier hook is back in its place (from {})",
                            from.display()
                        );
                    }
                }
            }
        }
    }
    Ok(exit_codes::SUCCESS)
}

fn run_command(args: RunArgs) -> Result<u8, RunError> {
    let mut opts = options(args.select)?;
    opts.junit = args.junit;
    opts.json = args.json;
    opts.html = args.html;
    opts.gates = args.gates;
    opts.fail_fast = args.fail_fast && !args.no_fail_fast;
    opts.test_threads = args.test_threads.map(usize::from);
    opts.success_output = args.success_output;
    opts.verbose = args.verbose;
    opts.timeout = args.timeout;
    opts.retries = args.retries;
    opts.partition = partition(args.partition.as_deref())?;
    opts.stdout_reserved = args.message_format == MessageFormat::Json;
    let mut lines = sink(args.no_progress, opts.verbose);
    let mut json = JsonSink::new(std::io::stdout());
    let mut sinks: Vec<&mut dyn Sink> = vec![lines.as_mut()];
    if args.message_format == MessageFormat::Json {
        sinks.push(&mut json);
    }
    let outcome = run::run(&opts, &mut Tee(sinks), &mut std::io::stderr())?;
    Ok(outcome.exit_code)
}

/// Lines on stderr, with progress drawn in front of them on a terminal.
fn sink(no_progress: bool, verbose: bool) -> Box<dyn Sink> {
    let lines = TerminalSink::new(std::io::stderr(), verbose);
    if progress::enabled(no_progress) {
        Box::new(progress::ProgressSink::new(lines))
    } else {
        Box::new(lines)
    }
}

fn service_kinds(names: &[String]) -> Result<Vec<ServiceKind>, RunError> {
    names
        .iter()
        .map(|n| {
            ServiceKind::from_name(n.trim()).ok_or_else(|| RunError::HarnessArgs {
                message: format!(
                    "--service: unknown service `{n}`; the services are postgres, redis, neo4j, chroma"
                ),
            })
        })
        .collect()
}

fn services_command(cmd: ServicesCommand) -> Result<u8, RunError> {
    match cmd {
        ServicesCommand::Up(args) => {
            let kinds = service_kinds(&args.services)?;
            let opts = options(args.select)?;
            let mut sink = sink(args.no_progress, false);
            let up = lifecycle::up(&opts, &kinds, sink.as_mut())?;
            let mut err = std::io::stderr().lock();
            if up.reports.is_empty() {
                let _ = writeln!(
                    err,
                    "no selected test needs a service; name them with --service postgres,redis,…"
                );
                return Ok(exit_codes::SUCCESS);
            }
            let up_count = up.reports.iter().filter(|r| r.ok).count();
            let _ = writeln!(
                err,
                "kept {up_count} of {} service(s) running; state: {}\nlater runs reuse them; remove them with `cargo tiered services down`",
                up.reports.len(),
                up.state.display()
            );
            Ok(if up.all_up {
                exit_codes::SUCCESS
            } else {
                exit_codes::INFRASTRUCTURE
            })
        }
        ServicesCommand::Status(args) => {
            let json = args.json;
            let opts = options(args.select)?;
            let mut out = std::io::stdout().lock();
            let Some((path, rows)) = lifecycle::status(&opts)? else {
                if json {
                    let _ = writeln!(out, "[]");
                } else {
                    let _ = writeln!(
                        out,
                        "no services are kept for this workspace; start them with `cargo tiered services up`"
                    );
                }
                return Ok(exit_codes::SUCCESS);
            };
            if json {
                let _ = serde_json::to_writer_pretty(&mut out, &rows);
                let _ = writeln!(out);
            } else {
                let _ = writeln!(
                    out,
                    "{:<9} {:<13} {:<24} {:<6} {:<8} {:<22} HEALTH",
                    "SERVICE", "CONTAINER", "IMAGE", "PORT", "UPTIME", "STATE"
                );
                for r in &rows {
                    let _ = writeln!(
                        out,
                        "{:<9} {:<13} {:<24} {:<6} {:<8} {:<22} {} {}",
                        r.service,
                        r.container,
                        r.image,
                        r.port,
                        lifecycle::uptime(r.uptime_s),
                        r.state,
                        if r.healthy { "healthy:" } else { "UNHEALTHY:" },
                        r.health
                    );
                }
                let _ = writeln!(out, "state: {}", path.display());
            }
            Ok(if rows.iter().all(|r| r.healthy) {
                exit_codes::SUCCESS
            } else {
                exit_codes::INFRASTRUCTURE
            })
        }
        ServicesCommand::Down(args) => {
            let opts = options(args.select)?;
            let down = lifecycle::down(&opts)?;
            let mut err = std::io::stderr().lock();
            if let Some(line) = tiered::services::docker::describe_orphans(&down.orphans) {
                let _ = writeln!(err, "services: {line}");
            }
            if !down.had_state && down.removed == 0 {
                let _ = writeln!(err, "no services are kept for this workspace");
            } else {
                let _ = writeln!(err, "services: removed {} kept container(s)", down.removed);
            }
            Ok(exit_codes::SUCCESS)
        }
        ServicesCommand::Env(args) => {
            let opts = options(args.select)?;
            let mut out = std::io::stdout().lock();
            for (k, v) in lifecycle::env(&opts)? {
                let _ = writeln!(out, "{k}={v}");
            }
            Ok(exit_codes::SUCCESS)
        }
    }
}

fn doctor_command(args: DoctorArgs) -> Result<u8, RunError> {
    let kinds = service_kinds(&args.services)?;
    let opts = options(args.select)?;
    let mut sink = sink(args.no_progress || args.json, false);
    let checks = doctor::run(&opts, &kinds, sink.as_mut())?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = serde_json::to_writer_pretty(&mut out, &checks);
        let _ = writeln!(out);
    } else {
        for c in &checks {
            let _ = writeln!(
                out,
                "{} {:<15} {}",
                if c.ok { "  ok  " } else { " FAIL " },
                c.name,
                c.detail
            );
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "       {:<15} fix: {fix}", "");
            }
        }
        let failed = checks.iter().filter(|c| !c.ok).count();
        let _ = writeln!(out, "doctor: {} check(s), {failed} failed", checks.len());
    }
    Ok(if checks.iter().all(|c| c.ok) {
        exit_codes::SUCCESS
    } else {
        exit_codes::INFRASTRUCTURE
    })
}

fn merge_command(args: MergeArgs, select: Select) -> Result<u8, tiered::merge::MergeError> {
    if let Some(flag) = selection_flag(&select) {
        return Err(tiered::merge::MergeError::SelectionFlag { flag: flag.into() });
    }
    let config_dir = match select.manifest_path {
        Some(m) => std::path::absolute(&m)
            .unwrap_or(m)
            .parent()
            .map(|d| d.to_path_buf())
            .unwrap_or_default(),
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let opts = tiered::merge::MergeOptions {
        reports: args.reports,
        gates: args.gates,
        junit: args.junit,
        json: args.json,
        html: args.html,
        github_summary: github_summary(),
        config_dir,
    };
    let mut json = JsonSink::new(std::io::stdout());
    let mut none = Tee(Vec::new());
    let sink: &mut dyn Sink = match args.message_format {
        MessageFormat::Json => &mut json,
        MessageFormat::Human => &mut none,
    };
    let outcome = tiered::merge::merge(&opts, sink, &mut std::io::stderr())?;
    Ok(outcome.exit_code)
}

/// The first selection flag given, which `merge` does not take.
fn selection_flag(s: &Select) -> Option<&'static str> {
    [
        (!s.tiers.is_empty(), "--tier"),
        (!s.packages.is_empty(), "--package"),
        (s.workspace, "--workspace"),
        (!s.exclude.is_empty(), "--exclude"),
        (!s.tests.is_empty(), "--test"),
        (!s.features.is_empty(), "--features"),
        (s.all_features, "--all-features"),
        (s.no_default_features, "--no-default-features"),
        (s.release, "--release"),
        (s.profile.is_some(), "--profile"),
        (s.target_dir.is_some(), "--target-dir"),
        (s.locked, "--locked"),
        (s.offline, "--offline"),
        (s.frozen, "--frozen"),
        (!s.harness_args.is_empty(), "arguments after `--`"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

fn list_command(args: ListArgs) -> Result<u8, RunError> {
    let mut opts = options(args.select)?;
    opts.partition = partition(args.partition.as_deref())?;
    let listing = run::list(&opts)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = serde_json::to_writer_pretty(&mut out, &listing);
        let _ = writeln!(out);
    } else {
        for t in &listing.tests {
            let mut extra = Vec::new();
            if !t.tags.is_empty() {
                extra.push(format!("tags: {}", t.tags.join(",")));
            }
            if !t.needs.is_empty() {
                extra.push(format!("needs: {}", t.needs.join(",")));
            }
            if t.ignored {
                extra.push("ignored".into());
            }
            let extra = if extra.is_empty() {
                String::new()
            } else {
                format!("  [{}]", extra.join("; "))
            };
            let _ = writeln!(out, "tier{}  {}  {}{}", t.tier, t.binary, t.name, extra);
        }
        for b in &listing.build_failures {
            let _ = writeln!(out, "did not build: {} ({})", b.target, b.package);
        }
        match &listing.partition {
            Some(shard) => {
                let _ = writeln!(
                    out,
                    "{} tests (shard {} of the {} selected)",
                    listing.tests.len(),
                    shard.partition,
                    shard.selected
                );
            }
            None => {
                let _ = writeln!(out, "{} tests", listing.tests.len());
            }
        }
    }
    Ok(
        if listing
            .partition
            .as_ref()
            .map_or(listing.tests.len(), |p| p.selected)
            == 0
            && listing.build_failures.is_empty()
        {
            exit_codes::NO_TESTS
        } else {
            exit_codes::SUCCESS
        },
    )
}

fn check_command(args: CheckArgs) -> Result<u8, RunError> {
    let opts = options(args.select)?;
    let findings = run::check(&opts)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = serde_json::to_writer_pretty(&mut out, &findings);
        let _ = writeln!(out);
    } else {
        for f in &findings {
            let _ = writeln!(out, "{}", f.describe());
        }
        let bad = findings.iter().filter(|f| f.allowed.is_none()).count();
        let _ = writeln!(
            out,
            "no mocking: {bad} forbidden use(s), {} allowed, in tier 2-3 test sources",
            findings.len() - bad
        );
    }
    Ok(if findings.iter().any(|f| f.allowed.is_none()) {
        exit_codes::FAILED
    } else {
        exit_codes::SUCCESS
    })
}

fn report_error(e: &dyn std::error::Error, hint: Option<String>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        let _ = writeln!(err, "  caused by: {s}");
        source = s.source();
    }
    if let Some(hint) = hint {
        let _ = writeln!(err, "hint: {hint}");
    }
}
