//! Tiers and sets of tiers, as written on the command line (`--tier 1,2`,
//! `--tier all`) and in reports (`"1"`, `"2"`, `"3"`).
//!
//! [`Tier`] is a validated number 1–3; [`TierSet`] a small bit set so that a
//! selection costs nothing to copy and test.

use std::fmt;
use std::str::FromStr;

/// One of the three tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tier(u8);

impl Tier {
    /// Every tier, in order.
    pub const ALL: [Tier; 3] = [Tier(1), Tier(2), Tier(3)];

    /// The tier with this number, if it is 1, 2 or 3.
    pub fn new(n: u8) -> Option<Tier> {
        (1..=3).contains(&n).then_some(Tier(n))
    }

    /// The tier's number.
    pub fn get(self) -> u8 {
        self.0
    }

    /// Tiers 2 and 3 use real services and may not mock them.
    pub fn uses_services(self) -> bool {
        self.0 >= 2
    }

    /// A human name: unit, integration or end-to-end.
    pub fn label(self) -> &'static str {
        match self.0 {
            1 => "unit",
            2 => "integration",
            _ => "end-to-end",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A set of tiers; empty means "none selected yet" and [`TierSet::or_all`]
/// turns it into every tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TierSet(u8);

impl TierSet {
    /// Every tier.
    pub const ALL: TierSet = TierSet(0b1110);

    /// Adds a tier.
    pub fn insert(&mut self, tier: Tier) {
        self.0 |= 1 << tier.0;
    }

    /// Whether the tier is in the set.
    pub fn contains(self, tier: Tier) -> bool {
        self.0 & (1 << tier.0) != 0
    }

    /// Whether no tier is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set itself, or every tier when it is empty.
    pub fn or_all(self) -> TierSet {
        if self.is_empty() {
            TierSet::ALL
        } else {
            self
        }
    }

    /// The tiers in the set, in order.
    pub fn iter(self) -> impl Iterator<Item = Tier> {
        Tier::ALL.into_iter().filter(move |t| self.contains(*t))
    }

    /// Adds every tier named in `spec` (`"1"`, `"2,3"`, `"all"`).
    pub fn parse_into(&mut self, spec: &str) -> Result<(), TierParseError> {
        for part in spec.split(',').map(str::trim) {
            if part.eq_ignore_ascii_case("all") {
                *self = TierSet::ALL;
                continue;
            }
            let tier = part
                .parse::<u8>()
                .ok()
                .and_then(Tier::new)
                .ok_or_else(|| TierParseError(part.to_string()))?;
            self.insert(tier);
        }
        Ok(())
    }
}

impl FromStr for TierSet {
    type Err = TierParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = TierSet::default();
        set.parse_into(s)?;
        Ok(set)
    }
}

impl fmt::Display for TierSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.iter().map(|t| t.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// A tier that is not 1, 2, 3 or `all`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier `{0}`: use 1, 2, 3, a list such as 1,2, or all")]
pub struct TierParseError(pub String);

/// How a test is isolated from the tests before and after it under
/// `cargo tiered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// In a long-lived worker process that runs many tests, one at a time.
    #[default]
    Worker,
    /// In a fresh process of its own, ended after it.
    Process,
}

impl Isolation {
    /// `worker` or `process`.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Worker => "worker",
            Isolation::Process => "process",
        }
    }
}
