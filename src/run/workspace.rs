//! The workspace as cargo describes it: its test targets, their sources and
//! their dependencies (`cargo metadata --no-deps`).

use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, MetadataCommand, TargetKind};

use super::{CargoArgs, RunError};
use crate::config::Config;

/// A test target of the workspace.
#[derive(Debug, Clone)]
pub(crate) struct TestTarget {
    pub(crate) package: String,
    pub(crate) package_id: String,
    pub(crate) name: String,
    pub(crate) src_path: PathBuf,
    pub(crate) manifest_dir: PathBuf,
    /// (name in code, package name) of the package's dependencies.
    pub(crate) deps: Vec<(String, String)>,
}

pub(crate) struct Workspace {
    pub(crate) root: PathBuf,
    pub(crate) target_dir: PathBuf,
    pub(crate) targets: Vec<TestTarget>,
}

pub(crate) fn load_workspace(cargo: &CargoArgs) -> Result<Workspace, RunError> {
    let mut cmd = MetadataCommand::new();
    cmd.no_deps();
    if let Some(p) = &cargo.manifest_path {
        cmd.manifest_path(p);
    }
    let meta: Metadata = cmd.exec().map_err(|source| RunError::Metadata {
        manifest: cargo.manifest_path.clone(),
        source,
    })?;
    let root: PathBuf = meta.workspace_root.clone().into();
    let members = meta.workspace_packages();
    for name in &cargo.packages {
        if !members.iter().any(|p| p.name.as_str() == name) {
            return Err(RunError::UnknownPackage {
                name: name.clone(),
                root,
            });
        }
    }
    let selected: Vec<_> = if !cargo.packages.is_empty() {
        members
            .into_iter()
            .filter(|p| cargo.packages.iter().any(|n| n == p.name.as_str()))
            .collect()
    } else if cargo.workspace {
        members
            .into_iter()
            .filter(|p| !cargo.exclude.iter().any(|e| e == p.name.as_str()))
            .collect()
    } else if let Some(root_pkg) = meta.root_package() {
        vec![root_pkg]
    } else {
        meta.workspace_default_packages()
    };
    let mut targets = Vec::new();
    for p in selected {
        let manifest_dir = p
            .manifest_path
            .parent()
            .map(|d| d.as_std_path().to_path_buf())
            .unwrap_or_default();
        let deps: Vec<(String, String)> = p
            .dependencies
            .iter()
            .map(|d| {
                (
                    d.rename.clone().unwrap_or_else(|| d.name.clone()),
                    d.name.clone(),
                )
            })
            .collect();
        for t in &p.targets {
            if !t.kind.contains(&TargetKind::Test) {
                continue;
            }
            if !cargo.tests.is_empty() && !cargo.tests.contains(&t.name) {
                continue;
            }
            targets.push(TestTarget {
                package: p.name.to_string(),
                package_id: p.id.repr.clone(),
                name: t.name.clone(),
                src_path: t.src_path.clone().into(),
                manifest_dir: manifest_dir.clone(),
                deps: deps.clone(),
            });
        }
    }
    let target_dir = match &cargo.target_dir {
        Some(d) => std::path::absolute(d).unwrap_or_else(|_| d.clone()),
        None => meta.target_directory.clone().into(),
    };
    Ok(Workspace {
        root,
        target_dir,
        targets,
    })
}

impl Workspace {
    /// `path` as cargo prints it: relative to the workspace root when it is
    /// inside it, else whole.
    pub(crate) fn relative<'p>(&self, path: &'p Path) -> &'p Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }
}

/// Uses of mocking crates in the sources of targets with tier-2/3 tests,
/// each at its path relative to the workspace root.
pub(crate) fn mocking_findings(ws: &Workspace, config: &Config) -> Vec<crate::mocking::Finding> {
    let targets: Vec<crate::mocking::Target<'_>> = ws
        .targets
        .iter()
        .map(|t| crate::mocking::Target {
            name: &t.name,
            root: &t.src_path,
            deps: t.deps.clone(),
        })
        .collect();
    let mut findings = crate::mocking::check(&targets, &config.mocking);
    for f in &mut findings {
        f.file = ws.relative(&f.file).to_path_buf();
    }
    findings
}
