//! The command line: clap definitions, and the one place that turns a
//! library error into a message, a hint and an exit code.

use std::error::Error as _;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tiered::events::{JsonSink, Sink, Tee, TerminalSink};
use tiered::exit_codes;
use tiered::partition::Partition;
use tiered::runner::{self, CargoArgs, RunError, RunOptions};
use tiered::TierSet;

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
    /// Join the JSON reports of a suite's shards (--partition) into one result and judge it.
    Merge(MergeArgs),
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
    /// Run every test binary even after one failed.
    #[arg(long)]
    no_fail_fast: bool,
    /// Show passing and ignored tests as they finish.
    #[arg(long, short = 'v')]
    verbose: bool,
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
    #[arg(long = "tier", value_name = "TIERS", global = true)]
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

/// Parses the process arguments, accepting both `cargo tiered …` and
/// `cargo-tiered …`.
pub fn parse() -> Cli {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "tiered") {
        args.remove(1);
    }
    Cli::parse_from(args)
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
        Some(Command::Merge(merge)) => merge_command(merge, cli.run.select),
        None => run_command(cli.run),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            e.exit_code()
        }
    }
}

fn run_command(args: RunArgs) -> Result<u8, RunError> {
    let mut opts = options(args.select)?;
    opts.junit = args.junit;
    opts.json = args.json;
    opts.html = args.html;
    opts.gates = args.gates;
    opts.no_fail_fast = args.no_fail_fast;
    opts.verbose = args.verbose;
    opts.partition = partition(args.partition.as_deref())?;
    opts.stdout_reserved = args.message_format == MessageFormat::Json;
    let mut terminal = TerminalSink::new(std::io::stderr(), opts.verbose);
    let mut json = JsonSink::new(std::io::stdout());
    let mut sinks: Vec<&mut dyn Sink> = vec![&mut terminal];
    if args.message_format == MessageFormat::Json {
        sinks.push(&mut json);
    }
    let outcome = runner::run(&opts, &mut Tee(sinks), &mut std::io::stderr())?;
    Ok(outcome.exit_code)
}

fn merge_command(args: MergeArgs, select: Select) -> Result<u8, RunError> {
    if let Some(flag) = selection_flag(&select) {
        return Err(tiered::merge::MergeError::SelectionFlag { flag: flag.into() }.into());
    }
    let config_dir = match select.manifest_path {
        Some(m) => std::path::absolute(&m)
            .unwrap_or(m)
            .parent()
            .map(|d| d.to_path_buf())
            .unwrap_or_default(),
        None => std::env::current_dir().map_err(|source| RunError::Io {
            what: "cannot read the current directory".into(),
            source,
        })?,
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
    let listing = runner::list(&opts)?;
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
    let findings = runner::check(&opts)?;
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

fn report_error(e: &RunError) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        let _ = writeln!(err, "  caused by: {s}");
        source = s.source();
    }
    if let Some(hint) = e.hint() {
        let _ = writeln!(err, "hint: {hint}");
    }
}
