//! The run's queue: batching, longest first, turns of `serial` groups and
//! `exclusive` tests, staying on a binary's idle worker.

use std::collections::{HashMap, VecDeque};

use tiered::run::queue::{jobs, pick, Job, Spec, Turns, BATCH_MAX_TESTS};

fn unit(binary: usize) -> Spec {
    Spec {
        binary,
        tier: 1,
        expected_ms: 1.0,
        ..Spec::default()
    }
}

fn integration(binary: usize, expected_ms: f64) -> Spec {
    Spec {
        binary,
        tier: 2,
        expected_ms,
        ..Spec::default()
    }
}

#[tiered::test(tier = 1)]
fn unit_tests_are_batched_per_binary_and_spread_over_every_slot() {
    let specs: Vec<Spec> = (0..1000).map(|_| unit(0)).collect();
    let jobs = jobs(&specs, 2, false);
    // At least four batches per slot, so no binary's batch holds a slot
    // for long, and none over the cap.
    assert!(jobs.len() >= 8, "{}", jobs.len());
    assert!(jobs.iter().all(|j| j.tests.len() <= BATCH_MAX_TESTS));
    let mut all: Vec<usize> = jobs.iter().flat_map(|j| j.tests.clone()).collect();
    all.sort();
    assert_eq!(all, (0..1000).collect::<Vec<_>>(), "every test, once");
    // Ten thousand tests are not ten thousand round trips.
    let specs: Vec<Spec> = (0..10_000).map(|_| unit(0)).collect();
    assert!(jobs_len(&specs, 2) <= 10_000 / BATCH_MAX_TESTS + 1);
}

fn jobs_len(specs: &[Spec], slots: usize) -> usize {
    jobs(specs, slots, false).len()
}

#[tiered::test(tier = 1)]
fn a_batch_never_mixes_binaries_and_tier_two_tests_run_alone() {
    let specs = vec![unit(0), unit(1), unit(0), integration(1, 50.0), unit(1)];
    for j in jobs(&specs, 1, false) {
        assert!(
            j.tests.iter().all(|&i| specs[i].binary == j.binary),
            "{j:?}"
        );
        if j.tests.contains(&3) {
            assert_eq!(j.tests, vec![3]);
        }
    }
}

#[tiered::test(tier = 1)]
fn the_longest_job_comes_first_and_exclusive_ones_last() {
    let mut alone = integration(2, 9000.0);
    alone.exclusive = true;
    let specs = vec![
        integration(0, 20.0),
        integration(1, 4000.0),
        alone,
        unit(3),
        integration(0, 300.0),
    ];
    let order: Vec<Vec<usize>> = jobs(&specs, 4, false)
        .into_iter()
        .map(|j| j.tests)
        .collect();
    assert_eq!(order, vec![vec![1], vec![4], vec![0], vec![3], vec![2]]);
}

#[tiered::test(tier = 1)]
fn a_slow_unit_test_runs_as_a_job_of_its_own() {
    let mut slow = unit(0);
    slow.expected_ms = 2500.0;
    let specs = vec![unit(0), slow, unit(0)];
    let jobs = jobs(&specs, 2, false);
    assert_eq!(jobs[0].tests, vec![1], "{jobs:?}");
}

#[tiered::test(tier = 1)]
fn fail_fast_makes_every_test_a_job_of_its_own() {
    let specs: Vec<Spec> = (0..50).map(|_| unit(0)).collect();
    assert!(jobs(&specs, 2, true).iter().all(|j| j.tests.len() == 1));
}

#[tiered::test(tier = 1)]
fn ignored_tests_get_no_job() {
    let mut ignored = unit(0);
    ignored.ignored = true;
    let jobs = jobs(&[unit(0), ignored], 1, false);
    assert_eq!(jobs.iter().map(|j| j.tests.len()).sum::<usize>(), 1);
}

fn job(binary: usize, expected_ms: f64) -> Job {
    Job {
        binary,
        tests: vec![0],
        expected_ms,
        group: None,
        exclusive: false,
        fresh: false,
    }
}

#[tiered::test(tier = 1)]
fn a_group_takes_turns_and_other_jobs_go_past_it() {
    let mut graph = job(0, 500.0);
    graph.group = Some("neo4j".into());
    let queue: VecDeque<Job> = vec![graph, job(1, 400.0)].into();
    let free = HashMap::new();
    let busy: HashMap<String, usize> = [("neo4j".to_string(), 1)].into();
    let turns = |groups| Turns {
        running: 1,
        exclusive_running: false,
        groups,
        idle: &[],
    };
    assert_eq!(pick(&queue, &turns(&free)), Some(0));
    assert_eq!(pick(&queue, &turns(&busy)), Some(1), "the graph is busy");
}

#[tiered::test(tier = 1)]
fn an_exclusive_job_waits_for_the_others_and_holds_everything() {
    let mut alone = job(0, 100.0);
    alone.exclusive = true;
    let queue: VecDeque<Job> = vec![alone].into();
    let groups = HashMap::new();
    let mut turns = Turns {
        running: 2,
        exclusive_running: false,
        groups: &groups,
        idle: &[],
    };
    assert_eq!(pick(&queue, &turns), None);
    turns.running = 0;
    assert_eq!(pick(&queue, &turns), Some(0));
    let queue: VecDeque<Job> = vec![job(1, 10.0)].into();
    turns.running = 1;
    turns.exclusive_running = true;
    assert_eq!(
        pick(&queue, &turns),
        None,
        "nothing beside an exclusive job"
    );
}

#[tiered::test(tier = 1)]
fn a_short_job_stays_with_an_idle_worker_of_its_own_binary() {
    let queue: VecDeque<Job> = vec![job(0, 5.0), job(1, 4.0)].into();
    let groups = HashMap::new();
    let turns = Turns {
        running: 1,
        exclusive_running: false,
        groups: &groups,
        idle: &[1],
    };
    assert_eq!(pick(&queue, &turns), Some(1));
    // A long one is worth a new worker.
    let queue: VecDeque<Job> = vec![job(0, 5000.0), job(1, 4.0)].into();
    assert_eq!(pick(&queue, &turns), Some(0));
}
