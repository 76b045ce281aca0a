use std::collections::BTreeMap;
use std::path::PathBuf;

use tiered::merge::{combine, MergeError};
use tiered::partition::{
    fmix64, fnv1a64, group_samples, hash_shard, key_hash, Partition, PartitionKind, ShardInfo,
    SuiteCounts,
};
use tiered::perf::Sample;
use tiered::protocol::Outcome;
use tiered::report::{Measured, SessionReport, TestEntry, Verdict};

/// 23 tests over three binaries, not in sorted order.
fn suite() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (binary, n) in [("tier2", 5), ("tier1", 12), ("api", 6)] {
        for i in 0..n {
            v.push((binary.to_string(), format!("mod{}::test_{i}", i % 3)));
        }
    }
    v
}

fn keys(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(b, n)| (b.as_str(), n.as_str())).collect()
}

fn shard(kind: PartitionKind, index: u32, count: u32) -> Partition {
    Partition { kind, index, count }
}

#[tiered::test(tier = 1)]
fn partition_specs_parse_and_print_back() {
    for spec in ["slice:1/1", "slice:2/3", "hash:3/3", "hash:1/10"] {
        let p: Partition = spec.parse().unwrap();
        assert_eq!(p.to_string(), spec);
    }
    assert_eq!(
        "hash:2/5".parse::<Partition>().unwrap(),
        shard(PartitionKind::Hash, 2, 5)
    );
}

#[tiered::test(tier = 1)]
fn partition_spec_errors_name_the_value_and_the_accepted_forms() {
    for (spec, reason) in [
        ("slice:0/3", "shards are numbered from 1"),
        ("hash:4/3", "there is no shard 4 when there are 3"),
        ("foo:1/2", "unknown kind `foo`"),
        ("slice:1", "`1` has no `/N`"),
        ("hash:a/2", "`a` is not a whole number"),
        ("hash:1/0", "at least one shard"),
        ("hash", "expected KIND:K/N"),
    ] {
        let e = spec.parse::<Partition>().unwrap_err();
        let text = e.to_string();
        assert!(text.contains(&format!("`{spec}`")), "{text}");
        assert!(text.contains(reason), "{spec}: {text}");
        assert!(
            text.contains("slice:K/N and hash:K/N with 1 <= K <= N"),
            "{text}"
        );
        assert!(e.hint().contains("hash:1/N"));
    }
}

#[tiered::test(tier = 1)]
fn partition_hash_is_fnv1a_then_fmix64_and_stable() {
    // The published FNV-1a 64-bit test vectors.
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    assert_eq!(fmix64(0), 0);
    assert_eq!(key_hash("suite", "adds"), fmix64(fnv1a64(b"suite::adds")));
    // A test's shard depends on its key alone: other tests do not move it.
    let all = suite();
    let before: Vec<u32> = all.iter().map(|(b, n)| hash_shard(b, n, 4)).collect();
    let mut more = all.clone();
    more.push(("tier1".into(), "zzz::added".into()));
    for count in 1..=5 {
        let p = shard(PartitionKind::Hash, 1, count);
        let a = p.select(&keys(&all));
        let b = p.select(&keys(&more));
        assert_eq!(a[..], b[..all.len()], "adding a test moved another");
    }
    let again: Vec<u32> = all.iter().map(|(b, n)| hash_shard(b, n, 4)).collect();
    assert_eq!(before, again);
}

#[tiered::test(tier = 1)]
fn partition_hash_spreads_similar_names_evenly() {
    // Names that differ only a little, as test names do: FNV-1a alone would
    // split these by the parity of their bytes.
    let names: Vec<(String, String)> = (0..2000)
        .map(|i| ("suite".to_string(), format!("module_{}::case_{i}", i % 7)))
        .collect();
    for count in [2u32, 3, 4, 8] {
        let mut sizes = vec![0usize; count as usize];
        for (b, n) in &names {
            sizes[(hash_shard(b, n, count) - 1) as usize] += 1;
        }
        let fair = names.len() / count as usize;
        for s in &sizes {
            assert!(
                s.abs_diff(fair) * 100 < fair * 15,
                "hash:_/{count} is uneven: {sizes:?}"
            );
        }
    }
    // The tests of fixtures/workspaces/passing, which FNV-1a alone put all
    // in the same of two shards.
    let fixture = [
        "adds",
        "parses",
        "later",
        "panics",
        "integrates",
        "unit::multiplies",
        "unit::deeper::subtracts",
    ];
    let first = fixture
        .iter()
        .filter(|n| hash_shard("suite", n, 2) == 1)
        .count();
    assert!(
        (1..fixture.len()).contains(&first),
        "{first} of 7 in shard 1"
    );
}

#[tiered::test(tier = 1)]
fn partition_puts_every_test_in_exactly_one_shard() {
    let all = suite();
    for kind in [PartitionKind::Slice, PartitionKind::Hash] {
        for count in 1..=5 {
            let mut owners = vec![0u32; all.len()];
            let mut sizes = Vec::new();
            for index in 1..=count {
                let keep = shard(kind, index, count).select(&keys(&all));
                sizes.push(keep.iter().filter(|k| **k).count());
                for (i, k) in keep.iter().enumerate() {
                    if *k {
                        assert_eq!(owners[i], 0, "{kind:?} {count}: test {i} in two shards");
                        owners[i] = index;
                    }
                }
            }
            assert!(
                owners.iter().all(|o| *o > 0),
                "{kind:?} {count}: a test in no shard"
            );
            if kind == PartitionKind::Slice {
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "slice shards are even: {sizes:?}");
            }
        }
    }
}

#[tiered::test(tier = 1)]
fn partition_slice_follows_the_sorted_order_not_the_input_order() {
    let all = suite();
    let mut reversed = all.clone();
    reversed.reverse();
    let p = shard(PartitionKind::Slice, 2, 3);
    let chosen = |v: &[(String, String)]| {
        let keep = p.select(&keys(v));
        let mut picked: Vec<(String, String)> = v
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(t, _)| t.clone())
            .collect();
        picked.sort();
        picked
    };
    assert_eq!(chosen(&all), chosen(&reversed));
    // The 2nd, 5th, 8th… of the order by binary, then name.
    let mut sorted = all.clone();
    sorted.sort();
    let expected: Vec<_> = sorted.iter().skip(1).step_by(3).cloned().collect();
    assert_eq!(chosen(&all), expected);
    // slice and hash are different splits.
    let h = shard(PartitionKind::Hash, 2, 3).select(&keys(&all));
    assert_ne!(p.select(&keys(&all)), h);
}

fn entry(binary: &str, name: &str, tier: u8, outcome: Outcome) -> TestEntry {
    TestEntry {
        name: name.into(),
        binary: binary.into(),
        tier,
        outcome,
        duration_ms: 1.0,
        message: (outcome == Outcome::Failed).then(|| "boom".to_string()),
        stdout: None,
        stderr: None,
        setup_ms: None,
        retries: Vec::new(),
        flaky: false,
    }
}

/// A shard's report of a suite declaring 4 tier-1 and 2 tier-2 tests.
fn shard_report(index: u32, count: u32, tests: Vec<TestEntry>, ms: &[f64]) -> SessionReport {
    let mut declared = BTreeMap::new();
    for t in &tests {
        *declared.entry(t.tier).or_insert(0) += 1;
    }
    let mut r = SessionReport::assemble(
        Measured {
            selected_tiers: vec![1, 2],
            declared: declared.clone(),
            discovered: declared,
            tests,
            ..Measured::default()
        },
        &[],
        &Default::default(),
    );
    let samples: Vec<Sample> = ms
        .iter()
        .map(|&ms| Sample {
            op: "database_query".into(),
            ms,
            error: false,
        })
        .collect();
    r.partition = Some(ShardInfo {
        kind: PartitionKind::Hash,
        index,
        count,
        suite: BTreeMap::from([
            (
                "1".to_string(),
                SuiteCounts {
                    declared: 4,
                    discovered: 4,
                },
            ),
            (
                "2".to_string(),
                SuiteCounts {
                    declared: 2,
                    discovered: 2,
                },
            ),
        ]),
        samples: group_samples(&samples),
    });
    r
}

fn two_shards() -> Vec<(PathBuf, SessionReport)> {
    let a = shard_report(
        1,
        2,
        vec![
            entry("suite", "a", 1, Outcome::Passed),
            entry("suite", "b", 1, Outcome::Passed),
            entry("suite", "db", 2, Outcome::Passed),
        ],
        &(1..=10).map(f64::from).collect::<Vec<_>>(),
    );
    let b = shard_report(
        2,
        2,
        vec![
            entry("suite", "c", 1, Outcome::Failed),
            entry("suite", "d", 1, Outcome::Ignored),
            entry("suite", "cache", 2, Outcome::Passed),
        ],
        &(11..=30).map(f64::from).collect::<Vec<_>>(),
    );
    // Given out of order: the merge sorts by shard.
    vec![("b.json".into(), b), ("a.json".into(), a)]
}

#[tiered::test(tier = 1)]
fn merge_takes_declared_once_and_sums_the_rest() {
    let gates = tiered::gates::resolve(&Default::default(), &["release".to_string()]).unwrap();
    let m = combine(two_shards(), &gates, &BTreeMap::new()).unwrap();
    let r = m.report;
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(r.totals.declared, 6, "not 12: declared is taken once");
    assert_eq!(r.totals.discovered, 6);
    assert_eq!(r.totals.executed, 5);
    assert_eq!(r.totals.passed, 4);
    assert_eq!(r.totals.failed, 1);
    assert_eq!(r.tiers["1"].totals.declared, 4);
    assert_eq!(r.tiers["2"].totals.passed, 2);
    assert_eq!(r.rates.success, Some(66.67));
    let names: Vec<&str> = r.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "db", "c", "d", "cache"]);
    assert_eq!(r.verdict, Verdict::Fail, "release needs 70 % success");
    assert_eq!(r.gates[0].criteria[0].actual, Some(66.67));
    let merged = r.merged.as_ref().unwrap();
    assert_eq!((merged.count, merged.shards.clone()), (2, vec![1, 2]));
    assert!(merged.missing.is_empty());
    assert!(r.partition.is_none());
    // Percentiles over the 30 samples of both shards, as one run would give.
    let op = &r.operations[0];
    assert_eq!(op.count, 30);
    assert_eq!(op.p95_ms, 29.0);
    assert_eq!(op.p50_ms, 15.0);
    assert_eq!(r.sla[0].operation, "database_query");
    assert_eq!(r.sla[0].source, "default");
}

#[tiered::test(tier = 1)]
fn merge_of_a_missing_shard_fails_and_says_which() {
    let mut shards = two_shards();
    shards.retain(|(p, _)| p.to_str() == Some("a.json"));
    let r = combine(shards, &[], &BTreeMap::new()).unwrap().report;
    assert_eq!(
        r.totals.declared, 6,
        "the missing shard's tests stay declared"
    );
    assert_eq!(r.totals.executed, 3);
    assert_eq!(r.totals.failed, 0);
    assert_eq!(
        r.verdict,
        Verdict::Fail,
        "never a pass with a shard missing"
    );
    assert_eq!(r.merged.as_ref().unwrap().missing, vec![2]);
    let lines = tiered::report::summary::shard_lines(&r);
    assert!(lines.iter().any(|l| l.contains("shard(s) 2 of 2 missing")));
}

#[tiered::test(tier = 1)]
fn merge_refuses_reports_of_different_suites_naming_the_files() {
    let mut shards = two_shards();
    shards[0].1.partition.as_mut().unwrap().count = 3;
    let e = combine(shards, &[], &BTreeMap::new()).unwrap_err();
    assert!(matches!(e, MergeError::Mismatch { .. }));
    assert_eq!(e.exit_code(), tiered::exit_codes::USAGE);
    let text = e.to_string();
    assert!(
        text.contains("a.json") && text.contains("b.json") && text.contains("of 2, the other of 3"),
        "{text}"
    );

    let mut shards = two_shards();
    shards[0].1.partition.as_mut().unwrap().index = 1;
    let e = combine(shards, &[], &BTreeMap::new()).unwrap_err();
    assert!(e.to_string().contains("both are shard 1 of 2"), "{e}");

    // Shard 1 of 2 and shard 1 of 3: a different split, not a duplicate.
    let mut shards = two_shards();
    let info = shards[0].1.partition.as_mut().unwrap();
    (info.index, info.count) = (1, 3);
    let e = combine(shards, &[], &BTreeMap::new()).unwrap_err();
    assert!(
        e.to_string()
            .contains("one is a shard of 3, the other of 2"),
        "{e}"
    );

    let mut shards = two_shards();
    shards[0].1.partition = None;
    let e = combine(shards, &[], &BTreeMap::new()).unwrap_err();
    assert!(
        e.to_string().starts_with("b.json is not a shard's report"),
        "{e}"
    );

    let mut shards = two_shards();
    shards[0]
        .1
        .partition
        .as_mut()
        .unwrap()
        .suite
        .get_mut("1")
        .unwrap()
        .declared = 5;
    let e = combine(shards, &[], &BTreeMap::new()).unwrap_err();
    assert!(
        e.to_string()
            .contains("declare different tests per tier (tier 1: 4, tier 2: 2 and tier 1: 5"),
        "{e}"
    );
}

#[tiered::test(tier = 1)]
fn merge_reads_back_what_a_shard_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = two_shards().remove(1);
    let path = dir.path().join("shard.json");
    tiered::report::json::write(&report, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["partition"]["kind"], "hash");
    assert_eq!(v["partition"]["index"], 1);
    assert_eq!(v["partition"]["count"], 2);
    assert_eq!(v["partition"]["suite"]["1"]["declared"], 4);
    assert_eq!(v["partition"]["samples"][0]["ms"][0], 1.0);
    assert_eq!(tiered::report::json::read(&path).unwrap(), report);
    assert!(v.get("merged").is_none(), "no key for what is not there");
}
