//! Neo4j: the container (testcontainers-modules' `Neo4j`, official `neo4j`
//! image by default), readiness through a real Bolt handshake, and the
//! per-test [`Neo4j`] fixture.
//!
//! A graph database has no cheap per-test copy, so tests that take a `Neo4j`
//! run one at a time (the harness serialises them across its worker
//! processes) and each starts from an empty graph.

use std::time::Duration;

use testcontainers::runners::AsyncRunner;
use testcontainers::ImageExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::container::{retry_until, StartCtx, Started};
use super::ServiceKind;
use crate::fixture::{Fixture, FixtureError, TestContext};

/// The user the session creates.
pub const USER: &str = "neo4j";
/// Environment variable with the session's Neo4j user.
pub const USER_ENV: &str = "TIERED_NEO4J_USER";
/// Environment variable with the session's Neo4j password.
pub const PASSWORD_ENV: &str = "TIERED_NEO4J_PASSWORD";

/// Offers Bolt 5.0–5.7, 4.0–4.4 and 3.0 and returns the version the server
/// picked, e.g. `(5, 4)`. A server that answers is a server that is up.
pub async fn bolt_handshake(host: &str, port: u16) -> Result<(u8, u8), String> {
    handshake(
        host,
        port,
        &[0, 7, 7, 5, 0, 4, 4, 4, 0, 0, 0, 3, 0, 0, 0, 0],
    )
    .await
}

/// Whether the server speaks a Bolt 4 version, the only ones the neo4rs
/// client offers (Neo4j 4 and 5 do; a Bolt-5-only stand-in does not).
async fn speaks_bolt4(host: &str, port: u16) -> bool {
    handshake(
        host,
        port,
        &[0, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    )
    .await
    .is_ok()
}

async fn handshake(host: &str, port: u16, offers: &[u8; 16]) -> Result<(u8, u8), String> {
    let mut s = TcpStream::connect((host, port))
        .await
        .map_err(|e| e.to_string())?;
    let mut hello = vec![0x60, 0x60, 0xB0, 0x17];
    hello.extend_from_slice(offers);
    s.write_all(&hello).await.map_err(|e| e.to_string())?;
    let mut reply = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut reply))
        .await
        .map_err(|_| "no Bolt handshake reply within 5s".to_string())?
        .map_err(|e| format!("Bolt handshake: {e}"))?;
    match reply {
        [0, 0, 0, 0] => Err("the server accepts none of the offered Bolt versions".into()),
        [_, _, minor, major] => Ok((major, minor)),
    }
}

async fn server_version(uri: &str, password: &str) -> Option<String> {
    let rest = uri.strip_prefix("bolt://").unwrap_or(uri);
    let (host, port) = rest.rsplit_once(':')?;
    if !speaks_bolt4(host, port.parse().ok()?).await {
        return None;
    }
    let graph = neo4rs::Graph::new(uri, USER, password).await.ok()?;
    let mut rows = tokio::time::timeout(
        Duration::from_secs(5),
        graph.execute(neo4rs::query(
            "CALL dbms.components() YIELD name, versions RETURN name, versions[0] AS version",
        )),
    )
    .await
    .ok()?
    .ok()?;
    let row = rows.next().await.ok()??;
    let name: String = row.get("name").ok()?;
    let version: String = row.get("version").ok()?;
    Some(format!("{name} {version}"))
}

/// One real round trip to a running server at `uri` (`bolt://host:port`).
pub(crate) async fn probe(uri: &str, password: &str) -> Result<String, String> {
    let rest = uri.strip_prefix("bolt://").unwrap_or(uri);
    let (host, port) = rest
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("`{uri}` is not a bolt://host:port address"))?;
    let (major, minor) = bolt_handshake(host, port).await?;
    Ok(match server_version(uri, password).await {
        Some(v) => v,
        None => format!("Bolt {major}.{minor} (no Bolt 4 for neo4rs to ask dbms.components())"),
    })
}

pub(crate) async fn start(ctx: &StartCtx) -> Result<Started, String> {
    let (name, tag) = super::split_image(&ctx.image);
    let image = testcontainers_modules::neo4j::Neo4j::new()
        .with_user(USER)
        .with_password(ctx.secret.clone());
    let request = testcontainers::ContainerRequest::from(image)
        .with_name(name)
        .with_tag(tag);
    let container = ctx
        .apply(request, ServiceKind::Neo4j)
        .start()
        .await
        .map_err(|e| ctx.start_error(e))?;
    let started = Started::new(container, ServiceKind::Neo4j).await?;
    let port = started.port;
    let (major, minor) = retry_until(ctx.deadline, || bolt_handshake("127.0.0.1", port)).await?;
    let uri = format!("bolt://127.0.0.1:{port}");
    let version = match server_version(&uri, &ctx.secret).await {
        Some(v) => v,
        None => format!("Bolt {major}.{minor} (no Bolt 4 for neo4rs to ask dbms.components())"),
    };
    Ok(started
        .with_env(ServiceKind::Neo4j.url_env(), uri.clone())
        .with_env(USER_ENV, USER.to_string())
        .with_env(PASSWORD_ENV, ctx.secret.clone())
        .with_version(version)
        .with_endpoint(uri))
}

/// The session's graph, empty at the start of the test. Tests taking it run
/// one at a time.
#[derive(Clone)]
pub struct Neo4j {
    graph: neo4rs::Graph,
    uri: String,
}

impl std::fmt::Debug for Neo4j {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neo4j")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl Neo4j {
    /// The neo4rs client.
    pub fn graph(&self) -> &neo4rs::Graph {
        &self.graph
    }

    /// The Bolt URI (`bolt://127.0.0.1:PORT`); user and password are in
    /// `TIERED_NEO4J_USER` and `TIERED_NEO4J_PASSWORD`.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

impl Fixture for Neo4j {
    fn needs(out: &mut Vec<&'static str>) {
        out.push(ServiceKind::Neo4j.name());
    }

    async fn setup(_ctx: &TestContext) -> Result<Self, FixtureError> {
        let uri = super::container::endpoint::<Neo4j>(ServiceKind::Neo4j)?;
        let user = std::env::var(USER_ENV).unwrap_or_else(|_| USER.into());
        let password = std::env::var(PASSWORD_ENV).unwrap_or_default();
        let err = |e: neo4rs::Error| FixtureError::new::<Neo4j>(format!("Neo4j: {e}"));
        let graph = neo4rs::Graph::new(uri.as_str(), user, password)
            .await
            .map_err(err)?;
        graph
            .run(neo4rs::query("MATCH (n) DETACH DELETE n"))
            .await
            .map_err(err)?;
        Ok(Neo4j { graph, uri })
    }
}
