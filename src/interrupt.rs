//! SIGINT and SIGTERM: noticed, not obeyed at once.
//!
//! A process that owns containers ends the way it chose: `cargo tiered`
//! stops the test binary it runs (its whole process group), reports what
//! finished, writes every report, removes the session's containers and
//! exits 130 (SIGINT) or 143 (SIGTERM); a harness binary that started its
//! own services removes them and exits the same way. A second SIGINT or
//! SIGTERM while that happens ends the process at once (the next run, or
//! `cargo tiered services down`, removes what was left: see
//! [`reap_orphans`](crate::services::docker::reap_orphans)).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

pub use signal_hook::consts::{SIGINT, SIGKILL, SIGTERM};

struct Flags {
    signal: Arc<AtomicUsize>,
    seen: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Starts noticing SIGINT and SIGTERM; idempotent.
pub fn install() {
    FLAGS.get_or_init(|| {
        let signal = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            // The second one ends the process (exit 128 + signal).
            let _ =
                signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&seen));
            let _ = signal_hook::flag::register(sig, Arc::clone(&seen));
            let _ = signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize);
        }
        Flags { signal, seen }
    });
}

/// The signal received, if any.
pub fn requested() -> Option<i32> {
    let f = FLAGS.get()?;
    if !f.seen.load(Ordering::SeqCst) {
        return None;
    }
    match f.signal.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s as i32),
    }
}

/// `SIGINT` / `SIGTERM` / `signal N`.
pub fn name(signal: i32) -> String {
    match signal {
        SIGINT => "SIGINT".into(),
        SIGTERM => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

/// The exit code after `signal`: 128 + its number, as shells report it.
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(crate::exit_codes::INTERRUPTED)
}

/// Sends `signal` to a process group (a child started in its own group),
/// with `kill(1)`: this crate has no `unsafe` for `kill(2)`.
pub fn signal_group(pgid: u32, signal: i32) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
