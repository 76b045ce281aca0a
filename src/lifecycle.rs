//! `cargo tiered services up | status | down | env`: services kept running
//! between runs for the inner loop.
//!
//! `up` starts what the workspace's tests need (or what `--service` names)
//! as a kept session — labelled, on 127.0.0.1, recorded in the state file
//! of [`crate::services::kept`] — and leaves it running. Later `cargo
//! tiered` runs and harness binaries run on their own find the file, prove
//! each service still answers, and reuse it; each test still gets a fresh
//! isolated slice. `status` shows each kept service's health, uptime, image
//! and port; `down` removes them (and anything else labelled for the
//! workspace); `env` prints the endpoint variables for tools that start
//! test processes themselves (a nextest setup script writing `NEXTEST_ENV`).

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::config::Config;
use crate::events::Sink;
use crate::run::{self, RunError, RunOptions};
use crate::services::docker::{self, KEPT_LABEL, SESSION_LABEL};
use crate::services::kept::{self, KeptState};
use crate::services::session::{self, Reuse, Session};
use crate::services::{ServiceKind, SESSION_ENV};

/// What `services up` did.
#[derive(Debug)]
pub struct Up {
    /// Every service asked for, with what happened.
    pub reports: Vec<crate::services::ServiceReport>,
    /// The state file.
    pub state: PathBuf,
    /// Whether every service is up.
    pub all_up: bool,
}

/// The services to keep: those named, else those the selected tests need.
fn wanted(opts: &RunOptions, only: &[ServiceKind]) -> Result<Vec<ServiceKind>, RunError> {
    if !only.is_empty() {
        return Ok(only.to_vec());
    }
    let listing = run::list(opts)?;
    let mut kinds: Vec<ServiceKind> = listing
        .tests
        .iter()
        .filter(|t| t.tier >= 2 && !t.ignored)
        .flat_map(|t| t.needs.iter())
        .filter_map(|n| ServiceKind::from_name(n))
        .collect();
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// `services up`: starts (or checks and reuses) the kept services.
pub fn up(opts: &RunOptions, only: &[ServiceKind], sink: &mut dyn Sink) -> Result<Up, RunError> {
    let ws = run::load_workspace(&opts.cargo)?;
    let config = Config::load(&ws.root)?;
    let kinds = wanted(opts, only)?;
    let state = kept::state_path(&ws.target_dir);
    if kinds.is_empty() {
        return Ok(Up {
            reports: Vec::new(),
            state,
            all_up: true,
        });
    }
    let rt = run::services_runtime()?;
    let reuse = Reuse {
        path: state.clone(),
        keep_new: true,
    };
    let session = rt.block_on(Session::provision_with(
        &kinds,
        &config,
        &ws.root,
        Some(&reuse),
        &mut |u| run::forward(u, sink),
    ));
    let reports = session.reports().to_vec();
    rt.block_on(session.teardown());
    Ok(Up {
        all_up: reports.iter().all(|r| r.ok),
        reports,
        state,
    })
}

/// One row of `services status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// `postgres`, …
    pub service: String,
    /// Container id (short).
    pub container: String,
    /// Image.
    pub image: String,
    /// Host port on 127.0.0.1.
    pub port: u16,
    /// Docker's view: `running`, `exited with code 137`, …
    pub state: String,
    /// Whether it answered a real query.
    pub healthy: bool,
    /// The answer (server version), or why there was none.
    pub health: String,
    /// Round-trip time of the check, in ms.
    pub check_ms: f64,
    /// Seconds since it was started.
    pub uptime_s: u64,
}

fn load_state(path: &std::path::Path) -> Result<Option<KeptState>, RunError> {
    kept::load(path).map_err(|message| RunError::Services {
        message,
        hint: "`cargo tiered services down` removes kept services and their state".into(),
    })
}

/// `services status`: each kept service's health, uptime, image and port.
/// `Ok(None)` when nothing is kept.
pub fn status(opts: &RunOptions) -> Result<Option<(PathBuf, Vec<Status>)>, RunError> {
    let ws = run::load_workspace(&opts.cargo)?;
    let path = kept::state_path(&ws.target_dir);
    let Some(state) = load_state(&path)? else {
        return Ok(None);
    };
    let rt = run::services_runtime()?;
    let rows = rt.block_on(async {
        let (docker, _) = docker::connect(session::DOCKER_PING_LIMIT).await?;
        let mut rows = Vec::new();
        for ks in &state.services {
            let begin = Instant::now();
            let (state_text, health) = match docker::inspect(&docker, &ks.container).await {
                Ok(st) => (
                    st.describe(),
                    session::check_kept(&docker, ks, &state.secret).await,
                ),
                Err(e) => (e.clone(), Err(e)),
            };
            rows.push(Status {
                service: ks.kind.name().into(),
                container: session::short(&ks.container).into(),
                image: ks.image.clone(),
                port: ks.port,
                state: state_text,
                healthy: health.is_ok(),
                health: health.unwrap_or_else(|e| e),
                check_ms: begin.elapsed().as_secs_f64() * 1000.0,
                uptime_s: kept::now().saturating_sub(ks.started_at),
            });
        }
        Ok::<_, RunError>(rows)
    })?;
    Ok(Some((path, rows)))
}

/// `services down`: removes the kept services; returns how many containers
/// were removed and whether there was a state file.
/// What `services down` removed.
#[derive(Debug, Default)]
pub struct Down {
    /// Kept containers removed.
    pub removed: usize,
    /// Whether a state file existed.
    pub had_state: bool,
    /// Containers of dead sessions removed on the way (see
    /// [`docker::reap_orphans`]).
    pub orphans: Vec<docker::Orphan>,
}

pub fn down(opts: &RunOptions) -> Result<Down, RunError> {
    let ws = run::load_workspace(&opts.cargo)?;
    let path = kept::state_path(&ws.target_dir);
    let state = kept::load(&path).ok().flatten();
    let rt = run::services_runtime()?;
    let removed = rt.block_on(async {
        let (docker, _) = docker::connect(session::DOCKER_PING_LIMIT).await?;
        let orphans = docker::reap_orphans(&docker).await;
        let mut ids: Vec<String> = Vec::new();
        if let Some(s) = &state {
            ids.extend(s.services.iter().map(|k| k.container.clone()));
            ids.extend(docker::labelled(&docker, SESSION_LABEL, &s.session).await);
        }
        ids.extend(docker::labelled(&docker, KEPT_LABEL, &ws.root.display().to_string()).await);
        ids.sort();
        ids.dedup();
        let mut removed = 0;
        for id in ids {
            if docker::remove(&docker, &id).await.is_ok() {
                removed += 1;
            }
        }
        Ok::<_, RunError>((removed, orphans))
    })?;
    let (removed, orphans) = removed;
    kept::forget(&path).map_err(|source| RunError::Io {
        what: format!("cannot remove the state file {}", path.display()),
        source,
    })?;
    Ok(Down {
        removed,
        had_state: state.is_some(),
        orphans,
    })
}

/// `services env`: `KEY=VALUE` lines that point test processes at the kept
/// services (the session variable included, so they start none of their own).
pub fn env(opts: &RunOptions) -> Result<Vec<(String, String)>, RunError> {
    let ws = run::load_workspace(&opts.cargo)?;
    let path = kept::state_path(&ws.target_dir);
    let state = load_state(&path)?.ok_or_else(|| RunError::Services {
        message: format!(
            "no services are kept for this workspace ({} does not exist)",
            path.display()
        ),
        hint: "start them with `cargo tiered services up`".into(),
    })?;
    let mut out = vec![(SESSION_ENV.to_string(), state.session.clone())];
    for ks in &state.services {
        out.extend(ks.env.iter().cloned());
    }
    Ok(out)
}

/// Formats seconds as `1h02m`, `3m05s` or `12s`.
pub fn uptime(d: u64) -> String {
    match d {
        0..=59 => format!("{d}s"),
        60..=3599 => format!("{}m{:02}s", d / 60, d % 60),
        _ => format!("{}h{:02}m", d / 3600, (d % 3600) / 60),
    }
}
