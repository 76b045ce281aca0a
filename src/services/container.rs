//! What starting one service's container takes, and what it gives: the
//! [`StartCtx`] the session hands each service's `start`, the [`Started`]
//! container it gets back, and the helpers every service uses (readiness
//! retried to a deadline, a fixture's endpoint from the environment).
//!
//! Each service module (`postgres`, `redis`, `neo4j`, `chroma`) builds on
//! this; the session ([`super::session`]) builds on them — one direction.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use testcontainers::core::ContainerPort;
use testcontainers::{ContainerAsync, ContainerRequest, Image, ImageExt};

use super::docker::{self, KEPT_LABEL, OWNER_PID_LABEL, SERVICE_LABEL, SESSION_LABEL};
use super::ServiceKind;
use crate::fixture::FixtureError;

type Remover = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send>;

/// What a service start needs to know.
pub(crate) struct StartCtx {
    pub kind: ServiceKind,
    pub image: String,
    pub session: String,
    pub secret: String,
    /// The owner-pid label: this process, or `kept`.
    pub owner: String,
    /// For a kept container, the workspace it serves.
    pub kept_for: Option<String>,
    pub deadline: Instant,
    pub sla: Duration,
    pub postgres_migrations: Option<PathBuf>,
    pub postgres_fixtures: Vec<PathBuf>,
    /// PostgreSQL's data directory on a tmpfs mount.
    pub postgres_tmpfs: bool,
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
        let req = req
            .with_label(SESSION_LABEL, &self.session)
            .with_label(OWNER_PID_LABEL, &self.owner)
            .with_label(SERVICE_LABEL, kind.name())
            .with_startup_timeout(self.sla)
            .with_host_config_modifier(move |hc| modifier(hc));
        // Where and since when the owner runs, for `docker::reap_orphans`.
        let req = if self.owner.parse::<u32>().is_ok() {
            let [_, (host_key, host), (start_key, start)] = docker::owner_labels();
            req.with_label(host_key, host).with_label(start_key, start)
        } else {
            req
        };
        match &self.kept_for {
            Some(ws) => req.with_label(KEPT_LABEL, ws),
            None => req,
        }
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
    pub(crate) id: String,
    pub(crate) kind: ServiceKind,
    remover: Option<Remover>,
    pub port: u16,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) version: Option<String>,
    pub(crate) endpoint: Option<String>,
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
            kind,
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

    /// Leaves the container running after this process: its remover (which
    /// owns the testcontainers handle, whose drop would remove it) is leaked.
    pub(crate) fn detach(mut self) {
        if let Some(r) = self.remover.take() {
            std::mem::forget(r);
        }
    }

    pub(crate) async fn remove(&mut self) -> Result<(), String> {
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
