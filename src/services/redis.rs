//! Redis: the container and the per-test [`Redis`] fixture.
//!
//! The server runs with a session password and 4096 logical databases; each
//! test gets a logical database of its own, numbered by an atomic counter
//! kept in database 0 and flushed before the test sees it, so two tests can
//! use the same key without meeting. It is flushed again after a pass.

use testcontainers::runners::AsyncRunner;
use testcontainers::ImageExt;

use super::container::{retry_until, StartCtx, Started};
use super::ServiceKind;
use crate::fixture::{Fixture, FixtureError, TestContext};

/// Logical databases the server is started with; 0 holds the counter.
pub const DATABASES: u32 = 4096;
const COUNTER_KEY: &str = "tiered:next-database";

pub(crate) async fn start(ctx: &StartCtx) -> Result<Started, String> {
    let (name, tag) = super::split_image(&ctx.image);
    let request = testcontainers_modules::redis::Redis::default()
        .with_name(name)
        .with_tag(tag)
        .with_cmd([
            "redis-server".to_string(),
            "--requirepass".into(),
            ctx.secret.clone(),
            "--databases".into(),
            DATABASES.to_string(),
        ]);
    let container = ctx
        .apply(request, ServiceKind::Redis)
        .start()
        .await
        .map_err(|e| ctx.start_error(e))?;
    let started = Started::new(container, ServiceKind::Redis).await?;
    let port = started.port;
    let url = format!("redis://:{}@127.0.0.1:{port}/0", ctx.secret);
    let version = retry_until(ctx.deadline, || probe(&url)).await?;
    Ok(started
        .with_env(ServiceKind::Redis.url_env(), url)
        .with_version(version)
        .with_endpoint(format!("redis://127.0.0.1:{port}")))
}

/// One real round trip: `INFO server`, read as "Redis 7.x".
pub(crate) async fn probe(url: &str) -> Result<String, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    info.lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .map(|v| format!("Redis {}", v.trim()))
        .ok_or_else(|| "INFO server did not name a version".to_string())
}

/// A test's own logical Redis database.
///
/// ```ignore
/// #[tiered::test(tier = 2)]
/// async fn caches(redis: tiered::Redis) {
///     let mut c = redis.client().get_multiplexed_async_connection().await.unwrap();
///     let _: () = tiered::redis::AsyncCommands::set(&mut c, "k", 1).await.unwrap();
/// }
/// ```
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    url: String,
    database: u32,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// A client for the test's own logical database.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Its URL (carries the session's password: do not print it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The logical database number.
    pub fn database(&self) -> u32 {
        self.database
    }
}

fn with_database(url: &str, db: u32) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => format!("{url}/{db}"),
    }
}

impl Fixture for Redis {
    fn needs(out: &mut Vec<&'static str>) {
        out.push(ServiceKind::Redis.name());
    }

    async fn setup(ctx: &TestContext) -> Result<Self, FixtureError> {
        let admin = super::container::endpoint::<Redis>(ServiceKind::Redis)?;
        let err = |e: redis::RedisError| FixtureError::new::<Redis>(format!("Redis: {e}"));
        let admin_client = redis::Client::open(admin.as_str()).map_err(err)?;
        let mut conn = admin_client
            .get_multiplexed_async_connection()
            .await
            .map_err(err)?;
        let n: u64 = redis::cmd("INCR")
            .arg(COUNTER_KEY)
            .query_async(&mut conn)
            .await
            .map_err(err)?;
        let database = 1 + (n % u64::from(DATABASES - 1)) as u32;
        let url = with_database(&admin, database);
        let client = redis::Client::open(url.as_str()).map_err(err)?;
        let mut own = client
            .get_multiplexed_async_connection()
            .await
            .map_err(err)?;
        let () = redis::cmd("FLUSHDB")
            .query_async(&mut own)
            .await
            .map_err(err)?;
        ctx.on_teardown(move |passed| {
            Box::pin(async move {
                if passed {
                    let _: Result<(), _> = redis::cmd("FLUSHDB").query_async(&mut own).await;
                    None
                } else {
                    Some(format!(
                        "kept Redis logical database {database} for inspection"
                    ))
                }
            })
        });
        Ok(Redis {
            client,
            url,
            database,
        })
    }
}
