use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{assert_valid_junit, merge, run, run_plain};

/// Every test of a report, as `binary::name`.
fn names(report: &Value) -> BTreeSet<String> {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}::{}",
                t["binary"].as_str().unwrap(),
                t["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tiered::test(tier = 3, timeout = "15m")]
fn hash_shards_split_the_selection_and_merge_back_into_it() {
    let whole = run("passing", &[]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    let whole_json = whole.json();
    let a = run("passing", &["--partition", "hash:1/2"]);
    let b = run("passing", &["--partition", "hash:2/2"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let (ja, jb) = (a.json(), b.json());
    assert_eq!(
        ja["partition"]["kind"], "hash",
        "the shard is recorded: {}",
        ja["partition"]
    );
    assert_eq!(ja["partition"]["index"], 1);
    assert_eq!(jb["partition"]["index"], 2);
    assert_eq!(jb["partition"]["count"], 2);

    // The shards are disjoint, neither is empty, together they are the
    // unsharded selection.
    let (na, nb) = (names(&ja), names(&jb));
    assert!(!na.is_empty() && !nb.is_empty(), "{na:?} / {nb:?}");
    assert!(na.is_disjoint(&nb), "{na:?} / {nb:?}");
    let union: BTreeSet<String> = na.union(&nb).cloned().collect();
    assert_eq!(union, names(&whole_json));
    // Each counts its own share; both record the whole selection.
    for (shard, n) in [(&ja, &na), (&jb, &nb)] {
        assert_eq!(shard["totals"]["declared"], n.len() as u64);
        for tier in ["1", "2", "3"] {
            assert_eq!(
                shard["partition"]["suite"][tier]["declared"],
                whole_json["tiers"][tier]["totals"]["declared"]
            );
        }
    }
    assert!(
        a.stderr.contains("shard hash:1/2: "),
        "the summary says which shard: {}",
        a.stderr
    );

    // Merged: one JUnit, one verdict, declared taken once.
    let summary = tempfile::NamedTempFile::new().unwrap();
    let m = merge(
        &[a.json_path(), b.json_path()],
        &["--gate", "release"],
        &[("GITHUB_STEP_SUMMARY", summary.path())],
    );
    assert_eq!(m.code, 0, "{}", m.stderr);
    assert_valid_junit(&m.junit_path());
    let jm = m.json();
    assert_eq!(jm["verdict"], "PASS");
    for key in ["declared", "discovered", "executed", "passed", "ignored"] {
        assert_eq!(
            jm["totals"][key], whole_json["totals"][key],
            "totals.{key} of the merge and of the unsharded run"
        );
    }
    for tier in ["1", "2", "3"] {
        assert_eq!(
            jm["tiers"][tier]["totals"]["declared"],
            whole_json["tiers"][tier]["totals"]["declared"]
        );
    }
    assert_eq!(jm["rates"], whole_json["rates"]);
    assert_eq!(names(&jm), names(&whole_json));
    assert_eq!(jm["merged"]["shards"], serde_json::json!([1, 2]));
    assert_eq!(jm["merged"]["missing"], serde_json::json!([]));
    assert_eq!(jm["gates"][0]["name"], "release");
    let junit = m.junit();
    for n in names(&whole_json) {
        let func = n.rsplit("::").next().unwrap();
        assert!(
            junit.contains(&format!("name=\"{func}\"")),
            "{func} in JUnit"
        );
    }
    assert!(
        m.stderr.contains("merged 2 of 2 hash shards: 1, 2"),
        "{}",
        m.stderr
    );
    let md = std::fs::read_to_string(summary.path()).unwrap();
    assert!(md.contains("## ✅ cargo tiered: PASS"), "{md}");
    assert!(md.contains("merged 2 of 2 hash shards"), "{md}");

    // A shard of another split of the suite does not merge with these.
    let c = run("passing", &["--partition", "hash:1/3"]);
    assert_eq!(c.code, 0, "{}", c.stderr);
    let m = merge(&[a.json_path(), c.json_path()], &[], &[]);
    assert_eq!(m.code, 2, "{}", m.stderr);
    assert!(
        m.stderr.contains(&a.json_path().display().to_string())
            && m.stderr.contains(&c.json_path().display().to_string())
            && m.stderr
                .contains("not shards of the same suite: one is a shard of 2, the other of 3"),
        "{}",
        m.stderr
    );
    assert!(m.stderr.contains("hint: "), "{}", m.stderr);
}

#[tiered::test(tier = 3, timeout = "15m")]
fn list_shows_one_slice_and_the_slices_cover_the_selection() {
    let mut all = BTreeSet::new();
    let mut sizes = Vec::new();
    for spec in ["slice:1/2", "slice:2/2"] {
        let r = run_plain("passing", &["list", "--json", "--partition", spec]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["partition"]["kind"], "slice");
        assert_eq!(v["partition"]["selected"], 7);
        let tests = v["tests"].as_array().unwrap();
        sizes.push(tests.len());
        for t in tests {
            assert!(all.insert(t["name"].as_str().unwrap().to_string()), "{t}");
        }
    }
    assert_eq!(sizes, [4, 3], "every other test of the sorted selection");
    assert_eq!(all.len(), 7);
    let r = run_plain("passing", &["list", "--partition", "slice:2/2"]);
    assert!(
        r.stdout
            .contains("3 tests (shard slice:2/2 of the 7 selected)"),
        "{}",
        r.stdout
    );
}

#[tiered::test(tier = 3, timeout = "15m")]
fn invalid_partitions_are_usage_errors_naming_the_value() {
    for spec in ["slice:0/3", "hash:4/3", "foo:1/2", "slice:1"] {
        let r = run_plain("passing", &["--partition", spec]);
        assert_eq!(r.code, 2, "{spec}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("invalid --partition `{spec}`"))
                && r.stderr.contains("slice:K/N and hash:K/N"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    }
}
