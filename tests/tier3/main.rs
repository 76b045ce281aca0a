//! Tier 3: the built `cargo tiered` binary driven end to end on the sample
//! workspaces under `fixtures/workspaces/`. The fixtures build in this
//! workspace's target directory so their dependencies compile once.

// Running cargo-tiered on a fixture and reading what it wrote.
mod support;

// A suite where everything passes: rates, reports, exit code 0.
mod passing;
// Failing tests: messages, captured output, exit codes, fail-fast.
mod failing;
// A target that does not compile: the others still run, discovery drops.
mod build_failure;
// Usage and configuration errors: exit 2 with file:line:key.
mod usage_errors;
// Output with control characters and invalid UTF-8: JUnit stays valid.
mod control_chars;
// Misuses of #[tiered::test] are compile errors at the right token.
mod misuse;
// `cargo tiered list`, filters and tier selection.
mod selection;
// Real services: reported, redacted, removed; Docker unreachable.
mod services;
// NO MOCKING: `cargo tiered check` and the integration gate.
mod mocking;
// SLAs on real services: a breach fails the release gate; load; HTML.
mod sla;
// Daily use: kept services (up/status/down, reuse, nextest), doctor,
// progress on a terminal.
mod daily;
// `cargo tiered hook`: the git hook it installs, chains, runs and removes.
mod hook;
// CI sharding: --partition on run and list, `cargo tiered merge` of the shards.
mod sharding;
// CI output: the GitHub step summary, --message-format json on stdout.
mod ci_output;
// Reliability: SIGINT/SIGTERM mid-run, SIGKILL and the reaping of what a
// dead session left.
mod reliability;
// The run model: no early stop, one queue over all binaries, workers with
// per-test capture, session values once per run, longest first.
mod run_model;

tiered::main!();
