//! `cargo tiered list`: every discovered test of the selection, with its
//! tier, binary, tags and needs.

use super::plan::{harness_arguments, plan};
use super::{build, load_workspace, RunError, RunOptions};
use crate::config::Config;
use crate::partition::Partition;
use crate::report::BuildFailure;

/// One line of `cargo tiered list --json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ListEntry {
    /// libtest-style name.
    pub name: String,
    /// Test target.
    pub binary: String,
    /// Package.
    pub package: String,
    /// Tier.
    pub tier: u8,
    /// Tags.
    pub tags: Vec<String>,
    /// Services needed.
    pub needs: Vec<String>,
    /// Marked ignore.
    pub ignored: bool,
    /// Declaring file and line.
    pub location: String,
}

/// The listing `cargo tiered list` prints.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Listing {
    /// Every discovered test in the selected tiers.
    pub tests: Vec<ListEntry>,
    /// Targets that did not build.
    pub build_failures: Vec<BuildFailure>,
    /// The shard listed (`--partition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<ListedShard>,
}

/// The shard `cargo tiered list --partition` shows.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ListedShard {
    /// The partition.
    #[serde(flatten)]
    pub partition: Partition,
    /// Discovered tests of the whole selection, all shards together.
    pub selected: usize,
}

/// Builds and lists every discovered test.
pub fn list(opts: &RunOptions) -> Result<Listing, RunError> {
    let args = harness_arguments(&opts.harness_args)?;
    let ws = load_workspace(&opts.cargo)?;
    Config::load(&ws.root)?;
    let tiers = opts.tiers.or_all();
    let built = build::build(&ws, &opts.cargo)?;
    let mut plan = plan(&ws, built, tiers, &args)?;
    let selected = plan.tests.len();
    if let Some(p) = &opts.partition {
        plan.partition(p);
    }
    let tests = plan
        .tests
        .iter()
        .map(|t| {
            let target = &plan.binaries[t.binary].target;
            let l = &t.listed;
            ListEntry {
                name: l.name.clone(),
                binary: target.name.clone(),
                package: target.package.clone(),
                tier: l.tier,
                tags: l.tags.clone(),
                needs: l.needs.clone(),
                ignored: l.ignored,
                location: format!("{}:{}", l.file, l.line),
            }
        })
        .collect();
    Ok(Listing {
        tests,
        build_failures: plan.failures,
        partition: opts.partition.map(|partition| ListedShard {
            partition,
            selected,
        }),
    })
}
