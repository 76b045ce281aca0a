//! Tier 1: the pure logic of the harness, no processes and no services.

// Golden-file helper shared by the modules below.
mod golden;

// Rate arithmetic: percentages over declared tests.
mod rates;
// Gate evaluation, built-ins and overrides.
mod gates;
// tiered.toml parsing and its error messages (file:line:key).
mod config;
// JUnit writing, XML character stripping, the JSON report round trip.
mod reports;
// Source scanning of declared tests (syn, module tree).
mod scan;
// Tier parsing, harness argument splitting, the binary marker.
mod cli_args;
// The attribute's behaviour at run time: async, Result, should_panic, timeout.
mod attribute;
// Percentiles, SLA evaluation, alert levels, Perf and load scenarios.
mod sla;
// The NO MOCKING check: which uses of mocking crates are found, and where.
mod mocking;
// The git hook script: quoting, the marker, the pre-commit framework manifest.
mod hook;
// CI sharding: --partition specs, which shard a test falls in, merging shards.
mod partition;
// The run's queue: batches, longest first, serial groups, exclusive tests.
mod queue;
// Session value keys: one per type whichever binary includes it.
mod session_keys;
// CI output: the GitHub step summary (escaping, size cap), JSON-lines events.
mod ci_summaries;

tiered::main!();
