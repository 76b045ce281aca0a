//! Per-test output capture in a worker: file descriptors 1 and 2 point at
//! two files of the worker's while its tests run, and each test's output is
//! read back, and the files emptied, after it.
//!
//! Redirecting the descriptors (not `std`'s print macros) catches
//! everything the test writes: `println!`, `eprintln!`, C code, the
//! processes it starts with inherited stdio, the default panic hook of a
//! thread it spawned. `cargo tiered` names the files, so after a crash it
//! reads the crashed test's output itself. A thread that outlives its test
//! and keeps printing lands in the next test's capture.
//!
//! The descriptors are swapped once per batch of tests, not per test: per
//! test the cost is two flushes and two `fstat`s when the test printed
//! nothing (BENCHMARKS.md, item 6).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::protocol::CAPTURE_LIMIT;

/// The worker's two capture files and the descriptors they replace.
pub(crate) struct Capture {
    out: File,
    err: File,
    saved_out: OwnedFd,
    saved_err: OwnedFd,
    active: bool,
}

impl Capture {
    /// Opens (creating) the two files `cargo tiered` named.
    pub(crate) fn open(out: &Path, err: &Path) -> io::Result<Capture> {
        let open = |p: &Path| File::options().create(true).append(true).read(true).open(p);
        Ok(Capture {
            out: open(out)?,
            err: open(err)?,
            saved_out: rustix::io::dup(io::stdout())?,
            saved_err: rustix::io::dup(io::stderr())?,
            active: false,
        })
    }

    /// From now on fds 1 and 2 write to the capture files.
    pub(crate) fn begin(&mut self) -> io::Result<()> {
        flush_std();
        rustix::stdio::dup2_stdout(&self.out)?;
        rustix::stdio::dup2_stderr(&self.err)?;
        self.active = true;
        Ok(())
    }

    /// Fds 1 and 2 are the worker's own again.
    pub(crate) fn end(&mut self) {
        if self.active {
            flush_std();
            let _ = rustix::stdio::dup2_stdout(&self.saved_out);
            let _ = rustix::stdio::dup2_stderr(&self.saved_err);
            self.active = false;
        }
    }

    /// What the test wrote since the last call, stdout and stderr (`None`
    /// for a stream it did not write to); the files are emptied.
    pub(crate) fn take(&mut self) -> (Option<String>, Option<String>) {
        flush_std();
        (drain(&self.out), drain(&self.err))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.end();
    }
}

fn flush_std() {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
}

/// Reads a capture file (at most [`CAPTURE_LIMIT`] bytes, then a marker)
/// and empties it.
fn drain(file: &File) -> Option<String> {
    let len = file.metadata().ok()?.len();
    if len == 0 {
        return None;
    }
    Some(read_capture(file, len))
}

/// Reads the first [`CAPTURE_LIMIT`] bytes of a capture file of `len`
/// bytes, saying how many more there were, and empties it.
pub(crate) fn read_capture(file: &File, len: u64) -> String {
    let keep = usize::try_from(len)
        .unwrap_or(usize::MAX)
        .min(CAPTURE_LIMIT);
    let mut buf = vec![0u8; keep];
    let mut read = 0;
    while read < keep {
        match file.read_at(&mut buf[read..], read as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    buf.truncate(read);
    let _ = file.set_len(0);
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    let dropped = len.saturating_sub(read as u64);
    if dropped > 0 {
        text.push_str(&format!(
            "\n[tiered: output truncated, {dropped} more bytes]"
        ));
    }
    text
}
