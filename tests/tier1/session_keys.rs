//! A session value's key: the type's path with the test's own crate
//! written `crate::`, so a type from a module that several test binaries
//! include is one value per run.

use tiered::fixture::{session_env_key, session_key};

#[tiered::test(tier = 1)]
fn the_tests_own_crate_is_written_crate() {
    assert_eq!(
        session_key("tier2::common::Pricing", "tier2"),
        "crate::common::Pricing"
    );
    assert_eq!(
        session_key("tier2::common::Pricing", "tier2"),
        session_key("tier3::common::Pricing", "tier3"),
        "one key for a module both binaries include"
    );
}

#[tiered::test(tier = 1)]
fn other_crates_and_lookalikes_are_left_alone() {
    assert_eq!(session_key("shared::Pricing", "tier2"), "shared::Pricing");
    assert_eq!(session_key("mytier2::Pricing", "tier2"), "mytier2::Pricing");
    assert_eq!(
        session_key("alloc::vec::Vec<tier2::X>", "tier2"),
        "alloc::vec::Vec<crate::X>"
    );
    assert_eq!(session_key("tier2::X", ""), "tier2::X");
}

#[tiered::test(tier = 1)]
fn the_variable_is_the_key_in_capitals() {
    assert_eq!(
        session_env_key("crate::common::Pricing"),
        "TIERED_SESSION_FIXTURE_CRATE__COMMON__PRICING"
    );
}
