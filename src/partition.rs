//! CI sharding: which of the selected tests one machine runs, and what a
//! shard's report records so that `cargo tiered merge` can rebuild the
//! whole suite's numbers.
//!
//! A [`Partition`] is `slice:K/N` or `hash:K/N` (shard K of N, from 1).
//! Both split the *selected* tests — the declared ones too, so a test the
//! binaries do not list lowers the discovery of exactly one shard — by the
//! key `binary::name`:
//!
//! - `slice` sorts the keys (binary, then test name) and takes every N-th,
//!   starting at the K-th, as nextest does: shards differ in size by at most
//!   one, but adding a test moves the ones after it to other shards;
//! - `hash` takes the tests whose key hashes to K−1 modulo N: a test stays
//!   in its shard whatever else is added, at the price of uneven shards.
//!   The hash is [`key_hash`]: 64-bit FNV-1a followed by MurmurHash3's
//!   `fmix64` finalizer — fixed, published algorithms, not the standard
//!   library's randomly seeded hasher, so every machine and every release
//!   agrees. FNV-1a alone will not do: its low bits depend only on the low
//!   bits of the bytes (modulo 2 it is the parity of the odd bytes), so
//!   `hash:K/2` would split tests by the spelling of their names.
//!
//! A shard's JSON report counts its own share (declared, discovered,
//! executed, … of the tests that fall in it) and carries a [`ShardInfo`]:
//! the partition, the whole selection's declared and discovered counts per
//! tier, and every latency sample, so a merge takes declared and discovered
//! once, sums the rest, and recomputes percentiles exactly.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::perf::Sample;

/// How the tests are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionKind {
    /// Every N-th test of the sorted selection.
    Slice,
    /// The tests whose key hashes to the shard.
    Hash,
}

impl PartitionKind {
    /// `slice` or `hash`.
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionKind::Slice => "slice",
            PartitionKind::Hash => "hash",
        }
    }
}

/// Shard `index` of `count` (1 ≤ index ≤ count), split by `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// How the tests are split.
    pub kind: PartitionKind,
    /// This shard, from 1.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
}

/// A `--partition` value that is not `slice:K/N` or `hash:K/N` with
/// 1 ≤ K ≤ N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --partition `{spec}`: {reason}; accepted forms are slice:K/N and hash:K/N with 1 <= K <= N")]
pub struct PartitionError {
    /// The value given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

impl PartitionError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        "on N machines, pass --partition hash:1/N on the first, hash:2/N on the second, … hash:N/N on the last"
    }
}

impl FromStr for Partition {
    type Err = PartitionError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| PartitionError {
            spec: spec.to_string(),
            reason,
        };
        let Some((kind, shard)) = spec.split_once(':') else {
            return Err(err("expected KIND:K/N".into()));
        };
        let kind = match kind {
            "slice" => PartitionKind::Slice,
            "hash" => PartitionKind::Hash,
            other => return Err(err(format!("unknown kind `{other}`"))),
        };
        let Some((index, count)) = shard.split_once('/') else {
            return Err(err(format!("`{shard}` has no `/N` (the number of shards)")));
        };
        let number = |text: &str| {
            text.parse::<u32>()
                .map_err(|_| err(format!("`{text}` is not a whole number")))
        };
        let (index, count) = (number(index)?, number(count)?);
        if count == 0 {
            return Err(err("there must be at least one shard".into()));
        }
        if index == 0 {
            return Err(err("shards are numbered from 1".into()));
        }
        if index > count {
            return Err(err(format!(
                "there is no shard {index} when there are {count}"
            )));
        }
        Ok(Partition { kind, index, count })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.kind.as_str(), self.index, self.count)
    }
}

/// 64-bit FNV-1a: stable across machines, processes and releases.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// MurmurHash3's 64-bit finalizer: every input bit affects every output bit.
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The hash of a test's key `binary::name`: `fmix64(fnv1a64(key))`.
pub fn key_hash(binary: &str, name: &str) -> u64 {
    fmix64(fnv1a64(format!("{binary}::{name}").as_bytes()))
}

/// The shard (from 1) that `hash:_/count` puts the test `binary::name` in.
pub fn hash_shard(binary: &str, name: &str, count: u32) -> u32 {
    (key_hash(binary, name) % u64::from(count.max(1))) as u32 + 1
}

impl Partition {
    /// Which of `tests` — `(binary, name)` keys of the whole selection, in
    /// any order — this shard runs; the answer is aligned with `tests`.
    /// Every machine must pass the same set (its order does not matter).
    pub fn select(&self, tests: &[(&str, &str)]) -> Vec<bool> {
        match self.kind {
            PartitionKind::Hash => tests
                .iter()
                .map(|(b, n)| hash_shard(b, n, self.count) == self.index)
                .collect(),
            PartitionKind::Slice => {
                let mut order: Vec<usize> = (0..tests.len()).collect();
                order.sort_by(|&a, &b| tests[a].cmp(&tests[b]));
                let mut keep = vec![false; tests.len()];
                for (position, &i) in order.iter().enumerate() {
                    keep[i] = position as u64 % u64::from(self.count) == u64::from(self.index - 1);
                }
                keep
            }
        }
    }
}

/// Declared and discovered tests of one tier of the whole selection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteCounts {
    /// Declared tests of the selection, all shards together.
    pub declared: u64,
    /// Discovered tests of the selection, all shards together.
    pub discovered: u64,
}

/// Every latency one shard measured for one operation: what a merge needs
/// to recompute count, errors and the nearest-rank percentiles exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationSamples {
    /// The operation.
    pub operation: String,
    /// Each sample's duration, ms, to the microsecond.
    pub ms: Vec<f64>,
    /// How many of them failed.
    pub errors: usize,
}

/// What a shard's JSON report records under `partition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// `slice` or `hash`.
    pub kind: PartitionKind,
    /// This shard, from 1.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
    /// The whole selection's counts per tier, keyed "1", "2", "3": the same
    /// in every shard of a suite, taken once by a merge.
    pub suite: BTreeMap<String, SuiteCounts>,
    /// The latency samples of this shard's tests (service startups are
    /// rebuilt from `services`).
    #[serde(default)]
    pub samples: Vec<OperationSamples>,
}

impl ShardInfo {
    /// The partition this shard ran.
    pub fn partition(&self) -> Partition {
        Partition {
            kind: self.kind,
            index: self.index,
            count: self.count,
        }
    }
}

/// What a merged report records under `merged`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedShards {
    /// `slice` or `hash`.
    pub kind: PartitionKind,
    /// How many shards the suite was split into.
    pub count: u32,
    /// The shards merged, ascending.
    pub shards: Vec<u32>,
    /// The shards not given: their tests count as declared and not executed,
    /// and the verdict is FAIL.
    pub missing: Vec<u32>,
}

/// Groups samples by operation, durations rounded to the microsecond.
pub fn group_samples(samples: &[Sample]) -> Vec<OperationSamples> {
    let mut by_op: BTreeMap<&str, OperationSamples> = BTreeMap::new();
    for s in samples {
        let o = by_op
            .entry(s.op.as_str())
            .or_insert_with(|| OperationSamples {
                operation: s.op.clone(),
                ms: Vec::new(),
                errors: 0,
            });
        o.ms.push((s.ms * 1000.0).round() / 1000.0);
        o.errors += usize::from(s.error);
    }
    by_op.into_values().collect()
}

/// The samples [`group_samples`] grouped (which ones failed is not kept:
/// only how many, which is all the statistics use).
pub fn ungroup_samples(groups: &[OperationSamples]) -> Vec<Sample> {
    groups
        .iter()
        .flat_map(|g| {
            g.ms.iter().enumerate().map(|(i, &ms)| Sample {
                op: g.operation.clone(),
                ms,
                error: i < g.errors,
            })
        })
        .collect()
}
