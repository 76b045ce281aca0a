//! The test processes a binary run alone has started and not yet reaped,
//! so that a binary ending early (a signal, the tier-1 watchdog) takes them
//! with it instead of leaving them running.

use std::collections::HashSet;
use std::sync::Mutex;

static RUNNING: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

/// A child test process started.
pub(crate) fn started(pid: u32) {
    RUNNING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(pid);
}

/// A child test process was reaped.
pub(crate) fn ended(pid: u32) {
    if let Some(set) = RUNNING.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        set.remove(&pid);
    }
}

/// Kills every child test process still running (the binary is about to
/// exit without waiting for them).
pub(crate) fn kill_all() {
    let pids: Vec<u32> = RUNNING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    for pid in pids {
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}
