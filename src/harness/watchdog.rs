//! The tier-1 watchdog of a binary run alone.
//!
//! Tier-1 tests without a `timeout` of their own run on libtest-mimic's
//! threads, where a hung thread cannot be stopped. One watchdog thread
//! checks them against their tier's limit; a test past it is reported
//! ("timed out"), the binary's own containers (if it started any) are
//! removed and the binary exits 101. Under `cargo tiered` there is no
//! watchdog: `cargo tiered` kills the worker at the limit and goes on.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::registry::TestDef;

struct Watched {
    def: &'static TestDef,
    start: Instant,
    limit_ms: u64,
}

/// One slot per test thread, so watching a test costs one uncontended
/// lock (tier-1 tests take microseconds; see BENCHMARKS.md, item 1).
type Slot = Arc<Mutex<Option<Watched>>>;

static SLOTS: Mutex<Vec<Slot>> = Mutex::new(Vec::new());
static STARTED: OnceLock<()> = OnceLock::new();

thread_local! {
    static MINE: Slot = {
        let slot: Slot = Arc::new(Mutex::new(None));
        SLOTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::clone(&slot));
        slot
    };
}

/// Unwatches the test when dropped (it finished).
pub(crate) struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        MINE.with(|s| *s.lock().unwrap_or_else(|p| p.into_inner()) = None);
    }
}

/// Watches a test from now on, with `limit_ms`.
pub(crate) fn watch(def: &'static TestDef, limit_ms: u64) -> Guard {
    STARTED.get_or_init(|| {
        let _ = std::thread::Builder::new()
            .name("tiered-watchdog".into())
            .spawn(run);
    });
    MINE.with(|s| {
        *s.lock().unwrap_or_else(|p| p.into_inner()) = Some(Watched {
            def,
            start: Instant::now(),
            limit_ms,
        })
    });
    Guard(())
}

fn run() {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let expired = SLOTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find_map(|slot| {
                let w = slot.lock().unwrap_or_else(|p| p.into_inner());
                w.as_ref()
                    .filter(|w| w.start.elapsed() >= Duration::from_millis(w.limit_ms))
                    .map(|w| (w.def.full_name(), w.limit_ms))
            });
        let Some((name, limit_ms)) = expired else {
            continue;
        };
        let limit = crate::duration::human(Duration::from_millis(limit_ms));
        eprintln!(
            "error: the tier-1 test `{name}` timed out after {limit}; it cannot be stopped inside this process, so the binary stops (give it `timeout = \"…\"`, raise `[timeouts] tier1`, or run it through `cargo tiered`, which stops it and goes on)"
        );
        super::children::kill_all();
        super::own_services::remove_now();
        std::process::exit(i32::from(crate::exit_codes::HARNESS_TEST_FAILED));
    }
}
