//! `cargo tiered doctor`: can this machine run tiers 2 and 3?
//!
//! The connection validation a team runs before blaming its tests: is
//! Docker reachable (and which version), is `tiered.toml` valid, is each
//! configured image present, does each service start and answer a real
//! query, and how long did that take against its startup SLA. Every check
//! is a [`Check`]; a failed one carries a one-line fix. The services are
//! started exactly as a session starts them (together, labelled, on
//! 127.0.0.1) and removed afterwards.

use serde::Serialize;

use crate::config::Config;
use crate::events::Sink;
use crate::run::{self, RunError, RunOptions};
use crate::services::docker;
use crate::services::session::{self, image_for, Session};
use crate::services::ServiceKind;

/// One check and its result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked (`docker`, `config`, `image postgres`, `postgres`).
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it, when it failed.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs every check for `services` (all four when empty).
pub fn run(
    opts: &RunOptions,
    services: &[ServiceKind],
    sink: &mut dyn Sink,
) -> Result<Vec<Check>, RunError> {
    let kinds: Vec<ServiceKind> = if services.is_empty() {
        ServiceKind::ALL.to_vec()
    } else {
        services.to_vec()
    };
    let ws = run::load_workspace(&opts.cargo)?;
    let mut checks = Vec::new();
    let config = match Config::load(&ws.root) {
        Ok(c) => {
            checks.push(Check::pass(
                "config",
                match config_file(&ws.root) {
                    Some(p) => format!("{} is valid", p.display()),
                    None => "no tiered.toml; the defaults apply".into(),
                },
            ));
            c
        }
        Err(e) => {
            checks.push(Check::fail("config", e.to_string(), e.hint()));
            return Ok(checks);
        }
    };
    let rt = run::services_runtime()?;
    let docker = match rt.block_on(docker::connect(session::DOCKER_PING_LIMIT)) {
        Ok((d, version)) => {
            checks.push(Check::pass(
                "docker",
                format!("Docker {version} answers at {}", docker::location()),
            ));
            d
        }
        Err(e) => {
            checks.push(Check::fail("docker", e.to_string(), e.hint()));
            return Ok(checks);
        }
    };
    let mut startable = Vec::new();
    let mut absent = Vec::new();
    for &kind in &kinds {
        let image = image_for(kind, &config);
        if rt.block_on(docker::image_present(&docker, &image)) {
            checks.push(Check::pass(
                format!("image {}", kind.name()),
                format!("{image} is present"),
            ));
        } else {
            absent.push(kind.name());
            checks.push(Check::fail(
                format!("image {}", kind.name()),
                format!("{image} is not present locally (a start will try to pull it)"),
                format!(
                    "`docker pull {image}` where a registry is reachable, build it locally, or set `[services.{}] image` in tiered.toml or {}",
                    kind.name(),
                    kind.image_env()
                ),
            ));
        }
        startable.push(kind);
    }
    let session = rt.block_on(Session::provision_with(
        &startable,
        &config,
        &ws.root,
        None,
        &mut |u| run::forward(u, sink),
    ));
    for r in session.reports() {
        let name = r.name.clone();
        let check = match &r.error {
            None if r.within_sla => Check::pass(
                name,
                format!(
                    "answered in {:.2}s ({}) — startup SLA {:.0}s met",
                    r.startup_ms / 1000.0,
                    r.version.as_deref().unwrap_or("version unknown"),
                    r.sla_ms / 1000.0
                ),
            ),
            None => Check::fail(
                name,
                format!(
                    "answered in {:.2}s, over its startup SLA of {:.0}s",
                    r.startup_ms / 1000.0,
                    r.sla_ms / 1000.0
                ),
                "give Docker more CPU or memory, or check `docker stats` for a busy machine",
            ),
            Some(e) if absent.contains(&r.name.as_str()) => Check::fail(
                name.clone(),
                e.clone(),
                format!("provide the image first (see `image {name}` above)"),
            ),
            Some(e) => Check::fail(
                name,
                e.clone(),
                "the reason is above; start the image by hand (`docker run --rm IMAGE`) to see its log",
            ),
        };
        checks.push(check);
    }
    rt.block_on(session.teardown());
    Ok(checks)
}

fn config_file(root: &std::path::Path) -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os(crate::config::CONFIG_ENV) {
        return Some(p.into());
    }
    [
        root.join("tiered.toml"),
        root.join(".config").join("tiered.toml"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}
