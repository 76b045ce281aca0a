use std::path::Path;

use tiered::config::{Config, GateSpec};
use tiered::gates::{builtin, evaluate, resolve, Evidence};
use tiered::rates::Counts;

fn counts(declared: u64, discovered: u64, executed: u64, passed: u64) -> Counts {
    Counts {
        declared,
        discovered,
        executed,
        passed,
        failed: executed - passed,
        ..Counts::default()
    }
}

#[tiered::test(tier = 1)]
fn builtin_gates_carry_the_phase_thresholds() {
    let g = builtin();
    let names: Vec<&str> = g.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["discovery", "integration", "release"]);
    assert_eq!(g[0].1.min_discovery_rate, Some(90.0));
    assert_eq!(g[1].1.min_execution_rate, Some(80.0));
    assert_eq!(g[1].1.services_operational, Some(true));
    assert_eq!(g[1].1.no_mocking, Some(true));
    assert_eq!(g[2].1.min_success_rate, Some(70.0));
    assert_eq!(g[2].1.sla_met, Some(true));
}

#[tiered::test(tier = 1)]
fn a_gate_passes_exactly_at_its_threshold() {
    let spec = GateSpec {
        min_discovery_rate: Some(90.0),
        ..GateSpec::default()
    };
    assert!(evaluate("d", &spec, &counts(10, 9, 9, 9), &Evidence::default()).passed);
    let r = evaluate("d", &spec, &counts(10, 8, 8, 8), &Evidence::default());
    assert!(!r.passed);
    assert_eq!(r.criteria[0].actual, Some(80.0));
    assert_eq!(r.criteria[0].required, 90.0);
}

#[tiered::test(tier = 1)]
fn unmeasured_criteria_fail() {
    let spec = GateSpec {
        min_success_rate: Some(0.0),
        ..GateSpec::default()
    };
    let r = evaluate("release", &spec, &Counts::default(), &Evidence::default());
    assert!(!r.passed, "no declared test must not pass a rate gate");
    assert_eq!(r.criteria[0].actual, None);
}

#[tiered::test(tier = 1)]
fn max_failed_counts_errors_too() {
    let spec = GateSpec {
        max_failed: Some(1),
        ..GateSpec::default()
    };
    let mut c = counts(4, 4, 3, 2);
    assert!(evaluate("g", &spec, &c, &Evidence::default()).passed);
    c.errors = 1;
    assert!(!evaluate("g", &spec, &c, &Evidence::default()).passed);
}

#[tiered::test(tier = 1)]
fn config_overrides_a_builtin_and_adds_new_gates() {
    let text = "[gates.release]\nmin_success_rate = 95\n\n[gates.strict]\nmax_failed = 0\n";
    let config = Config::parse(text, Path::new("tiered.toml")).unwrap();
    let gates = resolve(&config, &["release".into(), "strict".into()]).unwrap();
    assert_eq!(gates[0].1.min_success_rate, Some(95.0));
    assert_eq!(gates[1].1.max_failed, Some(0));
}

#[tiered::test(tier = 1)]
fn unknown_gate_lists_the_known_ones() {
    let err = resolve(&Config::default(), &["nightly".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown gate `nightly`; known gates: discovery, integration, release"
    );
}

#[tiered::test(tier = 1)]
fn services_and_mocking_criteria_use_the_evidence() {
    let spec = GateSpec {
        services_operational: Some(true),
        no_mocking: Some(true),
        ..GateSpec::default()
    };
    let c = counts(1, 1, 1, 1);
    let good = Evidence {
        services_needed: 2,
        services_up: 2,
        ..Evidence::default()
    };
    assert!(evaluate("i", &spec, &c, &good).passed);
    let down = Evidence {
        services_up: 1,
        ..good.clone()
    };
    let r = evaluate("i", &spec, &c, &down);
    assert!(!r.passed);
    assert_eq!(
        (r.criteria[0].required, r.criteria[0].actual),
        (2.0, Some(1.0))
    );
    let mocked = Evidence {
        mocking_findings: 1,
        ..good
    };
    let r = evaluate("i", &spec, &c, &mocked);
    assert_eq!(r.criteria[1].name, "no_mocking");
    assert!(!r.criteria[1].passed);
}
