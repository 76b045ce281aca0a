//! One measured session: every selected test runs (no early stop by
//! default), one queue over every binary, workers that capture each test's
//! output and survive nothing but their own test's crash, session values
//! built once per run.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{assert_valid_junit, run, run_env};

/// The marks the fixture's tests left: name → times in µs.
fn marks(dir: &Path) -> BTreeMap<String, Vec<u128>> {
    let text = std::fs::read_to_string(dir.join("marks")).unwrap_or_default();
    let mut out: BTreeMap<String, Vec<u128>> = BTreeMap::new();
    for line in text.lines() {
        let (what, at) = line.rsplit_once(' ').expect("a mark is `what time`");
        out.entry(what.to_string())
            .or_default()
            .push(at.parse().unwrap());
    }
    out
}

#[tiered::test(tier = 3, timeout = "15m")]
fn a_failing_unit_test_does_not_keep_the_integration_binary_from_running_or_the_gates_from_judging()
{
    let r = run(
        "measured",
        &[
            "--gate",
            "discovery",
            "--gate",
            "integration",
            "--gate",
            "release",
        ],
    );
    assert_eq!(
        r.code, 0,
        "every gate holds over the whole run:\n{}",
        r.stderr
    );
    let j = r.json();
    let rates = &j["rates"];
    let pct = |k: &str| (rates[k].as_f64().unwrap() * 10.0).round() / 10.0;
    assert_eq!(
        (pct("discovery"), pct("execution"), pct("success")),
        (91.3, 87.0, 78.3),
        "{}",
        r.stderr
    );
    let t = &j["totals"];
    assert_eq!(
        (
            t["declared"].as_u64(),
            t["discovered"].as_u64(),
            t["executed"].as_u64(),
            t["passed"].as_u64(),
            t["failed"].as_u64(),
        ),
        (Some(23), Some(21), Some(20), Some(18), Some(2))
    );
    assert!(j["gates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["passed"] == true));
    assert_eq!(r.test("stores_1")["outcome"], "passed");
    // Compiled out: declared, not discovered, said where (relative path).
    let out = r.test("compiled_out_a");
    assert_eq!(out["outcome"], "not_run");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .starts_with("declared at tests/tier2.rs:"),
        "{out}"
    );
    assert!(j.get("incomplete").is_none());
    assert!(r.stderr.contains("verdict: PASS"), "{}", r.stderr);
}

#[tiered::test(tier = 3, timeout = "15m")]
fn one_queue_over_five_binaries_runs_every_test_captures_each_and_survives_an_abort() {
    let marks_dir = tempfile::tempdir().unwrap();
    let dir = marks_dir.path().to_str().unwrap();
    let r = run_env(
        "scheduling",
        &["--tier", "all", "--test-threads", "4"],
        &[("FX_MARKS", dir), ("FX_ABORT", "1")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert_eq!(
        j["totals"]["not_run"], 0,
        "no test is left out:\n{}",
        r.stderr
    );
    assert_eq!(j["totals"]["declared"], 18);
    assert_eq!(j["totals"]["executed"], 18);
    assert_eq!(j["totals"]["failed"], 2, "{}", r.stderr);

    // Short tests of the other binaries ran while the long one did; none
    // waited for it.
    let m = marks(marks_dir.path());
    let (start, end) = (m["slow::start"][0], m["slow::end"][0]);
    let others: Vec<u128> = m
        .iter()
        .filter(|(k, _)| !k.starts_with("slow::") && !k.starts_with("stamp"))
        .filter(|(k, _)| !k.starts_with("serial::"))
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    let during = others.iter().filter(|&&t| t > start && t < end).count();
    let after = others.iter().filter(|&&t| t >= end).count();
    assert!(
        during >= 4 && after == 0,
        "{during} short tests ran during the 4 s one, {after} after it: {m:?}"
    );

    // A `serial` group's tests did not overlap; the isolated test had a
    // process of its own.
    let (a, b) = (
        (m["serial::a::start"][0], m["serial::a::end"][0]),
        (m["serial::b::start"][0], m["serial::b::end"][0]),
    );
    assert!(
        a.1 <= b.0 || b.1 <= a.0,
        "ledger_a {a:?} and ledger_b {b:?} overlap"
    );
    assert_eq!(r.test("in_a_process_of_its_own")["outcome"], "passed");

    // The session value two binaries take was built once, and both saw it.
    assert_eq!(m["stamp-built"].len(), 1, "{m:?}");
    let stamps: Vec<&String> = m.keys().filter(|k| k.contains("::stamp-by-")).collect();
    assert_eq!(stamps.len(), 2, "{m:?}");
    let by = |k: &str| k.rsplit_once('-').unwrap().1.to_string();
    assert_eq!(by(stamps[0]), by(stamps[1]), "one value for both: {m:?}");

    // A failing tier-1 test's prints are in its report, a passing one's
    // are on no terminal.
    let failed = r.test("fails_with_a_print");
    assert_eq!(failed["outcome"], "failed");
    assert!(failed["stdout"]
        .as_str()
        .unwrap()
        .contains("printed by the failing test"));
    assert!(failed["stderr"]
        .as_str()
        .unwrap()
        .contains("and a line on its stderr"));
    let xml = r.junit();
    let case = xml
        .split("<testcase ")
        .find(|c| c.contains("name=\"fails_with_a_print\""))
        .unwrap();
    assert!(
        case.contains("<system-out>") && case.contains("printed by the failing test"),
        "{case}"
    );
    assert!(
        !r.stderr.contains("printed by a passing test"),
        "{}",
        r.stderr
    );
    assert!(r.test("passes_with_a_print").get("stdout").is_none());

    // The aborting test fails alone, naming the signal, with its output.
    let aborted = r.test("aborts");
    assert_eq!(aborted["outcome"], "failed");
    let msg = aborted["message"].as_str().unwrap();
    assert!(msg.contains("signal: 6 (SIGABRT)"), "{msg}");
    assert!(aborted["stderr"]
        .as_str()
        .unwrap()
        .contains("about to abort"));
    for name in ["one", "two"] {
        let passed = j["tests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["binary"] == "short_c" && t["name"] == name)
            .all(|t| t["outcome"] == "passed");
        assert!(passed, "short_c::{name} ran on after the abort");
    }
    assert_valid_junit(&r.junit_path());
}

#[tiered::test(tier = 3, timeout = "15m")]
fn the_slowest_test_of_the_last_run_starts_first() {
    // A first run records the durations; the second, one test at a time,
    // starts with the one that took longest.
    let first = tempfile::tempdir().unwrap();
    let r = run_env(
        "scheduling",
        &["--tier", "all"],
        &[("FX_MARKS", first.path().to_str().unwrap())],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let second = tempfile::tempdir().unwrap();
    let r = run_env(
        "scheduling",
        &["--tier", "all", "-j", "1", "--success-output"],
        &[("FX_MARKS", second.path().to_str().unwrap())],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    // --success-output keeps (and shows) a passing test's output too.
    let passed = r.test("passes_with_a_print");
    assert!(passed["stdout"]
        .as_str()
        .unwrap()
        .contains("printed by a passing test"));
    assert!(
        r.stderr.contains("printed by a passing test"),
        "{}",
        r.stderr
    );
    assert!(r.junit().contains("printed by a passing test"));
    let m = marks(second.path());
    let slow = m["slow::start"][0];
    let earliest_other = m
        .iter()
        .filter(|(k, _)| !k.starts_with("slow::") && !k.starts_with("stamp"))
        .flat_map(|(_, v)| v)
        .min()
        .copied()
        .unwrap();
    assert!(slow < earliest_other, "the 4 s test started first: {m:?}");
}
