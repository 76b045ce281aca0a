//! Child modes: a process that does one thing and writes its answer to the
//! file named by `TIERED_CHILD_OUT`.
//!
//! - [`run_test`]: one test (a binary run alone runs each tier-2/3 test so,
//!   for crash isolation and real timeouts);
//! - [`build_session_value`]: one session value ([`crate::PerSession`]),
//!   built where the services are seen — `cargo tiered` asks the first
//!   binary that has it, once per run.

use std::path::Path;
use std::process::ExitCode;

use crate::execute::{execute, install_panic_hook, runtime};
use crate::protocol::{CHILD_OUT_ENV, CHILD_TEST_ENV};
use crate::registry;

/// Runs the one named test here and writes its record.
pub(crate) fn run_test(name: &str) -> ExitCode {
    let Some(out) = std::env::var_os(CHILD_OUT_ENV) else {
        eprintln!("error: {CHILD_TEST_ENV} is set but {CHILD_OUT_ENV} is not");
        return ExitCode::from(2);
    };
    let Some(def) = registry::all().into_iter().find(|d| d.full_name() == name) else {
        eprintln!("error: no test named `{name}` in this binary");
        return ExitCode::from(2);
    };
    // Processes the test starts must not believe they are children too.
    // Safe here: no other thread runs yet.
    std::env::remove_var(CHILD_TEST_ENV);
    std::env::remove_var(CHILD_OUT_ENV);
    #[cfg(feature = "postgres")]
    crate::services::postgres::handoff::adopt_from_env();
    install_panic_hook(false);
    let record = execute(def);
    let json = serde_json::to_vec(&record).expect("a record always serializes");
    if let Err(e) = std::fs::write(&out, json) {
        eprintln!(
            "error: cannot write the result to {}: {e}",
            Path::new(&out).display()
        );
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// Builds the session value `key` (as [`crate::fixture::session_key`]
/// writes it) and writes its JSON, or the error, to `TIERED_CHILD_OUT`.
pub(crate) fn build_session_value(key: &str) -> ExitCode {
    let Some(out) = std::env::var_os(CHILD_OUT_ENV) else {
        return ExitCode::from(2);
    };
    let init = registry::all().into_iter().find_map(|d| {
        let mut v = Vec::new();
        (d.session_inits)(&mut v);
        v.into_iter()
            .find(|i| crate::fixture::session_key(i.key, d.crate_name()) == key)
    });
    let Some(init) = init else {
        let _ = std::fs::write(&out, format!("no session value `{key}` in this binary"));
        return ExitCode::from(2);
    };
    match runtime().block_on((init.init)()) {
        Ok(json) => {
            let _ = std::fs::write(&out, json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = std::fs::write(&out, e.to_string());
            ExitCode::from(1)
        }
    }
}
