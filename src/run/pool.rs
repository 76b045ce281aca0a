//! The worker processes of one run: started, spoken to, watched, stopped.
//!
//! A [`Pool`] owns a Unix socket in a temporary directory of its own. Each
//! worker is a harness binary started with `TIERED_WORKER` naming that
//! socket ([`crate::protocol`]), in a process group of its own (so a signal
//! reaches it, and the processes its tests start, only through
//! `cargo tiered`), with two capture files beside the socket. Threads turn
//! what happens into [`PoolEvent`]s on one channel, in order per worker: a
//! connection says hello ([`PoolEvent::Connected`]), its lines become
//! [`PoolEvent::Message`]s, its end [`PoolEvent::Closed`]; a waiter reports
//! the process's exit ([`PoolEvent::Exited`]). The scheduler
//! ([`super::schedule`]) is the only reader and decides everything.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::protocol::{
    FromWorker, ToWorker, WORKER_ENV, WORKER_ID_ENV, WORKER_PROTOCOL, WORKER_STDERR_ENV,
    WORKER_STDOUT_ENV,
};

/// A worker's number in this run.
pub(crate) type WorkerId = u64;

/// What happened to a worker.
#[derive(Debug)]
pub(crate) enum PoolEvent {
    /// The worker connected and said hello.
    Connected {
        /// Which.
        id: WorkerId,
    },
    /// A message after the hello.
    Message {
        /// From which.
        id: WorkerId,
        /// What it said.
        message: FromWorker,
    },
    /// Its connection ended (every message it sent came before this).
    Closed {
        /// Which.
        id: WorkerId,
    },
    /// Its process ended.
    Exited {
        /// Which.
        id: WorkerId,
        /// How, in words (`exit status: 3`, `signal: 6 (SIGABRT)`).
        status: String,
        /// Whether that was an orderly exit 0.
        success: bool,
    },
}

/// The last bytes a worker wrote to its own stderr outside any test.
type Tail = Arc<Mutex<Vec<u8>>>;

/// How much of a worker's own stderr is kept for a crash report.
const TAIL_BYTES: usize = 8 * 1024;

struct Worker {
    pid: u32,
    writer: Option<UnixStream>,
    out: PathBuf,
    err: PathBuf,
    tail: Tail,
}

/// Where a worker's own stdout and stderr go (outside the capture of its
/// tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stdio2 {
    /// Kept: its stderr's last lines explain a crash.
    Kept,
    /// The terminal's (`--nocapture`): tests are not captured either.
    Inherited,
    /// stdout to our stderr, stderr inherited (`--nocapture` with stdout
    /// reserved for JSON events).
    StdoutToStderr,
}

/// The workers of one run.
pub(crate) struct Pool {
    dir: tempfile::TempDir,
    socket: PathBuf,
    tx: mpsc::Sender<PoolEvent>,
    rx: mpsc::Receiver<PoolEvent>,
    /// Writers of connected workers, handed over by the reader threads.
    connected: Arc<Mutex<HashMap<WorkerId, (u32, UnixStream)>>>,
    workers: HashMap<WorkerId, Worker>,
    next: WorkerId,
    stdio: Stdio2,
    closing: Arc<AtomicBool>,
}

impl Pool {
    /// A pool with its socket listening.
    pub(crate) fn new(stdio: Stdio2) -> std::io::Result<Pool> {
        let dir = tempfile::Builder::new().prefix("tiered-run-").tempdir()?;
        let socket = dir.path().join("workers.sock");
        let listener = UnixListener::bind(&socket)?;
        let (tx, rx) = mpsc::channel();
        let connected: Arc<Mutex<HashMap<WorkerId, (u32, UnixStream)>>> = Arc::default();
        let closing = Arc::new(AtomicBool::new(false));
        {
            let tx = tx.clone();
            let connected = Arc::clone(&connected);
            let closing = Arc::clone(&closing);
            thread::Builder::new()
                .name("tiered-accept".into())
                .spawn(move || accept(listener, tx, connected, closing))?;
        }
        Ok(Pool {
            dir,
            socket,
            tx,
            rx,
            connected,
            workers: HashMap::new(),
            next: 1,
            stdio,
            closing,
        })
    }

    /// Starts `cmd` (a harness binary, its environment and directory set)
    /// as a worker.
    pub(crate) fn spawn(&mut self, mut cmd: Command) -> std::io::Result<WorkerId> {
        let id = self.next;
        self.next += 1;
        let out = self.dir.path().join(format!("w{id}.out"));
        let err = self.dir.path().join(format!("w{id}.err"));
        cmd.env(WORKER_ENV, &self.socket)
            .env(WORKER_ID_ENV, id.to_string())
            .stdin(Stdio::null());
        match self.stdio {
            Stdio2::Kept => {
                cmd.env(WORKER_STDOUT_ENV, &out)
                    .env(WORKER_STDERR_ENV, &err)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
            }
            Stdio2::Inherited => {
                cmd.env_remove(WORKER_STDOUT_ENV)
                    .env_remove(WORKER_STDERR_ENV)
                    .stdout(Stdio::inherit())
                    .stderr(Stdio::inherit());
            }
            Stdio2::StdoutToStderr => {
                cmd.env_remove(WORKER_STDOUT_ENV)
                    .env_remove(WORKER_STDERR_ENV)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit());
            }
        }
        // Its own process group: see the module's documentation.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn()?;
        let tail: Tail = Arc::default();
        if let Some(stdout) = child.stdout.take() {
            let forward = self.stdio == Stdio2::StdoutToStderr;
            let tail = Arc::clone(&tail);
            thread::spawn(move || drain(stdout, forward, &tail));
        }
        if let Some(stderr) = child.stderr.take() {
            let tail = Arc::clone(&tail);
            thread::spawn(move || drain(stderr, false, &tail));
        }
        let pid = child.id();
        let tx = self.tx.clone();
        thread::Builder::new()
            .name(format!("tiered-wait-{id}"))
            .spawn(move || {
                let (status, success) = match child.wait() {
                    Ok(s) => (describe(s), s.success()),
                    Err(e) => (format!("lost track of the process: {e}"), false),
                };
                let _ = tx.send(PoolEvent::Exited {
                    id,
                    status,
                    success,
                });
            })?;
        self.workers.insert(
            id,
            Worker {
                pid,
                writer: None,
                out,
                err,
                tail,
            },
        );
        Ok(id)
    }

    /// The next event, waiting at most `timeout`.
    pub(crate) fn recv(&mut self, timeout: Duration) -> Option<PoolEvent> {
        let event = self.rx.recv_timeout(timeout).ok()?;
        if let PoolEvent::Connected { id } = &event {
            let handed = self
                .connected
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
            if let (Some(w), Some((pid, writer))) = (self.workers.get_mut(id), handed) {
                w.pid = pid;
                w.writer = Some(writer);
            }
        }
        Some(event)
    }

    /// Sends a message; an error means the worker is gone (its death
    /// events follow).
    pub(crate) fn send(&mut self, id: WorkerId, message: &ToWorker) -> std::io::Result<()> {
        let w = self
            .workers
            .get_mut(&id)
            .and_then(|w| w.writer.as_mut())
            .ok_or_else(|| std::io::Error::other("the worker is not connected"))?;
        let mut line = serde_json::to_vec(message).expect("a message always serializes");
        line.push(b'\n');
        w.write_all(&line)
    }

    /// Sends `signal` to the worker's process group (it and what its tests
    /// started).
    pub(crate) fn signal(&self, id: WorkerId, signal: rustix::process::Signal) {
        if let Some(pid) = self
            .workers
            .get(&id)
            .and_then(|w| rustix::process::Pid::from_raw(w.pid as i32))
        {
            let _ = rustix::process::kill_process_group(pid, signal);
        }
    }

    /// What the worker's running test wrote to its capture files
    /// (stdout, stderr), for a test that did not answer: it crashed or was
    /// killed.
    pub(crate) fn captured(&self, id: WorkerId) -> (Option<String>, Option<String>) {
        let read = |p: &Path| {
            let file = std::fs::File::options()
                .read(true)
                .write(true)
                .open(p)
                .ok()?;
            let len = file.metadata().ok()?.len();
            (len > 0).then(|| crate::worker::capture::read_capture(&file, len))
        };
        match self.workers.get(&id) {
            Some(w) => (read(&w.out), read(&w.err)),
            None => (None, None),
        }
    }

    /// The last lines the worker wrote to its own stderr (outside tests).
    pub(crate) fn stderr_tail(&self, id: WorkerId, lines: usize) -> String {
        let Some(w) = self.workers.get(&id) else {
            return String::new();
        };
        let bytes = w.tail.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let text = String::from_utf8_lossy(&bytes);
        let v: Vec<&str> = text.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }

    /// Forgets a worker whose process ended.
    pub(crate) fn remove(&mut self, id: WorkerId) {
        if let Some(w) = self.workers.remove(&id) {
            let _ = std::fs::remove_file(&w.out);
            let _ = std::fs::remove_file(&w.err);
        }
    }

    /// Workers whose process has not been reported ended.
    pub(crate) fn live(&self) -> impl Iterator<Item = WorkerId> + '_ {
        self.workers.keys().copied()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for id in self.workers.keys() {
            self.signal(*id, rustix::process::Signal::KILL);
        }
        // Wakes the accepting thread so it sees `closing` and ends.
        self.closing.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.socket);
    }
}

/// `exit status: 3`, `signal: 6 (SIGABRT)`: std's words.
fn describe(status: ExitStatus) -> String {
    status.to_string()
}

/// Accepts workers' connections; each gets a reader thread.
fn accept(
    listener: UnixListener,
    tx: mpsc::Sender<PoolEvent>,
    connected: Arc<Mutex<HashMap<WorkerId, (u32, UnixStream)>>>,
    closing: Arc<AtomicBool>,
) {
    for stream in listener.incoming() {
        if closing.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let tx = tx.clone();
        let connected = Arc::clone(&connected);
        let _ = thread::Builder::new()
            .name("tiered-worker-reader".into())
            .spawn(move || read_worker(stream, tx, connected));
    }
}

/// Reads one worker's lines: its hello, then its messages, then the end.
fn read_worker(
    stream: UnixStream,
    tx: mpsc::Sender<PoolEvent>,
    connected: Arc<Mutex<HashMap<WorkerId, (u32, UnixStream)>>>,
) {
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut lines = BufReader::new(stream).lines();
    let id = match lines.next() {
        Some(Ok(line)) => match serde_json::from_str::<FromWorker>(&line) {
            Ok(FromWorker::Hello {
                worker,
                pid,
                protocol,
            }) if protocol == WORKER_PROTOCOL => {
                connected
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(worker, (pid, writer));
                worker
            }
            // A binary built against another version of tiered: it is not
            // spoken to; its process's exit says the rest.
            _ => return,
        },
        _ => return,
    };
    if tx.send(PoolEvent::Connected { id }).is_err() {
        return;
    }
    for line in lines {
        let Ok(line) = line else { break };
        match serde_json::from_str::<FromWorker>(&line) {
            Ok(message) => {
                if tx.send(PoolEvent::Message { id, message }).is_err() {
                    return;
                }
            }
            Err(_) => continue,
        }
    }
    let _ = tx.send(PoolEvent::Closed { id });
}

/// Reads a worker's own stream to its end, keeping its last bytes (and
/// passing it on to our stderr when `forward`).
fn drain(mut stream: impl Read, forward: bool, tail: &Tail) {
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if forward {
                    let _ = std::io::stderr().write_all(&buf[..n]);
                }
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                t.extend_from_slice(&buf[..n]);
                let excess = t.len().saturating_sub(TAIL_BYTES);
                if excess > 0 {
                    t.drain(..excess);
                }
            }
        }
    }
}
