//! The session: the services one run needs, started once, concurrently, and
//! removed afterwards.
//!
//! [`Session::provision`] first asks Docker whether it is there at all (a few
//! seconds, not the client's two minutes), then starts every needed service
//! at once. Each start is timed from the request to the first real round
//! trip (a query, not a log line) and judged against the service's startup
//! SLA. Containers carry the session's labels, publish on 127.0.0.1 only and
//! use a password made for this session. [`Session::teardown`] removes them
//! explicitly and in parallel — statics are never dropped and `exit()` skips
//! `Drop` — and then sweeps Docker for anything else labelled with the
//! session, so a container created while teardown ran cannot escape.
//!
//! A session hands test processes its endpoints as environment variables
//! ([`Session::env`]); a service it could not provide is named there too,
//! with the reason, so those tests become errors rather than skips.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testcontainers::bollard::Docker;

use super::container::{StartCtx, Started};
use super::docker::{self, SESSION_LABEL};
use super::kept::{self, KeptService, KeptState};
use super::{ServiceKind, ServiceReport, SESSION_ENV};
use crate::config::Config;

/// The services of one run.
pub struct Session {
    id: String,
    secret: String,
    docker: Option<Docker>,
    docker_version: Option<String>,
    started: Vec<Started>,
    /// Endpoints of kept services this session uses but does not own.
    kept_env: Vec<(String, String)>,
    kept: Option<KeptState>,
    reports: Vec<ServiceReport>,
    errors: Vec<(ServiceKind, String)>,
    /// Background work for the session (PostgreSQL's spare databases).
    background: Vec<tokio::task::AbortHandle>,
}

/// What provisioning reports as it goes.
#[derive(Debug)]
pub enum Update<'a> {
    /// A service is being started, or a kept one checked.
    Starting {
        /// Which.
        kind: ServiceKind,
        /// Its image.
        image: &'a str,
    },
    /// A service is ready, or failed.
    Ready(&'a ServiceReport),
    /// Something the user should know (a kept service replaced, …).
    Note(String),
}

/// Where kept services are recorded, and whether to keep new ones.
#[derive(Debug, Clone)]
pub struct Reuse {
    /// The state file.
    pub path: PathBuf,
    /// Start missing services as kept ones too (`services up`); otherwise
    /// they belong to the session and are removed with it.
    pub keep_new: bool,
}

/// How long to wait for Docker to answer before declaring it unreachable.
pub const DOCKER_PING_LIMIT: Duration = Duration::from_secs(5);

impl Session {
    /// Starts the `needed` services, concurrently. Never fails as a whole:
    /// a service that cannot be provided is reported, with the reason.
    pub async fn provision(needed: &[ServiceKind], config: &Config, root: &Path) -> Session {
        Session::provision_with(needed, config, root, None, &mut |_| {}).await
    }

    /// Like [`Session::provision`], reusing the kept services recorded at
    /// `reuse` (after a real round trip proves each still answers; a dead
    /// one is replaced, with a note) and telling `on` what happens.
    pub async fn provision_with(
        needed: &[ServiceKind],
        config: &Config,
        root: &Path,
        reuse: Option<&Reuse>,
        on: &mut dyn FnMut(Update<'_>),
    ) -> Session {
        let token = super::random_token();
        let mut session = Session {
            id: format!("s{}", &token[..12]),
            secret: super::random_token(),
            docker: None,
            docker_version: None,
            started: Vec::new(),
            kept_env: Vec::new(),
            kept: None,
            reports: Vec::new(),
            errors: Vec::new(),
            background: Vec::new(),
        };
        let mut needed = needed.to_vec();
        needed.sort();
        needed.dedup();
        if needed.is_empty() {
            return session;
        }
        let (docker, version) = match docker::connect(DOCKER_PING_LIMIT).await {
            Ok(v) => v,
            Err(e) => {
                let msg = format!("{e}; hint: {}", e.hint());
                for kind in needed {
                    session.fail(kind, image_for(kind, config), msg.clone(), 0.0);
                    if let Some(r) = session.reports.last() {
                        on(Update::Ready(r));
                    }
                }
                return session;
            }
        };
        // Containers of sessions whose owner died (SIGKILL, a crash) go first.
        let reaped = docker::reap_orphans(&docker).await;
        if let Some(line) = docker::describe_orphans(&reaped) {
            on(Update::Note(format!("services: {line}")));
        }
        let (migrations, fixtures) = super::postgres_settings(config, root);
        if let Some(r) = reuse {
            match kept::load(&r.path) {
                Ok(k) => session.kept = k,
                Err(e) => on(Update::Note(format!("warning: {e}"))),
            }
            if session.kept.is_none() && r.keep_new {
                session.kept = Some(KeptState::new(root));
            }
        }
        let mut changed = false;
        let mut to_start: Vec<(ServiceKind, bool)> = Vec::new();
        for &kind in &needed {
            let Some(ks) = session.kept.as_ref().and_then(|k| k.service(kind)).cloned() else {
                to_start.push((kind, reuse.is_some_and(|r| r.keep_new)));
                continue;
            };
            on(Update::Starting {
                kind,
                image: &ks.image,
            });
            let secret = session
                .kept
                .as_ref()
                .map(|k| k.secret.clone())
                .unwrap_or_default();
            let begin = Instant::now();
            match check_kept(&docker, &ks, &secret).await {
                Ok(version) => {
                    if kind == ServiceKind::Postgres {
                        if let Some(url) = lookup(&ks.env, kind.url_env()) {
                            match refresh_template(url, &migrations, &fixtures).await {
                                Ok(true) => on(Update::Note(format!(
                                    "    SERVICE {:<8} migrations or SQL fixtures changed: rebuilt the template database of the kept server",
                                    kind.name()
                                ))),
                                Ok(false) => {}
                                Err(e) => on(Update::Note(format!(
                                    "warning: could not check the kept PostgreSQL's template database: {}",
                                    super::redact(&e, std::slice::from_ref(&secret))
                                ))),
                            }
                        }
                    }
                    session.reports.push(ServiceReport {
                        name: kind.name().into(),
                        image: ks.image.clone(),
                        version: Some(version),
                        startup_ms: begin.elapsed().as_secs_f64() * 1000.0,
                        sla_ms: kind.startup_sla().as_secs_f64() * 1000.0,
                        within_sla: true,
                        ok: true,
                        error: None,
                        endpoint: ks.endpoint.clone(),
                        reused: true,
                    });
                    session.kept_env.extend(ks.env.iter().cloned());
                    if let Some(r) = session.reports.last() {
                        on(Update::Ready(r));
                    }
                }
                Err(why) => {
                    on(Update::Note(format!(
                        "    SERVICE {:<8} the kept container {} {why}; starting a replacement",
                        kind.name(),
                        short(&ks.container)
                    )));
                    let _ = docker::remove(&docker, &ks.container).await;
                    to_start.push((kind, true));
                    changed = true;
                }
            }
        }
        session.docker = Some(docker);
        session.docker_version = Some(version);
        let mut set = tokio::task::JoinSet::new();
        for (kind, as_kept) in to_start {
            let (sid, secret, owner, kept_for) = match (&session.kept, as_kept) {
                (Some(k), true) => (
                    k.session.clone(),
                    k.secret.clone(),
                    "kept".to_string(),
                    Some(k.workspace.display().to_string()),
                ),
                _ => (
                    session.id.clone(),
                    session.secret.clone(),
                    std::process::id().to_string(),
                    None,
                ),
            };
            let ctx = StartCtx {
                kind,
                image: image_for(kind, config),
                session: sid,
                secret,
                owner,
                kept_for,
                deadline: Instant::now() + kind.startup_sla(),
                sla: kind.startup_sla(),
                postgres_migrations: migrations.clone(),
                postgres_fixtures: fixtures.clone(),
                postgres_tmpfs: config
                    .services
                    .get("postgres")
                    .and_then(|s| s.tmpfs)
                    .unwrap_or(true),
            };
            on(Update::Starting {
                kind,
                image: &ctx.image,
            });
            let as_kept = ctx.kept_for.is_some();
            set.spawn(async move {
                let begin = Instant::now();
                let result = tokio::time::timeout(
                    kind.startup_sla() + Duration::from_secs(5),
                    start(kind, &ctx),
                )
                .await
                .unwrap_or_else(|_| Err("not ready within its startup SLA".into()));
                (kind, ctx.image, result, begin.elapsed(), as_kept)
            });
        }
        while let Some(joined) = set.join_next().await {
            let Ok((kind, image, result, took, as_kept)) = joined else {
                continue;
            };
            let ms = took.as_secs_f64() * 1000.0;
            match result {
                Ok(started) => {
                    session.reports.push(ServiceReport {
                        name: kind.name().into(),
                        image: image.clone(),
                        version: started.version.clone(),
                        startup_ms: ms,
                        sla_ms: kind.startup_sla().as_secs_f64() * 1000.0,
                        within_sla: took <= kind.startup_sla(),
                        ok: true,
                        error: None,
                        endpoint: started.endpoint.clone(),
                        reused: false,
                    });
                    match (&mut session.kept, as_kept) {
                        (Some(k), true) => {
                            k.put(KeptService {
                                kind,
                                container: started.id.clone(),
                                image,
                                port: started.port,
                                version: started.version.clone(),
                                endpoint: started.endpoint.clone(),
                                env: started.env.clone(),
                                started_at: kept::now(),
                                startup_ms: ms,
                            });
                            session.kept_env.extend(started.env.iter().cloned());
                            started.detach();
                            changed = true;
                        }
                        _ => session.started.push(started),
                    }
                }
                Err(e) => session.fail(kind, image, e, ms),
            }
            if let Some(r) = session.reports.last() {
                on(Update::Ready(r));
            }
        }
        if changed {
            if let (Some(r), Some(k)) = (reuse, &session.kept) {
                if let Err(e) = kept::save(&r.path, k) {
                    on(Update::Note(format!(
                        "warning: cannot record the kept services in {}: {e}; remove them with `docker rm -f $(docker ps -aq --filter label={SESSION_LABEL}={})`",
                        r.path.display(),
                        k.session
                    )));
                }
            }
        }
        session.reports.sort_by(|a, b| a.name.cmp(&b.name));
        session.start_background();
        session
    }

    /// Starts what runs beside the tests: spare PostgreSQL databases.
    fn start_background(&mut self) {
        #[cfg(feature = "postgres")]
        if let Some(url) = lookup(&self.env(), ServiceKind::Postgres.url_env()) {
            let spares = std::thread::available_parallelism()
                .map(|n| n.get() * 2)
                .unwrap_or(4)
                .clamp(4, 16);
            let task = tokio::spawn(super::postgres::keep_spares(url.to_string(), spares));
            self.background.push(task.abort_handle());
        }
    }

    /// Checks that every service that came up is still running; one whose
    /// container stopped during the run (`docker kill`, out of memory, a
    /// crash) is reported not ok from now on, with the container's exit
    /// status and its last log lines. Returns the services found dead by
    /// this call, each with that explanation.
    pub async fn check_alive(&mut self) -> Vec<(ServiceKind, String)> {
        let Some(docker) = &self.docker else {
            return Vec::new();
        };
        let mut containers: Vec<(ServiceKind, String)> = self
            .started
            .iter()
            .map(|s| (s.kind, s.id.clone()))
            .collect();
        if let Some(k) = &self.kept {
            containers.extend(k.services.iter().map(|ks| (ks.kind, ks.container.clone())));
        }
        let secrets = self.secrets();
        let mut dead = Vec::new();
        for (kind, id) in containers {
            let Some(report) = self
                .reports
                .iter_mut()
                .find(|r| r.name == kind.name() && r.ok)
            else {
                continue;
            };
            let state = match docker::inspect(docker, &id).await {
                Ok(s) if s.running => continue,
                Ok(s) => s.describe(),
                Err(e) => e,
            };
            let logs = docker::last_log_lines(docker, &id, 10).await;
            let mut why = format!(
                "the {} container {} stopped during the run ({state})",
                kind.label(),
                short(&id)
            );
            if !logs.trim().is_empty() {
                why.push_str("; its last log lines:\n");
                for line in logs.trim_end().lines() {
                    why.push_str("    ");
                    why.push_str(line);
                    why.push('\n');
                }
                why.pop();
            }
            let why = super::redact(&why, &secrets);
            report.ok = false;
            report.error = Some(why.clone());
            dead.push((kind, why));
        }
        dead
    }

    /// The kept session this one used or extended, if any.
    pub fn kept(&self) -> Option<&KeptState> {
        self.kept.as_ref()
    }

    fn fail(&mut self, kind: ServiceKind, image: String, error: String, ms: f64) {
        let error = super::redact(&error, &self.secrets());
        self.reports.push(ServiceReport {
            name: kind.name().into(),
            image,
            version: None,
            startup_ms: ms,
            sla_ms: kind.startup_sla().as_secs_f64() * 1000.0,
            within_sla: false,
            ok: false,
            error: Some(error.clone()),
            endpoint: None,
            reused: false,
        });
        self.errors.push((kind, error));
    }

    /// The session's id (also the value of its containers' label).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The Docker version that answered, when one did.
    pub fn docker_version(&self) -> Option<&str> {
        self.docker_version.as_deref()
    }

    /// What each needed service did.
    pub fn reports(&self) -> &[ServiceReport] {
        &self.reports
    }

    /// Services that could not be provided, with the reason.
    pub fn errors(&self) -> &[(ServiceKind, String)] {
        &self.errors
    }

    /// Strings that must never appear in a report or a log.
    pub fn secrets(&self) -> Vec<String> {
        let mut v = vec![self.secret.clone()];
        v.extend(self.kept.as_ref().map(|k| k.secret.clone()));
        v
    }

    /// The environment test processes need: the session id, each
    /// endpoint, and for each service that failed, why.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![(SESSION_ENV.to_string(), self.id.clone())];
        for s in &self.started {
            env.extend(s.env.iter().cloned());
        }
        env.extend(self.kept_env.iter().cloned());
        for (kind, e) in &self.errors {
            env.push((
                kind.error_env().to_string(),
                format!("{} is not available in this session: {e}", kind.label()),
            ));
        }
        env
    }

    /// Removes every container of the session; returns how many were removed.
    pub async fn teardown(mut self) -> usize {
        for task in self.background.drain(..) {
            task.abort();
        }
        let mut removed = 0;
        let started: Vec<Started> = self.started.drain(..).collect();
        let work = async {
            let mut set = tokio::task::JoinSet::new();
            let mut ids = Vec::new();
            for mut s in started {
                ids.push(s.id.clone());
                set.spawn(async move { s.remove().await });
            }
            while let Some(r) = set.join_next().await {
                if matches!(r, Ok(Ok(()))) {
                    removed += 1;
                }
            }
            if let Some(docker) = &self.docker {
                for id in docker::session_containers(docker, &self.id).await {
                    if docker::remove(docker, &id).await.is_ok() && !ids.contains(&id) {
                        removed += 1;
                    }
                }
            }
        };
        if tokio::time::timeout(TEARDOWN_LIMIT, work).await.is_err() {
            // A daemon that stopped answering must not hold the run: what
            // is left carries this process's owner labels, so the next run
            // (or `services down`) reaps it once this process has ended.
            eprintln!(
                "warning: Docker did not finish removing the containers of session {} within {}s; the next `cargo tiered` run or `cargo tiered services down` removes what is left",
                self.id,
                TEARDOWN_LIMIT.as_secs()
            );
        }
        removed
    }
}

/// The longest a session's teardown waits for Docker.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(60);

/// The image for a service: `TIERED_<SERVICE>_IMAGE`, then
/// `[services.<name>] image`, then the official default.
pub fn image_for(kind: ServiceKind, config: &Config) -> String {
    if let Ok(img) = std::env::var(kind.image_env()) {
        if !img.trim().is_empty() {
            return img;
        }
    }
    config
        .services
        .get(kind.name())
        .and_then(|s| s.image.clone())
        .unwrap_or_else(|| kind.default_image().to_string())
}

#[cfg(feature = "postgres")]
async fn refresh_template(
    url: &str,
    migrations: &Option<PathBuf>,
    fixtures: &[PathBuf],
) -> Result<bool, String> {
    super::postgres::refresh_template(url, migrations, fixtures).await
}

#[cfg(not(feature = "postgres"))]
async fn refresh_template(
    _url: &str,
    _migrations: &Option<PathBuf>,
    _fixtures: &[PathBuf],
) -> Result<bool, String> {
    Ok(false)
}

fn lookup<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The first 12 characters of a container id, as `docker ps` shows them.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Whether a kept service still runs and answers a real query; its
/// version when it does, why not when it does not.
pub(crate) async fn check_kept(
    docker: &Docker,
    ks: &KeptService,
    secret: &str,
) -> Result<String, String> {
    let state = docker::inspect(docker, &ks.container).await?;
    if !state.running {
        return Err(format!("is not running ({})", state.describe()));
    }
    let url = lookup(&ks.env, ks.kind.url_env())
        .ok_or_else(|| format!("has no {} recorded", ks.kind.url_env()))?
        .to_string();
    match tokio::time::timeout(Duration::from_secs(5), probe(ks.kind, &url, secret)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!(
            "does not answer ({})",
            super::redact(&e, &[secret.to_string()])
        )),
        Err(_) => Err("does not answer within 5s".into()),
    }
}

/// One real round trip to a running service at `url`.
pub(crate) async fn probe(kind: ServiceKind, url: &str, secret: &str) -> Result<String, String> {
    let _ = (url, secret);
    match kind {
        #[cfg(feature = "postgres")]
        ServiceKind::Postgres => super::postgres::probe(url).await,
        #[cfg(feature = "redis")]
        ServiceKind::Redis => super::redis::probe(url).await,
        #[cfg(feature = "neo4j")]
        ServiceKind::Neo4j => super::neo4j::probe(url, secret).await,
        #[cfg(feature = "chroma")]
        ServiceKind::Chroma => super::chroma::probe(url).await,
        #[allow(unreachable_patterns)]
        other => Err(format!(
            "this build of tiered has no `{}` feature; enable it in Cargo.toml",
            other.name()
        )),
    }
}

async fn start(kind: ServiceKind, ctx: &StartCtx) -> Result<Started, String> {
    match kind {
        #[cfg(feature = "postgres")]
        ServiceKind::Postgres => super::postgres::start(ctx).await,
        #[cfg(feature = "redis")]
        ServiceKind::Redis => super::redis::start(ctx).await,
        #[cfg(feature = "neo4j")]
        ServiceKind::Neo4j => super::neo4j::start(ctx).await,
        #[cfg(feature = "chroma")]
        ServiceKind::Chroma => super::chroma::start(ctx).await,
        #[allow(unreachable_patterns)]
        other => Err(format!(
            "this build of tiered has no `{}` feature; enable it in Cargo.toml",
            other.name()
        )),
    }
}
