//! One queue for the whole run: every selected test of every binary,
//! served by `--test-threads` slots of worker processes.
//!
//! [`run`] turns the plan's tests into jobs — a tier-2/3 test alone, tier-1
//! tests of one binary in small batches (a batch runs in one worker, one
//! test after another, so ten thousand unit tests do not cost ten thousand
//! round trips, yet no binary's batch holds more than one slot) — and
//! orders them longest first, from the durations of the previous run
//! ([`super::durations`]; unknown ones by tier, tier 3 first). A slot runs
//! one job at a time on a worker of the job's binary, reusing an idle one
//! when it can. The scheduler alone decides, on one thread, from the
//! pool's events ([`super::pool`]); it owns:
//!
//! - **turns**: tests of one `serial` group (and of `neo4j`, whose graph
//!   has no per-test copy) run one at a time; an `exclusive` test runs
//!   alone, after the others;
//! - **timeouts**: a test past its limit gets its worker killed, is
//!   reported "timed out after …", and a new worker takes over;
//! - **crashes**: a worker that dies fails only the test it was running,
//!   naming the exit status or signal, with that test's output; the rest of
//!   its batch goes back in the queue;
//! - **retries**: a failed attempt with reruns left goes back to the front
//!   of the queue;
//! - **the stop policy**: never early by default — a run is a measurement;
//!   `--fail-fast` stops dispatching after the first failure (the tests not
//!   started are `not_run` and the run is *incomplete*); SIGINT, SIGTERM and
//!   `--timeout` stop the workers and report what finished.

use std::collections::{HashMap, VecDeque};
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use super::collect;
use super::pool::{Pool, PoolEvent, WorkerId};
use super::queue::{self, Job, Spec, Turns};
use crate::events::{Event, Sink};
use crate::perf::Recorded;
use crate::protocol::{Attempt, FromWorker, ListedTest, Outcome, TestRecord, ToWorker};
use crate::registry::Isolation;
use crate::report::TestEntry;
use crate::services::ServiceKind;

/// How long a worker has to end after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How long idle workers have to exit at the end (their queued database
/// drops) before they are killed.
const EXIT_GRACE: Duration = Duration::from_secs(10);
/// Attempts to start a binary's worker before its tests are errors.
const START_ATTEMPTS: u32 = 2;

/// One selected test of the plan.
#[derive(Debug, Clone)]
pub(crate) struct Selected {
    /// Index of its binary.
    pub binary: usize,
    /// As the binary listed it.
    pub listed: ListedTest,
    /// Ignored in this run (not run, reported `ignored`).
    pub ignored: bool,
}

/// Why a run stops before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Halt {
    /// SIGINT or SIGTERM.
    Signal(i32),
    /// The session's `--timeout` passed.
    Timeout(Duration),
}

impl Halt {
    /// The signal, or the timeout, in words.
    pub(crate) fn describe(self) -> String {
        match self {
            Halt::Signal(sig) => crate::interrupt::name(sig),
            Halt::Timeout(d) => format!(
                "the session timeout (--timeout {})",
                crate::duration::human(d)
            ),
        }
    }

    /// What the JSON report's `interrupted` says.
    pub(crate) fn key(self) -> String {
        match self {
            Halt::Signal(sig) => crate::interrupt::name(sig),
            Halt::Timeout(_) => "timeout".into(),
        }
    }
}

/// Whether the run must stop now, and why.
pub(crate) fn halt(deadline: Option<(Instant, Duration)>) -> Option<Halt> {
    if let Some(sig) = crate::interrupt::requested() {
        return Some(Halt::Signal(sig));
    }
    match deadline {
        Some((at, d)) if Instant::now() >= at => Some(Halt::Timeout(d)),
        _ => None,
    }
}

/// How the run is scheduled.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Tests running at once (`--test-threads`, `-j`).
    pub slots: usize,
    /// Stop dispatching after the first failure.
    pub fail_fast: bool,
    /// Reruns of a failed test that sets no `retries`.
    pub retries: u32,
    /// The limit of a test that sets no `timeout`, per tier 1–3, in ms.
    pub timeouts_ms: [u64; 3],
    /// How tests of each tier 1–3 are isolated unless they say.
    pub isolation: [Isolation; 3],
    /// Keep passing tests' output too.
    pub success_output: bool,
    /// `--timeout`: when the whole run must end.
    pub deadline: Option<(Instant, Duration)>,
}

/// What the scheduler needs from the run around it.
pub(crate) struct Host<'a> {
    /// The binaries' names (test targets), by index.
    pub binaries: &'a [String],
    /// A worker command for a binary (environment and directory set).
    pub command: &'a dyn Fn(usize) -> Command,
    /// Services found dead since the last call, and why.
    pub check_services: &'a mut dyn FnMut() -> Vec<(ServiceKind, String)>,
    /// Texts to replace with `****` in everything tests report.
    pub secrets: &'a [String],
    /// Expected durations, keyed `binary::name`, from the previous run.
    pub expected: &'a HashMap<String, f64>,
}

/// What the scheduled part of the run produced.
#[derive(Debug, Default)]
pub(crate) struct Scheduled {
    /// One entry per selected test, in the plan's order.
    pub entries: Vec<TestEntry>,
    /// Every sample and load report the tests measured.
    pub measured: Recorded,
    /// What stopped the run while tests were left, if anything did.
    pub halted: Option<Halt>,
    /// Why the run did not run every test it selected (`--fail-fast`).
    pub incomplete: Option<String>,
    /// Services found dead during the run, and why.
    pub down: Vec<(ServiceKind, String)>,
    /// When the first worker was started and the last result came in.
    pub run_ms: f64,
}

/// Why the scheduler killed a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// Its test ran past its limit (ms).
    Timeout(u64),
    /// The run was stopped.
    Halt,
}

/// A job on a worker.
struct Running {
    job: Job,
    /// Tests of the job that answered.
    done: usize,
    /// When the current test started.
    since: Instant,
    /// The job was sent (the worker connected).
    sent: bool,
    killed: Option<Kill>,
}

/// A worker and where it is in its life.
struct Live {
    binary: usize,
    connected: bool,
    closed: bool,
    exited: Option<(String, bool)>,
    /// Told to exit, or a fresh-process worker whose job is done.
    retiring: bool,
}

/// What is known of one test so far.
#[derive(Default)]
struct State {
    attempts: Vec<Attempt>,
    entry: Option<TestEntry>,
}

struct Scheduler<'s, 'h> {
    tests: &'s [Selected],
    specs: Vec<Spec>,
    settings: &'s Settings,
    host: &'s mut Host<'h>,
    sink: &'s mut dyn Sink,
    pool: Pool,
    queue: VecDeque<Job>,
    running: HashMap<WorkerId, Running>,
    workers: HashMap<WorkerId, Live>,
    idle: Vec<WorkerId>,
    states: Vec<State>,
    left: Vec<usize>,
    started: Vec<bool>,
    crashed: Vec<Vec<String>>,
    start_failures: Vec<u32>,
    groups: HashMap<String, usize>,
    stop: Option<String>,
    halted: Option<Halt>,
    halted_at: Option<Instant>,
    out: Scheduled,
}

/// Runs every selected test and reports each as it finishes.
pub(crate) fn run(
    tests: &[Selected],
    settings: &Settings,
    mut host: Host<'_>,
    pool: Pool,
    sink: &mut dyn Sink,
) -> Scheduled {
    let start = Instant::now();
    let specs: Vec<Spec> = tests.iter().map(|t| spec(t, settings, &host)).collect();
    let mut left = vec![0usize; host.binaries.len()];
    let mut states: Vec<State> = Vec::with_capacity(tests.len());
    for t in tests {
        states.push(State::default());
        left[t.binary] += 1;
    }
    let mut s = Scheduler {
        tests,
        queue: queue::jobs(&specs, settings.slots, settings.fail_fast).into(),
        specs,
        settings,
        sink,
        pool,
        running: HashMap::new(),
        workers: HashMap::new(),
        idle: Vec::new(),
        states,
        left,
        started: vec![false; host.binaries.len()],
        crashed: vec![Vec::new(); host.binaries.len()],
        start_failures: vec![0; host.binaries.len()],
        groups: HashMap::new(),
        stop: None,
        halted: None,
        halted_at: None,
        out: Scheduled::default(),
        host: &mut host,
    };
    // Ignored tests run nowhere: reported at once.
    for (i, t) in tests.iter().enumerate() {
        if t.ignored {
            let e = collect::unrun(
                &s.host.binaries[t.binary],
                &t.listed,
                Outcome::Ignored,
                t.listed.ignore_reason.clone(),
            );
            s.finish_entry(i, e);
        }
    }
    s.main_loop();
    s.shut_down();
    let mut out = std::mem::take(&mut s.out);
    out.entries = s
        .states
        .iter_mut()
        .map(|st| st.entry.take())
        .zip(tests)
        .map(|(e, t)| {
            e.unwrap_or_else(|| {
                collect::unrun(
                    &s.host.binaries[t.binary],
                    &t.listed,
                    Outcome::NotRun,
                    Some("not run: the run ended before it".into()),
                )
            })
        })
        .collect();
    out.halted = s.halted;
    out.incomplete = s.stop.clone();
    out.run_ms = start.elapsed().as_secs_f64() * 1000.0;
    out
}

/// The scheduler's view of one test.
fn spec(t: &Selected, settings: &Settings, host: &Host<'_>) -> Spec {
    let l = &t.listed;
    let tier = usize::from(l.tier.clamp(1, 3)) - 1;
    let services: Vec<ServiceKind> = if l.tier >= 2 {
        l.needs
            .iter()
            .filter_map(|n| ServiceKind::from_name(n))
            .collect()
    } else {
        Vec::new()
    };
    let group = l.serial.clone().or_else(|| {
        services
            .contains(&ServiceKind::Neo4j)
            .then(|| "neo4j".to_string())
    });
    let key = format!("{}::{}", host.binaries[t.binary], l.name);
    Spec {
        binary: t.binary,
        tier: l.tier,
        ignored: t.ignored,
        timeout_ms: l.timeout_ms.unwrap_or(settings.timeouts_ms[tier]),
        retries: l.retries.unwrap_or(settings.retries),
        group,
        exclusive: l.exclusive,
        fresh: l.isolation.unwrap_or(settings.isolation[tier]) == Isolation::Process,
        expected_ms: host
            .expected
            .get(&key)
            .copied()
            .unwrap_or_else(|| queue::default_expected_ms(l.tier)),
        services,
        wants_postgres: l.wants_postgres,
    }
}

impl Scheduler<'_, '_> {
    fn main_loop(&mut self) {
        loop {
            if self.halted.is_none() {
                if let Some(why) = halt(self.settings.deadline) {
                    self.begin_halt(why);
                }
            }
            if self.halted.is_none() {
                self.dispatch();
            }
            if self.running.is_empty() && (self.queue.is_empty() || self.stopped()) {
                break;
            }
            let wait = self.next_wakeup();
            if let Some(event) = self.pool.recv(wait) {
                self.handle(event);
            }
            self.check_timeouts();
            if let Some(at) = self.halted_at {
                if at.elapsed() > STOP_GRACE {
                    for id in self.running.keys() {
                        self.pool.signal(*id, Signal::KILL);
                    }
                }
            }
        }
        // What was never started.
        let why = match (self.halted, &self.stop) {
            (Some(h), _) => format!("not run: the run was interrupted by {}", h.describe()),
            (None, Some(stop)) => format!("not run: {stop}"),
            (None, None) => "not run".to_string(),
        };
        while let Some(job) = self.queue.pop_front() {
            for i in job.tests {
                let t = &self.tests[i];
                let e = collect::unrun(
                    &self.host.binaries[t.binary],
                    &t.listed,
                    Outcome::NotRun,
                    Some(why.clone()),
                );
                self.finish_entry(i, e);
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.is_some() || self.halted.is_some()
    }

    /// How long to wait for the next event: until the nearest limit, at
    /// most 50 ms (signals and the run's deadline are polled).
    fn next_wakeup(&self) -> Duration {
        let mut wait = Duration::from_millis(50);
        for r in self.running.values() {
            if let (true, None, Some(&i)) = (r.sent, r.killed, r.job.tests.get(r.done)) {
                let limit = Duration::from_millis(self.specs[i].timeout_ms);
                wait = wait.min(limit.saturating_sub(r.since.elapsed()));
            }
        }
        wait.max(Duration::from_millis(1))
    }

    /// Starts jobs while slots are free.
    fn dispatch(&mut self) {
        if self.stopped() {
            return;
        }
        while self.running.len() < self.settings.slots {
            let Some(pick) = self.pick() else { return };
            let job = self.queue.remove(pick).expect("picked from the queue");
            self.start(job);
        }
    }

    /// The queue position of the job to start next, if one can start.
    fn pick(&self) -> Option<usize> {
        let turns = Turns {
            running: self.running.len(),
            exclusive_running: self.running.values().any(|r| r.job.exclusive),
            groups: &self.groups,
            idle: &self
                .idle
                .iter()
                .map(|w| self.workers[w].binary)
                .collect::<Vec<usize>>(),
        };
        queue::pick(&self.queue, &turns)
    }

    /// Gives `job` a worker: an idle one of its binary, else a new one
    /// (retiring another binary's idle worker when every slot has one).
    fn start(&mut self, job: Job) {
        if let Some(g) = &job.group {
            *self.groups.entry(g.clone()).or_default() += 1;
        }
        if !self.started[job.binary] {
            self.started[job.binary] = true;
            let binary = &self.host.binaries[job.binary];
            let tests = self.left[job.binary];
            self.sink.event(&Event::BinaryStarted { binary, tests });
        }
        let reuse = if job.fresh {
            None
        } else {
            self.idle
                .iter()
                .position(|w| self.workers[w].binary == job.binary)
        };
        let id = match reuse {
            Some(k) => self.idle.remove(k),
            None => {
                if self.running.len() + self.idle.len() >= self.settings.slots
                    && !self.idle.is_empty()
                {
                    let other = self.idle.remove(0);
                    self.retire(other);
                }
                match self.pool.spawn((self.host.command)(job.binary)) {
                    Ok(id) => {
                        self.workers.insert(
                            id,
                            Live {
                                binary: job.binary,
                                connected: false,
                                closed: false,
                                exited: None,
                                retiring: false,
                            },
                        );
                        id
                    }
                    Err(e) => {
                        let why = format!("cannot start the test binary as a worker: {e}");
                        self.release_group(&job);
                        for i in job.tests {
                            self.error_test(i, why.clone());
                        }
                        return;
                    }
                }
            }
        };
        let connected = self.workers[&id].connected;
        self.running.insert(
            id,
            Running {
                job,
                done: 0,
                since: Instant::now(),
                sent: false,
                killed: None,
            },
        );
        if connected {
            self.send_job(id);
        }
    }

    fn send_job(&mut self, id: WorkerId) {
        let Some(r) = self.running.get_mut(&id) else {
            return;
        };
        let names: Vec<String> = r
            .job
            .tests
            .iter()
            .map(|&i| self.tests[i].listed.name.clone())
            .collect();
        let binary = r.job.binary;
        let more_postgres = self
            .queue
            .iter()
            .any(|j| j.binary == binary && j.tests.iter().any(|&i| self.specs[i].wants_postgres));
        r.sent = true;
        r.since = Instant::now();
        let first = r.job.tests[0];
        let message = ToWorker::Run {
            tests: names,
            more_postgres,
        };
        if self.pool.send(id, &message).is_err() {
            // Its death events follow and settle the job.
            return;
        }
        self.announce(first);
    }

    /// A test of tiers 2–3 started (tier-1 tests are only reported finished).
    fn announce(&mut self, i: usize) {
        let t = &self.tests[i];
        if t.listed.tier >= 2 {
            self.sink.event(&Event::TestStarted {
                binary: &self.host.binaries[t.binary],
                name: &t.listed.name,
                tier: t.listed.tier,
            });
        }
    }

    fn retire(&mut self, id: WorkerId) {
        if let Some(w) = self.workers.get_mut(&id) {
            w.retiring = true;
        }
        if self.pool.send(id, &ToWorker::Exit).is_err() {
            self.pool.signal(id, Signal::KILL);
        }
    }

    fn release_group(&mut self, job: &Job) {
        if let Some(g) = &job.group {
            if let Some(n) = self.groups.get_mut(g) {
                *n = n.saturating_sub(1);
            }
        }
    }

    fn handle(&mut self, event: PoolEvent) {
        match event {
            PoolEvent::Connected { id } => {
                if let Some(w) = self.workers.get_mut(&id) {
                    w.connected = true;
                }
                if self.running.get(&id).is_some_and(|r| !r.sent) {
                    if self.halted.is_some() {
                        self.retire(id);
                    } else {
                        self.send_job(id);
                    }
                }
            }
            PoolEvent::Message {
                id,
                message: FromWorker::Finished(record),
            } => self.answered(id, record),
            PoolEvent::Message { .. } => {}
            PoolEvent::Closed { id } => {
                if let Some(w) = self.workers.get_mut(&id) {
                    w.closed = true;
                }
                self.settle(id);
            }
            PoolEvent::Exited {
                id,
                status,
                success,
            } => {
                if let Some(w) = self.workers.get_mut(&id) {
                    w.exited = Some((status, success));
                    // A worker that never connected has no connection to close.
                    if !w.connected {
                        w.closed = true;
                    }
                }
                self.settle(id);
            }
        }
    }

    /// A test of a worker's job answered.
    fn answered(&mut self, id: WorkerId, record: TestRecord) {
        let Some(r) = self.running.get_mut(&id) else {
            return;
        };
        let Some(&i) = r.job.tests.get(r.done) else {
            return;
        };
        r.done += 1;
        r.since = Instant::now();
        let finished = r.done == r.job.tests.len();
        let next = r.job.tests.get(r.done).copied();
        // The answer came as the worker was being killed (its test ended
        // right at its limit, or the run is stopping): the result stands,
        // and the rest of the job must not be blamed on the dying worker.
        let doomed = r.killed.is_some();
        self.attempted(i, record);
        if doomed {
            let r = self.running.remove(&id).expect("running");
            self.release_group(&r.job);
            if let Some(w) = self.workers.get_mut(&id) {
                w.retiring = true;
            }
            // Dispatch is off once halted: then these end up "not run".
            let rest = r.job.tests[r.done..].to_vec();
            self.requeue(&r.job, rest);
            return;
        }
        if finished {
            let r = self.running.remove(&id).expect("running");
            self.release_group(&r.job);
            if r.job.fresh || self.stopped() {
                self.retire(id);
            } else {
                self.idle.push(id);
            }
        } else if let Some(n) = next {
            self.announce(n);
        }
    }

    /// A worker's connection closed or its process ended: once both, it is
    /// gone, and the test it was running (if any) is settled.
    fn settle(&mut self, id: WorkerId) {
        let Some(w) = self.workers.get(&id) else {
            return;
        };
        let (Some((status, _)), true) = (w.exited.clone(), w.closed) else {
            return;
        };
        let binary = w.binary;
        let connected = w.connected;
        let retiring = w.retiring;
        self.workers.remove(&id);
        self.idle.retain(|w| *w != id);
        let Some(r) = self.running.remove(&id) else {
            if !retiring && self.halted.is_none() && !connected {
                self.start_failures[binary] += 1;
            }
            self.pool.remove(id);
            return;
        };
        self.release_group(&r.job);
        let rest: Vec<usize> = r.job.tests[r.done.min(r.job.tests.len())..].to_vec();
        if !connected || !r.sent {
            // It never ran anything: it could not start.
            self.start_failures[binary] += 1;
            let tail = self.pool.stderr_tail(id, 15);
            self.pool.remove(id);
            if self.halted.is_some() {
                self.requeue(&r.job, rest);
                return;
            }
            if self.start_failures[binary] >= START_ATTEMPTS {
                let mut why = format!(
                    "the test binary did not start as a worker of cargo tiered ({status}); was it built with another version of tiered?"
                );
                if !tail.trim().is_empty() {
                    why.push_str(&format!("\nlast lines of its stderr:\n{tail}"));
                }
                for i in rest {
                    self.error_test(i, why.clone());
                }
                let queued: Vec<Job> = self
                    .queue
                    .iter()
                    .filter(|j| j.binary == binary)
                    .cloned()
                    .collect();
                self.queue.retain(|j| j.binary != binary);
                for j in queued {
                    for i in j.tests {
                        self.error_test(i, why.clone());
                    }
                }
            } else {
                self.requeue(&r.job, rest);
            }
            return;
        }
        let Some((&current, after)) = rest.split_first() else {
            self.pool.remove(id);
            return;
        };
        let (stdout, stderr) = self.pool.captured(id);
        let tail = self.pool.stderr_tail(id, 15);
        self.pool.remove(id);
        let elapsed = r.since.elapsed().as_secs_f64() * 1000.0;
        let t = &self.tests[current];
        let mut record = TestRecord {
            name: t.listed.name.clone(),
            tier: t.listed.tier,
            outcome: Outcome::Failed,
            duration_ms: elapsed,
            message: None,
            stdout,
            stderr,
            perf: None,
            setup_ms: None,
            retries: Vec::new(),
        };
        match (r.killed, self.halted) {
            (Some(Kill::Timeout(ms)), _) => {
                record.message = Some(format!(
                    "{} (the worker process running it was killed and replaced)",
                    crate::execute::timeout_message(ms)
                ));
            }
            (_, Some(h)) => {
                record.outcome = Outcome::Error;
                record.message = Some(format!(
                    "the run was interrupted by {} before this test reported a result; its worker process was stopped ({status})",
                    h.describe()
                ));
            }
            _ => {
                let mut m = format!(
                    "the test ended its worker process ({status}) before reporting a result: a crash, an abort or a process::exit; the other tests ran on in a new worker"
                );
                if !tail.trim().is_empty() {
                    m.push_str(&format!("\nlast lines of the worker's own stderr:\n{tail}"));
                }
                record.message = Some(m);
                self.crashed[binary].push(status.clone());
                self.sink.event(&Event::Note(&format!(
                    "    CRASHED {} worker: {status} while running {}; a new worker takes over",
                    self.host.binaries[binary], t.listed.name
                )));
            }
        }
        let halted = self.halted.is_some();
        self.attempted(current, record);
        if halted {
            for &i in after {
                let t = &self.tests[i];
                let e = collect::unrun(
                    &self.host.binaries[t.binary],
                    &t.listed,
                    Outcome::NotRun,
                    Some(format!(
                        "not run: the run was interrupted by {}",
                        self.halted.map(Halt::describe).unwrap_or_default()
                    )),
                );
                self.finish_entry(i, e);
            }
        } else {
            self.requeue(&r.job, after.to_vec());
        }
    }

    /// Puts the unfinished rest of a job back at the front of the queue.
    fn requeue(&mut self, job: &Job, rest: Vec<usize>) {
        if rest.is_empty() {
            return;
        }
        let expected_ms = rest.iter().map(|&i| self.specs[i].expected_ms).sum();
        self.queue.push_front(Job {
            tests: rest,
            expected_ms,
            ..job.clone()
        });
    }

    fn check_timeouts(&mut self) {
        let mut expired = Vec::new();
        for (id, r) in &self.running {
            if let (true, None, Some(&i)) = (r.sent, r.killed, r.job.tests.get(r.done)) {
                let ms = self.specs[i].timeout_ms;
                if r.since.elapsed() >= Duration::from_millis(ms) {
                    expired.push((*id, ms));
                }
            }
        }
        for (id, ms) in expired {
            if let Some(r) = self.running.get_mut(&id) {
                r.killed = Some(Kill::Timeout(ms));
            }
            self.pool.signal(id, Signal::KILL);
        }
    }

    fn begin_halt(&mut self, why: Halt) {
        self.halted = Some(why);
        self.halted_at = Some(Instant::now());
        let ids: Vec<WorkerId> = self.pool.live().collect();
        for id in ids {
            if let Some(r) = self.running.get_mut(&id) {
                r.killed.get_or_insert(Kill::Halt);
            }
            self.pool.signal(id, Signal::TERM);
        }
    }

    /// One attempt of test `i` ended: retried, or settled.
    fn attempted(&mut self, i: usize, mut record: TestRecord) {
        let failed = matches!(record.outcome, Outcome::Failed | Outcome::Error);
        let state = &mut self.states[i];
        if failed && self.halted.is_none() && state.attempts.len() < self.specs[i].retries as usize
        {
            state.attempts.push(Attempt::of(&record));
            if let Some(perf) = record.perf.take() {
                self.out.measured.samples.extend(perf.samples);
                self.out.measured.load.extend(perf.load);
            }
            self.queue.push_front(Job::single(i, &self.specs[i]));
            return;
        }
        record.retries = std::mem::take(&mut state.attempts);
        if let Some(perf) = record.perf.take() {
            self.out.measured.samples.extend(perf.samples);
            self.out.measured.load.extend(perf.load);
        }
        let t = &self.tests[i];
        // The listing knows the tier; a record from a confused worker may not.
        record.tier = t.listed.tier;
        let mut entry = collect::entry(
            &self.host.binaries[t.binary],
            record,
            self.settings.success_output,
        );
        collect::redact_entry(&mut entry, self.host.secrets);
        if failed && !self.specs[i].services.is_empty() {
            for (kind, why) in (self.host.check_services)() {
                self.sink.event(&Event::Note(&format!(
                    "    SERVICE {:<8} DOWN: {}",
                    kind.name(),
                    why.lines().next().unwrap_or_default()
                )));
                self.out.down.push((kind, why));
            }
            collect::blame_dead_services(&mut entry, &self.specs[i].services, &self.out.down);
        }
        if failed && self.settings.fail_fast && self.stop.is_none() {
            self.stop = Some(format!(
                "--fail-fast stopped the run after `{}::{}` failed",
                self.host.binaries[t.binary], t.listed.name
            ));
        }
        self.finish_entry(i, entry);
    }

    fn error_test(&mut self, i: usize, why: String) {
        let t = &self.tests[i];
        let e = collect::unrun(
            &self.host.binaries[t.binary],
            &t.listed,
            Outcome::Error,
            Some(why),
        );
        self.finish_entry(i, e);
    }

    /// A test's final entry: said, kept, and counted against its binary.
    fn finish_entry(&mut self, i: usize, entry: TestEntry) {
        self.sink.event(&Event::TestFinished(&entry));
        self.states[i].entry = Some(entry);
        let b = self.tests[i].binary;
        self.left[b] = self.left[b].saturating_sub(1);
        if self.left[b] == 0 && self.started[b] {
            let crashes = &self.crashed[b];
            let status = match crashes.len() {
                0 => "finished".to_string(),
                n => format!(
                    "finished; {n} worker process(es) crashed ({})",
                    crashes.join("; ")
                ),
            };
            self.sink.event(&Event::BinaryFinished {
                binary: &self.host.binaries[b],
                status: &status,
                abnormal: !crashes.is_empty(),
            });
        }
    }

    /// Every worker left is told to exit, and killed if it does not.
    fn shut_down(&mut self) {
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for id in ids {
            if self.workers.get(&id).is_some_and(|w| !w.retiring) {
                self.retire(id);
            }
        }
        let until = Instant::now() + EXIT_GRACE;
        while !self.workers.is_empty() && Instant::now() < until {
            match self.pool.recv(Duration::from_millis(50)) {
                Some(PoolEvent::Closed { id }) => {
                    if let Some(w) = self.workers.get_mut(&id) {
                        w.closed = true;
                    }
                }
                Some(PoolEvent::Exited {
                    id,
                    status,
                    success,
                }) => {
                    if let Some(w) = self.workers.get_mut(&id) {
                        w.exited = Some((status, success));
                    }
                }
                _ => {}
            }
            let done: Vec<WorkerId> = self
                .workers
                .iter()
                .filter(|(_, w)| w.exited.is_some())
                .map(|(id, _)| *id)
                .collect();
            for id in done {
                self.workers.remove(&id);
                self.pool.remove(id);
            }
        }
        // The pool kills what is left when dropped.
    }
}
