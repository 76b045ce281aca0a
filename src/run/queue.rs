//! The run's queue: which jobs there are, in which order, and which may
//! start now.
//!
//! [`jobs`] turns the selected tests into jobs: a tier-2/3 test alone (they
//! are heavier, and each has its own limit and fixtures), tier-1 tests of
//! one binary in small batches run one after another by one worker — ten
//! thousand unit tests do not cost ten thousand round trips, yet no
//! binary's batch holds more than one slot, and every binary gets at least
//! as many batches as there are slots — and orders them longest first by
//! the durations of the last run (unknown ones by tier: tier 3 first),
//! `exclusive` jobs last. [`pick`] chooses the next job that may start
//! given what runs ([`Turns`]): one test of a `serial` group (or of
//! `neo4j`) at a time, an `exclusive` one alone, and a short job waits for
//! an idle worker of its own binary rather than replacing another's.
//!
//! Pure functions over plain data, so the policy is tested without
//! processes (tests/tier1/queue.rs).

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::services::ServiceKind;

/// A tier-1 test known to take longer than this runs as a job of its own.
pub const BATCH_MAX_TEST_MS: f64 = 100.0;
/// A batch of tier-1 tests is cut at this expected duration.
pub const BATCH_MAX_MS: f64 = 250.0;
/// Nor does a batch hold more tests than this.
pub const BATCH_MAX_TESTS: usize = 256;
/// A job expected to be shorter than this waits for a worker of its own
/// binary rather than replacing another binary's idle one (a worker starts
/// in about 10–20 ms).
pub const SWITCH_MS: f64 = 50.0;

/// What the queue needs to know of one test.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Index of its binary.
    pub binary: usize,
    /// Its tier.
    pub tier: u8,
    /// Ignored in this run: no job.
    pub ignored: bool,
    /// Its limit.
    pub timeout_ms: u64,
    /// Reruns after a failure.
    pub retries: u32,
    /// The group it takes turns in (`serial`, `neo4j`).
    pub group: Option<String>,
    /// Nothing else runs while it does.
    pub exclusive: bool,
    /// A fresh process of its own (`isolation = "process"`).
    pub fresh: bool,
    /// How long it is expected to take.
    pub expected_ms: f64,
    /// The services it needs.
    pub services: Vec<ServiceKind>,
    /// It takes a PostgreSQL database of its own.
    pub wants_postgres: bool,
}

/// The expected duration of a test no earlier run measured, by tier.
pub fn default_expected_ms(tier: u8) -> f64 {
    match tier {
        1 => 1.0,
        2 => 100.0,
        _ => 1000.0,
    }
}

/// Tests that run one after another in one worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Index of their binary.
    pub binary: usize,
    /// Indexes of the tests, in the order they run.
    pub tests: Vec<usize>,
    /// The sum of their expected durations.
    pub expected_ms: f64,
    /// The group they take turns in.
    pub group: Option<String>,
    /// It runs alone.
    pub exclusive: bool,
    /// It runs in a fresh process.
    pub fresh: bool,
}

impl Job {
    /// A job of test `i` alone.
    pub fn single(i: usize, s: &Spec) -> Job {
        Job {
            binary: s.binary,
            tests: vec![i],
            expected_ms: s.expected_ms,
            group: s.group.clone(),
            exclusive: s.exclusive,
            fresh: s.fresh,
        }
    }
}

/// The run's jobs for `slots` slots, longest first, `exclusive` ones last;
/// with `fail_fast` every test is a job of its own (so the run stops right
/// after the failure).
pub fn jobs(specs: &[Spec], slots: usize, fail_fast: bool) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut batchable: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, s) in specs.iter().enumerate() {
        if s.ignored {
            continue;
        }
        let alone = s.tier >= 2
            || s.exclusive
            || s.group.is_some()
            || s.fresh
            || s.expected_ms > BATCH_MAX_TEST_MS
            || fail_fast;
        if alone {
            jobs.push(Job::single(i, s));
        } else {
            batchable.entry(s.binary).or_default().push(i);
        }
    }
    for (binary, ids) in batchable {
        let per = ids
            .len()
            .div_ceil(slots.max(1) * 4)
            .clamp(1, BATCH_MAX_TESTS);
        let empty = Job {
            binary,
            tests: Vec::new(),
            expected_ms: 0.0,
            group: None,
            exclusive: false,
            fresh: false,
        };
        let mut batch = empty.clone();
        for i in ids {
            if batch.tests.len() >= per || batch.expected_ms >= BATCH_MAX_MS {
                jobs.push(std::mem::replace(&mut batch, empty.clone()));
            }
            batch.expected_ms += specs[i].expected_ms;
            batch.tests.push(i);
        }
        if !batch.tests.is_empty() {
            jobs.push(batch);
        }
    }
    jobs.sort_by(|a, b| {
        a.exclusive
            .cmp(&b.exclusive)
            .then(b.expected_ms.total_cmp(&a.expected_ms))
    });
    jobs
}

/// What runs now, as far as choosing the next job goes.
#[derive(Debug, Clone, Copy)]
pub struct Turns<'a> {
    /// Jobs running.
    pub running: usize,
    /// One of them is `exclusive`.
    pub exclusive_running: bool,
    /// Running jobs per group.
    pub groups: &'a HashMap<String, usize>,
    /// The binaries of the idle workers.
    pub idle: &'a [usize],
}

/// The queue position of the job to start next, if one may start now.
pub fn pick(queue: &VecDeque<Job>, turns: &Turns<'_>) -> Option<usize> {
    if turns.exclusive_running {
        return None;
    }
    let runnable = |j: &Job| {
        j.group
            .as_ref()
            .is_none_or(|g| turns.groups.get(g).copied().unwrap_or(0) == 0)
            && (!j.exclusive || turns.running == 0)
    };
    let has_idle = |b: usize| turns.idle.contains(&b);
    let first = queue.iter().position(&runnable)?;
    let head = &queue[first];
    // A short job that would replace another binary's idle worker gives
    // way to one that has an idle worker of its own.
    if !head.fresh && !has_idle(head.binary) && head.expected_ms < SWITCH_MS {
        if let Some(k) = queue
            .iter()
            .position(|j| runnable(j) && !j.fresh && !j.exclusive && has_idle(j.binary))
        {
            return Some(k);
        }
    }
    Some(first)
}
