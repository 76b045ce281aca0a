//! # tiered — a three-tier test harness
//!
//! Tests are sorted into tiers: **1** (unit: fast, isolated, no services),
//! **2** (integration) and **3** (end to end), the latter two against real
//! services only. A test author writes:
//!
//! ```ignore
//! #[tiered::test(tier = 1)]
//! fn adds() { assert_eq!(2 + 2, 4); }
//!
//! tiered::main!();
//! ```
//!
//! in a `harness = false` test target. `cargo tiered` (the `cargo-tiered`
//! crate) builds every such target, counts what the sources declare, what the
//! binaries discover, what ran and what passed, judges the numbers with gates
//! and writes JUnit and JSON reports.
//!
//! The crate is organised one module per concern: [`registry`] (what the
//! attribute registers), [`harness`] (the in-binary runner), [`protocol`]
//! (what a harness binary tells `cargo tiered`), [`config`], [`rates`],
//! [`gates`], [`partition`] (CI sharding), [`report`], [`worker`] (a
//! harness binary serving `cargo tiered`) and [`exit_codes`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod duration;
pub mod execute;
pub mod exit_codes;
pub mod fixture;
pub mod gates;
pub mod harness;
#[cfg(feature = "_services")]
pub mod interrupt;
pub mod load;
pub mod partition;
pub mod perf;
pub mod protocol;
pub mod rates;
pub mod registry;
pub mod report;
pub mod services;
pub mod sla;
pub mod tier;
pub mod worker;

#[cfg(feature = "_cargo_tiered")]
#[doc(hidden)]
pub mod doctor;
#[cfg(feature = "_cargo_tiered")]
#[doc(hidden)]
pub mod events;
#[cfg(feature = "_cargo_tiered")]
#[doc(hidden)]
pub mod hook;
#[cfg(feature = "_cargo_tiered")]
#[doc(hidden)]
pub mod lifecycle;
#[cfg(feature = "_cargo_tiered")]
#[doc(hidden)]
pub mod merge;
#[cfg(feature = "_cargo_tiered")]
#[doc(hidden)]
pub mod mocking;
#[cfg(feature = "_cargo_tiered")]
#[doc(hidden)]
pub mod progress;
#[cfg(feature = "_cargo_tiered")]
#[doc(hidden)]
pub mod run;
#[cfg(feature = "_cargo_tiered")]
#[doc(hidden)]
pub mod scan;

pub use fixture::{Fixture, FixtureError, PerSession, SessionFixture, TestContext};
pub use perf::Perf;
pub use tier::{Tier, TierSet};
pub use tiered_macros::test;

#[cfg(feature = "chroma")]
pub use services::chroma::Chroma;
#[cfg(feature = "neo4j")]
pub use services::neo4j::Neo4j;
#[cfg(feature = "postgres")]
pub use services::postgres::Postgres;
#[cfg(feature = "redis")]
pub use services::redis::Redis;

#[cfg(feature = "neo4j")]
pub use neo4rs;
#[cfg(feature = "redis")]
pub use redis;
#[cfg(feature = "chroma")]
pub use reqwest;
#[cfg(feature = "postgres")]
pub use sqlx;

/// Runs the tiered harness: put `tiered::main!();` at the end of the root
/// file of a `harness = false` test target.
///
/// The generated `main` accepts every libtest flag that libtest-mimic knows
/// (`--list`, filters, `--exact`, `--ignored`, `--include-ignored`,
/// `--test-threads`, `--nocapture`, `--format`, …) plus `--tier 1,2`, and
/// exits with 101 when a test failed, as libtest does.
#[macro_export]
macro_rules! main {
    () => {
        fn main() -> ::std::process::ExitCode {
            $crate::harness::run()
        }
    };
}

/// What the attribute macro expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::fixture::{setup_fixture, SessionInit};
    pub use crate::registry::{IntoTestResult, Isolation, ShouldPanic, TestBody, TestDef};
    pub use inventory;
}
