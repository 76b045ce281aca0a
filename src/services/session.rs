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

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use testcontainers::bollard::Docker;
use testcontainers::core::ContainerPort;
use testcontainers::{ContainerAsync, ContainerRequest, Image, ImageExt};

use super::docker::{self, OWNER_PID_LABEL, SERVICE_LABEL, SESSION_LABEL};
use super::{ServiceKind, ServiceReport, SESSION_ENV};
use crate::config::Config;
use crate::fixture::FixtureError;

type Remover = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send>;

/// What a service start needs to know.
pub(crate) struct StartCtx {
    pub kind: ServiceKind,
    pub image: String,
    pub session: String,
    pub secret: String,
    pub deadline: Instant,
    pub sla: Duration,
    pub postgres_migrations: Option<PathBuf>,
    pub postgres_fixtures: Vec<PathBuf>,
}

impl StartCtx {
    /// Labels, loopback-only ports and the startup deadline.
    pub fn apply<I: Image>(
        &self,
        req: impl Into<ContainerRequest<I>>,
        kind: ServiceKind,
    ) -> ContainerRequest<I> {
        let req: ContainerRequest<I> = req.into();
        let modifier = docker::loopback(&[kind.port()]);
        req.with_label(SESSION_LABEL, &self.session)
            .with_label(OWNER_PID_LABEL, std::process::id().to_string())
            .with_label(SERVICE_LABEL, kind.name())
            .with_startup_timeout(self.sla)
            .with_host_config_modifier(move |hc| modifier(hc))
    }

    /// Explains a failed start, naming the image and what to do.
    pub fn start_error(&self, e: testcontainers::TestcontainersError) -> String {
        let text = e.to_string();
        if text.contains("pull") || text.contains("No such image") || text.contains("not found") {
            format!(
                "image `{}` is not present locally and could not be pulled ({text}); pull or build it where Docker can see it, or choose another with `[services.{}] image` in tiered.toml or {}",
                self.image,
                self.kind.name(),
                self.kind.image_env()
            )
        } else {
            format!(
                "the container of image `{}` did not start: {text}",
                self.image
            )
        }
    }
}

/// A started service: its container and what tests need to reach it.
pub(crate) struct Started {
    id: String,
    remover: Option<Remover>,
    pub port: u16,
    env: Vec<(String, String)>,
    version: Option<String>,
    endpoint: Option<String>,
}

impl Started {
    /// Wraps a started container and reads its published port.
    pub async fn new<I: Image + 'static>(
        container: ContainerAsync<I>,
        kind: ServiceKind,
    ) -> Result<Started, String> {
        let id = container.id().to_string();
        let port = container
            .get_host_port_ipv4(ContainerPort::Tcp(kind.port()))
            .await;
        let remover: Remover = Box::new(move || {
            Box::pin(async move { container.rm().await.map_err(|e| e.to_string()) })
        });
        let mut started = Started {
            id,
            remover: Some(remover),
            port: 0,
            env: Vec::new(),
            version: None,
            endpoint: None,
        };
        match port {
            Ok(p) => {
                started.port = p;
                Ok(started)
            }
            Err(e) => {
                let _ = started.remove().await;
                Err(format!("its port {} was not published: {e}", kind.port()))
            }
        }
    }

    pub fn with_env(mut self, key: &str, value: String) -> Self {
        self.env.push((key.to_string(), value));
        self
    }

    pub fn with_version(mut self, version: String) -> Self {
        self.version = Some(version);
        self
    }

    pub fn with_endpoint(mut self, endpoint: String) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    async fn remove(&mut self) -> Result<(), String> {
        match self.remover.take() {
            Some(r) => r().await,
            None => Ok(()),
        }
    }
}

/// Retries `f` with backoff (50 ms doubling to 1 s) until it succeeds or the
/// deadline passes; the last error is returned.
pub(crate) async fn retry_until<T, F, Fut>(deadline: Instant, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let mut pause = Duration::from_millis(50);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = tokio::time::timeout(left.max(Duration::from_millis(100)), f()).await;
        let err = match attempt {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => e,
            Err(_) => "no answer before the startup deadline".to_string(),
        };
        if Instant::now() + pause >= deadline {
            return Err(format!("not ready within its startup SLA: {err}"));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// The endpoint of a service for a fixture, from the environment.
pub(crate) fn endpoint<F>(kind: ServiceKind) -> Result<String, FixtureError> {
    if let Ok(v) = std::env::var(kind.url_env()) {
        return Ok(v);
    }
    let why = std::env::var(kind.error_env()).unwrap_or_else(|_| {
        format!(
            "{} was not provisioned for this test ({} is not set); run the test through its tiered harness or `cargo tiered`",
            kind.label(),
            kind.url_env()
        )
    });
    Err(FixtureError::new::<F>(why))
}

/// The services of one run.
pub struct Session {
    id: String,
    secret: String,
    docker: Option<Docker>,
    docker_version: Option<String>,
    started: Vec<Started>,
    reports: Vec<ServiceReport>,
    errors: Vec<(ServiceKind, String)>,
}

/// How long to wait for Docker to answer before declaring it unreachable.
pub const DOCKER_PING_LIMIT: Duration = Duration::from_secs(5);

impl Session {
    /// Starts the `needed` services, concurrently. Never fails as a whole:
    /// a service that cannot be provided is reported, with the reason.
    pub async fn provision(needed: &[ServiceKind], config: &Config, root: &Path) -> Session {
        let token = super::random_token();
        let mut session = Session {
            id: format!("s{}", &token[..12]),
            secret: super::random_token(),
            docker: None,
            docker_version: None,
            started: Vec::new(),
            reports: Vec::new(),
            errors: Vec::new(),
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
                }
                return session;
            }
        };
        session.docker = Some(docker);
        session.docker_version = Some(version);
        let mut set = tokio::task::JoinSet::new();
        for kind in needed {
            let ctx = StartCtx {
                kind,
                image: image_for(kind, config),
                session: session.id.clone(),
                secret: session.secret.clone(),
                deadline: Instant::now() + kind.startup_sla(),
                sla: kind.startup_sla(),
                postgres_migrations: super::postgres_settings(config, root).0,
                postgres_fixtures: super::postgres_settings(config, root).1,
            };
            set.spawn(async move {
                let begin = Instant::now();
                let result = tokio::time::timeout(
                    kind.startup_sla() + Duration::from_secs(5),
                    start(kind, &ctx),
                )
                .await
                .unwrap_or_else(|_| Err("not ready within its startup SLA".into()));
                (kind, ctx.image, result, begin.elapsed())
            });
        }
        while let Some(joined) = set.join_next().await {
            let Ok((kind, image, result, took)) = joined else {
                continue;
            };
            let ms = took.as_secs_f64() * 1000.0;
            match result {
                Ok(started) => {
                    session.reports.push(ServiceReport {
                        name: kind.name().into(),
                        image,
                        version: started.version.clone(),
                        startup_ms: ms,
                        sla_ms: kind.startup_sla().as_secs_f64() * 1000.0,
                        within_sla: took <= kind.startup_sla(),
                        ok: true,
                        error: None,
                        endpoint: started.endpoint.clone(),
                    });
                    session.started.push(started);
                }
                Err(e) => session.fail(kind, image, e, ms),
            }
        }
        session.reports.sort_by(|a, b| a.name.cmp(&b.name));
        session
    }

    fn fail(&mut self, kind: ServiceKind, image: String, error: String, ms: f64) {
        let error = super::redact(&error, std::slice::from_ref(&self.secret));
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
        vec![self.secret.clone()]
    }

    /// The environment test processes need: the session id, each
    /// endpoint, and for each service that failed, why.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![(SESSION_ENV.to_string(), self.id.clone())];
        for s in &self.started {
            env.extend(s.env.iter().cloned());
        }
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
        let mut set = tokio::task::JoinSet::new();
        let mut ids = Vec::new();
        for mut s in self.started.drain(..) {
            ids.push(s.id.clone());
            set.spawn(async move { s.remove().await });
        }
        let mut removed = 0;
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
        removed
    }
}

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
