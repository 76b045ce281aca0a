//! NO MOCKING: tiers 2 and 3 run against real services, so a mocking crate
//! used by their tests is a finding.
//!
//! [`check`] reads which mocking crates each package can reach from its
//! dev-dependencies (`cargo metadata`, renames included), then parses the
//! sources of every test target that declares tier-2 or tier-3 tests (syn)
//! and reports each use of one — `use`, a path, a macro, an attribute,
//! `extern crate` — as `file:line` with the crate. Files whose tests are all
//! tier 1 may mock. A crate can be allowed in `[mocking.allow]` with a
//! written reason; allowed uses are still reported, marked allowed.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use syn::visit::Visit;

use crate::config::MockingConfig;
use crate::scan;

/// Mocking crates looked for unless configured otherwise.
pub const BUILTIN: [&str; 8] = [
    "mockall", "mockito", "wiremock", "httpmock", "faux", "mockers", "unimock", "mry",
];

/// One use of a mocking crate in tier-2/3 test sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The mocking crate (its package name).
    #[serde(rename = "crate")]
    pub krate: String,
    /// The file.
    pub file: PathBuf,
    /// The line.
    pub line: usize,
    /// The test target.
    pub target: String,
    /// The reason it is allowed, when `[mocking.allow]` allows it.
    pub allowed: Option<String>,
}

impl Finding {
    /// `file:line: uses mockall`.
    pub fn describe(&self) -> String {
        match &self.allowed {
            None => format!(
                "{}:{}: uses the mocking crate `{}` in tier 2-3 tests",
                self.file.display(),
                self.line,
                self.krate
            ),
            Some(r) => format!(
                "{}:{}: uses `{}` (allowed: {r})",
                self.file.display(),
                self.line,
                self.krate
            ),
        }
    }
}

/// A test target to check: its root file and the package's dev-dependencies
/// as (name used in code, package name).
pub struct Target<'a> {
    /// Target name.
    pub name: &'a str,
    /// Crate root file.
    pub root: &'a Path,
    /// (name in code, package name) of every dependency of the package.
    pub deps: Vec<(String, String)>,
}

/// The crates considered mocking crates under this configuration.
pub fn mocking_crates(config: &MockingConfig) -> Vec<String> {
    let mut v: Vec<String> = BUILTIN.iter().map(|s| s.to_string()).collect();
    v.extend(config.crates.iter().cloned());
    v
}

/// Finds every use of a mocking crate in the tier-2/3 sources of `targets`.
pub fn check(targets: &[Target<'_>], config: &MockingConfig) -> Vec<Finding> {
    let crates = mocking_crates(config);
    let mut findings = Vec::new();
    for t in targets {
        // Names by which code refers to a mocking crate: its own name, and
        // any rename in Cargo.toml.
        let mut names: BTreeMap<String, String> = crates
            .iter()
            .map(|c| (c.replace('-', "_"), c.clone()))
            .collect();
        for (used, package) in &t.deps {
            if crates.contains(package) {
                names.insert(used.replace('-', "_"), package.clone());
            }
        }
        let scanned = scan::scan_target(t.root);
        if !scanned.tests.iter().any(|d| d.tier.is_some_and(|x| x >= 2)) {
            continue;
        }
        // Files that declare only tier-1 tests may mock.
        let mut tier1_only: HashSet<PathBuf> = HashSet::new();
        let mut with_upper: HashSet<PathBuf> = HashSet::new();
        for d in &scanned.tests {
            if d.tier.is_some_and(|x| x >= 2) {
                with_upper.insert(d.file.clone());
            } else {
                tier1_only.insert(d.file.clone());
            }
        }
        for file in scanned.files.clone() {
            if tier1_only.contains(&file) && !with_upper.contains(&file) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let Ok(ast) = syn::parse_file(&text) else {
                continue;
            };
            let mut v = Uses {
                names: &names,
                found: Vec::new(),
            };
            v.visit_file(&ast);
            for (krate, line) in v.found {
                findings.push(Finding {
                    allowed: config.allow.get(&krate).cloned(),
                    krate,
                    file: file.clone(),
                    line,
                    target: t.name.to_string(),
                });
            }
        }
    }
    findings.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    findings.dedup();
    findings
}

struct Uses<'n> {
    names: &'n BTreeMap<String, String>,
    found: Vec<(String, usize)>,
}

impl Uses<'_> {
    fn hit(&mut self, ident: &proc_macro2::Ident) {
        if let Some(krate) = self.names.get(&ident.to_string()) {
            let line = ident.span().start().line;
            if !self.found.iter().any(|(k, l)| k == krate && *l == line) {
                self.found.push((krate.clone(), line));
            }
        }
    }
}

impl<'ast> Visit<'ast> for Uses<'_> {
    fn visit_path(&mut self, p: &'ast syn::Path) {
        if let Some(first) = p.segments.first() {
            self.hit(&first.ident);
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_use_path(&mut self, u: &'ast syn::UsePath) {
        self.hit(&u.ident);
        syn::visit::visit_use_path(self, u);
    }

    fn visit_use_name(&mut self, u: &'ast syn::UseName) {
        self.hit(&u.ident);
    }

    fn visit_item_extern_crate(&mut self, e: &'ast syn::ItemExternCrate) {
        self.hit(&e.ident);
        syn::visit::visit_item_extern_crate(self, e);
    }
}
