//! Exit codes of `cargo tiered`: an API that CI scripts rely on.
//!
//! | code | constant | meaning |
//! |---|---|---|
//! | 0 | [`SUCCESS`] | every selected test passed (no `--gate`), or every requested gate passed |
//! | 1 | [`FAILED`] | a test failed, errored or did not build (no `--gate`), or a requested gate failed |
//! | 2 | [`USAGE`] | bad flag, unknown tier or gate, invalid `--partition`, unreadable or invalid `tiered.toml`, shard reports that cannot be merged; `hook`: not a git work tree, a hook `cargo tiered` did not install in the way |
//! | 3 | [`INFRASTRUCTURE`] | cargo could not be run, a harness binary could not be listed, a report (or the GitHub step summary) could not be written; `doctor`, `services`: Docker unreachable, a service that did not start or does not answer; `hook`: git could not run, a hook file could not be written |
//! | 4 | [`NO_TESTS`] | no test was selected (nothing declared or everything filtered out) |
//! | 130 | [`INTERRUPTED`] | SIGINT (Ctrl-C): the running test binary was stopped, the tests that finished are reported, the reports written and the containers removed; the verdict is FAIL |
//! | 143 | [`TERMINATED`] | SIGTERM, handled as SIGINT |
//!
//! A harness binary run on its own keeps libtest's codes: 0, and 101 when a
//! test failed; 130 and 143 after removing its containers on SIGINT and
//! SIGTERM.

/// Every selected test passed, or every requested gate passed.
pub const SUCCESS: u8 = 0;
/// A test failed (no `--gate`), or a requested gate failed.
pub const FAILED: u8 = 1;
/// Usage or configuration error.
pub const USAGE: u8 = 2;
/// Infrastructure failure: cargo, a harness binary, or report writing.
pub const INFRASTRUCTURE: u8 = 3;
/// No test was selected.
pub const NO_TESTS: u8 = 4;
/// What a harness binary returns when a test failed (libtest's code).
pub const HARNESS_TEST_FAILED: u8 = 101;
/// SIGINT: 128 + 2, as shells report a process ended by it.
pub const INTERRUPTED: u8 = 130;
/// SIGTERM: 128 + 15.
pub const TERMINATED: u8 = 143;
