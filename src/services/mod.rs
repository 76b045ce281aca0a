//! Real services for tiers 2 and 3: PostgreSQL, Redis, Neo4j and ChromaDB.
//!
//! A test declares what it needs by its parameters (`pg: tiered::Postgres`);
//! the fixture type's [`crate::Fixture::needs`] names a [`ServiceKind`]. A
//! [`session::Session`] starts only the services the selected tests need,
//! concurrently, once per session, as Docker containers through
//! testcontainers, and hands the endpoints to test processes in environment
//! variables (`TIERED_POSTGRES_URL`, …). Each fixture then carves its test an
//! isolated slice of the shared service: a database cloned from a template,
//! a logical Redis database, a Chroma tenant, the graph to itself.
//!
//! `ServiceKind` is always compiled (listings name services even in a
//! tier-1-only build); everything that talks to Docker or a service sits
//! behind the cargo feature of the same name.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[cfg(feature = "_services")]
pub(crate) mod container;
#[cfg(feature = "_services")]
pub mod docker;
#[cfg(feature = "_services")]
pub mod kept;
#[cfg(feature = "_services")]
pub mod session;

#[cfg(feature = "chroma")]
pub mod chroma;
#[cfg(feature = "neo4j")]
pub mod neo4j;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;

/// Environment variable naming the session that owns the services. When it
/// is set a harness binary never provisions services itself: those it was
/// not given are unavailable (their `TIERED_<SERVICE>_ERROR` says why).
pub const SESSION_ENV: &str = "TIERED_SESSION";

/// One of the four services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// PostgreSQL.
    Postgres,
    /// Redis.
    Redis,
    /// Neo4j (Bolt).
    Neo4j,
    /// ChromaDB.
    Chroma,
}

impl ServiceKind {
    /// Every service.
    pub const ALL: [ServiceKind; 4] = [
        ServiceKind::Postgres,
        ServiceKind::Redis,
        ServiceKind::Neo4j,
        ServiceKind::Chroma,
    ];

    /// The name used in `needs`, config tables and feature names.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Postgres => "postgres",
            ServiceKind::Redis => "redis",
            ServiceKind::Neo4j => "neo4j",
            ServiceKind::Chroma => "chroma",
        }
    }

    /// The service with this name.
    pub fn from_name(name: &str) -> Option<ServiceKind> {
        ServiceKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// How people write it.
    pub fn label(self) -> &'static str {
        match self {
            ServiceKind::Postgres => "PostgreSQL",
            ServiceKind::Redis => "Redis",
            ServiceKind::Neo4j => "Neo4j",
            ServiceKind::Chroma => "ChromaDB",
        }
    }

    /// The official image users pull, pinned.
    pub fn default_image(self) -> &'static str {
        match self {
            ServiceKind::Postgres => "postgres:15.10",
            ServiceKind::Redis => "redis:7.4.1",
            ServiceKind::Neo4j => "neo4j:5.26.0",
            ServiceKind::Chroma => "chromadb/chroma:1.0.20",
        }
    }

    /// Startup SLA: PostgreSQL 30 s, Redis 15 s, Neo4j 60 s, ChromaDB 45 s.
    pub fn startup_sla(self) -> Duration {
        Duration::from_secs(match self {
            ServiceKind::Postgres => 30,
            ServiceKind::Redis => 15,
            ServiceKind::Neo4j => 60,
            ServiceKind::Chroma => 45,
        })
    }

    /// The port the service listens on inside its container.
    pub fn port(self) -> u16 {
        match self {
            ServiceKind::Postgres => 5432,
            ServiceKind::Redis => 6379,
            ServiceKind::Neo4j => 7687,
            ServiceKind::Chroma => 8000,
        }
    }

    /// `TIERED_POSTGRES_URL`, `TIERED_REDIS_URL`, `TIERED_NEO4J_URI`,
    /// `TIERED_CHROMA_URL`: where test processes find the service.
    pub fn url_env(self) -> &'static str {
        match self {
            ServiceKind::Postgres => "TIERED_POSTGRES_URL",
            ServiceKind::Redis => "TIERED_REDIS_URL",
            ServiceKind::Neo4j => "TIERED_NEO4J_URI",
            ServiceKind::Chroma => "TIERED_CHROMA_URL",
        }
    }

    /// `TIERED_POSTGRES_IMAGE`, …: overrides the configured image.
    pub fn image_env(self) -> &'static str {
        match self {
            ServiceKind::Postgres => "TIERED_POSTGRES_IMAGE",
            ServiceKind::Redis => "TIERED_REDIS_IMAGE",
            ServiceKind::Neo4j => "TIERED_NEO4J_IMAGE",
            ServiceKind::Chroma => "TIERED_CHROMA_IMAGE",
        }
    }

    /// `TIERED_POSTGRES_ERROR`, …: why the session could not provide it.
    pub fn error_env(self) -> &'static str {
        match self {
            ServiceKind::Postgres => "TIERED_POSTGRES_ERROR",
            ServiceKind::Redis => "TIERED_REDIS_ERROR",
            ServiceKind::Neo4j => "TIERED_NEO4J_ERROR",
            ServiceKind::Chroma => "TIERED_CHROMA_ERROR",
        }
    }
}

impl std::fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the session knows of one service: reported in JSON, JUnit and the
/// terminal. Never carries a credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceReport {
    /// `postgres`, `redis`, `neo4j`, `chroma`.
    pub name: String,
    /// The image it ran.
    pub image: String,
    /// The server's version, as the server itself answered it.
    pub version: Option<String>,
    /// Time from asking Docker to the first real round trip, in ms.
    pub startup_ms: f64,
    /// The startup SLA, in ms.
    pub sla_ms: f64,
    /// Whether it was ready within its SLA.
    pub within_sla: bool,
    /// Whether it came up and answered.
    pub ok: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
    /// Where it listened (credentials removed).
    pub endpoint: Option<String>,
    /// Whether a kept service (`cargo tiered services up`) was reused
    /// instead of starting one; `startup_ms` is then the time to check it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
}

/// Replaces every occurrence of each secret in `text` with `****`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s.as_str(), "****");
    }
    out
}

/// A fresh random token (128 bits, hex) from the OS-seeded hasher keys.
pub fn random_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// The migrations directory and SQL fixture files for the template
/// database, resolved against the workspace root.
pub fn postgres_settings(
    config: &crate::config::Config,
    root: &std::path::Path,
) -> (Option<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let settings = config.services.get("postgres");
    let migrations = match settings.and_then(|s| s.migrations.as_deref()) {
        Some(dir) => Some(root.join(dir)),
        None => Some(root.join("migrations")).filter(|d| d.is_dir()),
    };
    let fixtures = settings
        .map(|s| s.sql_fixtures.iter().map(|f| root.join(f)).collect())
        .unwrap_or_default();
    (migrations, fixtures)
}

/// Splits `name:tag` (a registry host with a port keeps its colon).
pub fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}
