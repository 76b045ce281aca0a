use tiered::protocol::Outcome;
use tiered::rates::{percent, Counts};

#[tiered::test(tier = 1)]
fn rates_are_over_declared_tests() {
    let c = Counts {
        declared: 10,
        discovered: 9,
        executed: 8,
        passed: 7,
        ..Counts::default()
    };
    let r = c.rates();
    assert_eq!(r.discovery, Some(90.0));
    assert_eq!(r.execution, Some(80.0));
    assert_eq!(r.success, Some(70.0));
}

#[tiered::test(tier = 1)]
fn nothing_declared_is_not_measured_rather_than_perfect() {
    assert_eq!(Counts::default().rates().discovery, None);
    assert_eq!(percent(0, 0), None);
}

#[tiered::test(tier = 1)]
fn rates_round_to_two_decimals() {
    assert_eq!(percent(1, 3), Some(33.33));
    assert_eq!(percent(2, 3), Some(66.67));
    assert_eq!(percent(3, 3), Some(100.0));
}

#[tiered::test(tier = 1)]
fn recording_counts_only_verdicts_as_executed() {
    let mut c = Counts::default();
    for o in [
        Outcome::Passed,
        Outcome::Failed,
        Outcome::Error,
        Outcome::Ignored,
        Outcome::NotRun,
    ] {
        c.record(o);
    }
    assert_eq!((c.discovered, c.executed, c.passed, c.failed), (5, 2, 1, 1));
    assert_eq!((c.errors, c.ignored, c.not_run), (1, 1, 1));
}

#[tiered::test(tier = 1)]
fn counts_add_up_across_tiers() {
    let mut a = Counts {
        declared: 2,
        passed: 1,
        ..Counts::default()
    };
    a.add(&Counts {
        declared: 3,
        passed: 2,
        failed: 1,
        ..Counts::default()
    });
    assert_eq!((a.declared, a.passed, a.failed), (5, 3, 1));
}
