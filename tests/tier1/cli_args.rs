use tiered::harness::split_tier_args;
use tiered::{Tier, TierSet};

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tiered::test(tier = 1)]
fn tier_sets_parse_lists_and_all() {
    let s: TierSet = "1,3".parse().unwrap();
    assert!(s.contains(Tier::new(1).unwrap()) && !s.contains(Tier::new(2).unwrap()));
    assert_eq!("all".parse::<TierSet>().unwrap(), TierSet::ALL);
    assert_eq!(TierSet::default().or_all(), TierSet::ALL);
    assert_eq!(s.to_string(), "1,3");
}

#[tiered::test(tier = 1)]
fn unknown_tiers_are_rejected_with_the_choices() {
    let e = "4".parse::<TierSet>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown tier `4`: use 1, 2, 3, a list such as 1,2, or all"
    );
    assert!("one".parse::<TierSet>().is_err());
}

#[tiered::test(tier = 1)]
fn the_harness_takes_tier_out_of_libtest_arguments() {
    let (tiers, rest) = split_tier_args(args(&[
        "bin", "--tier", "2", "filter", "--tier=3", "--exact",
    ]))
    .unwrap();
    assert_eq!(tiers.to_string(), "2,3");
    assert_eq!(rest, args(&["bin", "filter", "--exact"]));
    let (tiers, _) = split_tier_args(args(&["bin"])).unwrap();
    assert_eq!(tiers, TierSet::ALL);
    assert!(split_tier_args(args(&["bin", "--tier"])).is_err());
    assert!(split_tier_args(args(&["bin", "--tier", "9"])).is_err());
}

#[tiered::test(tier = 1)]
fn this_binary_carries_the_harness_marker() {
    let exe = std::env::current_exe().unwrap();
    let bytes = std::fs::read(exe).unwrap();
    let marker = tiered::protocol::marker();
    assert!(bytes.windows(marker.len()).any(|w| w == marker.as_slice()));
}

#[tiered::test(tier = 1)]
fn durations_parse_with_units_and_reject_nonsense() {
    use std::time::Duration;
    assert_eq!(
        tiered::duration::parse("500ms"),
        Ok(Duration::from_millis(500))
    );
    assert_eq!(tiered::duration::parse("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(tiered::duration::parse("2m"), Ok(Duration::from_secs(120)));
    let e = tiered::duration::parse("5 parsecs").unwrap_err();
    assert!(e.contains("unknown unit `parsecs`"), "{e}");
}
