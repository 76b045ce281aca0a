//! ChromaDB: the container (an `Image` of its own: testcontainers-modules has
//! no Chroma module) and the per-test [`Chroma`] fixture.
//!
//! Readiness is a real HTTP round trip (`GET /api/v2/heartbeat`), and the
//! version is asked from `GET /api/v2/version`. Each test gets a tenant and a
//! database of its own, created through the v2 API, so two tests can create
//! a collection of the same name without meeting; the database is deleted
//! after a pass.

use std::borrow::Cow;

use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::Image;

use super::container::{retry_until, StartCtx, Started};
use super::ServiceKind;
use crate::fixture::{Fixture, FixtureError, TestContext};

/// A ChromaDB server image (official `chromadb/chroma` or compatible).
#[derive(Debug, Clone)]
pub struct ChromaImage {
    name: String,
    tag: String,
}

const PORTS: [ContainerPort; 1] = [ContainerPort::Tcp(8000)];

impl Image for ChromaImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        // Readiness is proven by an HTTP round trip after start.
        Vec::new()
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        [("ANONYMIZED_TELEMETRY", "False")]
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &PORTS
    }
}

/// One real round trip: the heartbeat, then the version.
pub(crate) async fn probe(url: &str) -> Result<String, String> {
    let http = reqwest::Client::new();
    let hb = http
        .get(format!("{url}/api/v2/heartbeat"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !hb.status().is_success() {
        return Err(format!("heartbeat answered {}", hb.status()));
    }
    let v = http
        .get(format!("{url}/api/v2/version"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!("ChromaDB {}", v.trim().trim_matches('"')))
}

pub(crate) async fn start(ctx: &StartCtx) -> Result<Started, String> {
    let (name, tag) = super::split_image(&ctx.image);
    let image = ChromaImage {
        name: name.to_string(),
        tag: tag.to_string(),
    };
    let container = ctx
        .apply(image, ServiceKind::Chroma)
        .start()
        .await
        .map_err(|e| ctx.start_error(e))?;
    let started = Started::new(container, ServiceKind::Chroma).await?;
    let url = format!("http://127.0.0.1:{}", started.port);
    let version = retry_until(ctx.deadline, || probe(&url)).await?;
    Ok(started
        .with_env(ServiceKind::Chroma.url_env(), url.clone())
        .with_version(version)
        .with_endpoint(url))
}

/// A test's own Chroma tenant and database.
///
/// Use [`Chroma::collections_url`] for the collections endpoint of the
/// test's own database.
#[derive(Debug, Clone)]
pub struct Chroma {
    url: String,
    http: reqwest::Client,
    tenant: String,
    database: String,
}

impl Chroma {
    /// The server's base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The test's own tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The test's own database inside its tenant.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// `{url}/api/v2/tenants/{tenant}/databases/{database}/collections`.
    pub fn collections_url(&self) -> String {
        format!(
            "{}/api/v2/tenants/{}/databases/{}/collections",
            self.url, self.tenant, self.database
        )
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    body: serde_json::Value,
) -> Result<(), FixtureError> {
    let resp = http
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| FixtureError::new::<Chroma>(format!("ChromaDB: {e}")))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(FixtureError::new::<Chroma>(format!(
            "ChromaDB answered {status} to POST {url}: {text}"
        )))
    }
}

impl Fixture for Chroma {
    fn needs(out: &mut Vec<&'static str>) {
        out.push(ServiceKind::Chroma.name());
    }

    async fn setup(ctx: &TestContext) -> Result<Self, FixtureError> {
        let url = super::container::endpoint::<Chroma>(ServiceKind::Chroma)?;
        let http = reqwest::Client::new();
        let tenant = format!(
            "tenant_{}_{}",
            std::process::id(),
            &super::random_token()[..8]
        );
        let database = "database".to_string();
        post(
            &http,
            &format!("{url}/api/v2/tenants"),
            serde_json::json!({ "name": tenant }),
        )
        .await?;
        post(
            &http,
            &format!("{url}/api/v2/tenants/{tenant}/databases"),
            serde_json::json!({ "name": database }),
        )
        .await?;
        let (h, u, t, d) = (http.clone(), url.clone(), tenant.clone(), database.clone());
        ctx.on_teardown(move |passed| {
            Box::pin(async move {
                if !passed {
                    return Some(format!("kept Chroma tenant `{t}` for inspection"));
                }
                let _ = h
                    .delete(format!("{u}/api/v2/tenants/{t}/databases/{d}"))
                    .send()
                    .await;
                None
            })
        });
        Ok(Chroma {
            url,
            http,
            tenant,
            database,
        })
    }
}
