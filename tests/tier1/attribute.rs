//! The attribute's run-time behaviour, checked through the registry of this
//! very binary.

use tiered::harness::execute;
use tiered::protocol::Outcome;
use tiered::registry::{all, TestDef};

fn def(name: &str) -> &'static TestDef {
    all()
        .into_iter()
        .find(|d| d.full_name() == format!("attribute::samples::{name}"))
        .unwrap_or_else(|| panic!("no sample {name}"))
}

/// Samples that are run by the tests below, never on their own (ignored).
mod samples {
    #[tiered::test(tier = 1, ignore = "sample run by the tests below")]
    fn fails_with_err() -> Result<(), String> {
        Err("bad input".into())
    }

    #[tiered::test(tier = 1, ignore = "sample run by the tests below")]
    async fn async_passes() {
        tokio::task::yield_now().await;
    }

    #[tiered::test(tier = 1, ignore = "sample run by the tests below", should_panic)]
    fn does_not_panic() {}

    #[tiered::test(
        tier = 1,
        ignore = "sample run by the tests below",
        should_panic = "expected text"
    )]
    fn panics_otherwise() {
        panic!("something else");
    }

    #[tiered::test(tier = 1, ignore = "sample run by the tests below", timeout = "100ms")]
    fn spins() {
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(5) {
            std::hint::spin_loop();
        }
    }

    #[tiered::test(tier = 1, ignore = "sample run by the tests below")]
    fn fails_an_assertion() {
        assert_eq!(1 + 1, 3, "arithmetic");
    }

    #[tiered::test(tier = 1, ignore = "sample run by the tests below", tags = ["a", "b"])]
    fn tagged() {}
}

#[tiered::test(tier = 1)]
fn an_err_return_is_a_failure_with_its_debug_text() {
    let r = execute(def("fails_with_err"));
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.message.as_deref(), Some("Error: \"bad input\""));
}

#[tiered::test(tier = 1)]
fn async_tests_run_on_the_shared_runtime() {
    assert_eq!(execute(def("async_passes")).outcome, Outcome::Passed);
}

#[tiered::test(tier = 1)]
fn should_panic_fails_a_test_that_does_not_panic() {
    let r = execute(def("does_not_panic"));
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.message.as_deref(), Some("test did not panic as expected"));
}

#[tiered::test(tier = 1)]
fn should_panic_checks_the_expected_text() {
    let r = execute(def("panics_otherwise"));
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.message.unwrap().contains("expected: expected text"));
}

#[tiered::test(tier = 1)]
fn a_busy_loop_is_stopped_by_its_timeout() {
    let r = execute(def("spins"));
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.message.as_deref(), Some("timed out after 100ms"));
    assert!(r.duration_ms < 2000.0, "took {} ms", r.duration_ms);
}

#[tiered::test(tier = 1)]
fn a_panic_is_reported_with_its_location() {
    let r = execute(def("fails_an_assertion"));
    assert_eq!(r.outcome, Outcome::Failed);
    let m = r.message.unwrap();
    assert!(
        m.starts_with("panicked at tests/tier1/attribute.rs:"),
        "{m}"
    );
    assert!(m.contains("arithmetic"), "{m}");
}

#[tiered::test(tier = 1)]
fn options_are_registered() {
    let d = def("tagged");
    assert_eq!(d.tags, ["a", "b"]);
    assert!(d.ignored);
    assert_eq!(d.ignore_reason, Some("sample run by the tests below"));
    assert_eq!(d.tier().get(), 1);
    assert_eq!(def("spins").timeout_ms, Some(100));
}

#[tiered::test(tier = 1)]
fn a_short_backtrace_keeps_the_frames_between_the_markers_renumbered() {
    let full = "   0: std::backtrace::Backtrace::capture
             at /rustc/x/library/std/src/backtrace.rs:1
   1: std::sys::backtrace::__rust_end_short_backtrace
   2: core::panicking::panic_fmt
             at /rustc/x/library/core/src/panicking.rs:80:14
   3: suite::fails
             at ./tests/suite.rs:8:5
   4: tiered::execute::__rust_begin_short_backtrace
   5: tiered::worker::serve
";
    let short = tiered::execute::short_backtrace(full);
    assert_eq!(
        short,
        "   0: core::panicking::panic_fmt
             at /rustc/x/library/core/src/panicking.rs:80:14
   1: suite::fails
             at ./tests/suite.rs:8:5
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace."
    );
    // Without the markers, nothing is cut.
    assert_eq!(
        tiered::execute::short_backtrace("   0: main\n"),
        "   0: main\n"
    );
}
