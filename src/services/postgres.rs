//! PostgreSQL: the container, the session's template database, and the
//! per-test [`Postgres`] fixture.
//!
//! The session starts one server (testcontainers-modules' `Postgres` image,
//! any compatible image by configuration), proves it answers with
//! `select version()`, and builds a template database once: the project's
//! migrations (sqlx migrate, directory configurable) and SQL fixture files
//! applied to `tiered_template`. Each test then gets its own database,
//! `CREATE DATABASE … TEMPLATE tiered_template`, dropped after a pass and
//! kept after a failure (its name is in the failure message) for inspection.

use std::path::PathBuf;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use testcontainers::runners::AsyncRunner;
use testcontainers::ImageExt;

use super::container::{retry_until, StartCtx, Started};
use super::ServiceKind;
use crate::fixture::{Fixture, FixtureError, TestContext};

/// The database every test database is cloned from.
pub const TEMPLATE_DB: &str = "tiered_template";
/// Clones of the template made ahead of time, claimed by tests by renaming.
const SPARE_PREFIX: &str = "tiered_spare_";
/// Databases of passed tests, dropped in the background.
const DONE_PREFIX: &str = "tiered_done_";
const USER: &str = "tiered";
/// `PGDATA` of the official image and of the local one.
const DATA_DIR: &str = "/var/lib/postgresql/data";

/// Starts the server, waits for a real query, builds the template.
pub(crate) async fn start(ctx: &StartCtx) -> Result<Started, String> {
    let (name, tag) = super::split_image(&ctx.image);
    let request = testcontainers_modules::postgres::Postgres::default()
        .with_user(USER)
        .with_password(&ctx.secret)
        .with_db_name("postgres")
        .with_name(name)
        .with_tag(tag)
        // See `fast_auth`.
        .with_env_var("POSTGRES_HOST_AUTH_METHOD", "md5");
    let mut request = ctx.apply(request, ServiceKind::Postgres);
    if ctx.postgres_tmpfs {
        // The data directory in memory. A throwaway server needs no
        // durability (the module already runs it with `fsync=off`), and on
        // a container's overlay disk every `CREATE DATABASE … TEMPLATE`
        // costs 200–500 ms against 15–35 ms here: that is what each test
        // would otherwise wait for. The image's entrypoint initialises the
        // empty directory (the official image always does; the local image
        // copies its pre-built cluster).
        request = request.with_mount(testcontainers::core::Mount::tmpfs_mount(DATA_DIR));
    }
    let container = request.start().await.map_err(|e| ctx.start_error(e))?;
    let started = Started::new(container, ServiceKind::Postgres).await?;
    let port = started.port;
    let url = format!("postgres://{USER}:{}@127.0.0.1:{port}/postgres", ctx.secret);
    let version = retry_until(ctx.deadline, || probe(&url)).await?;
    fast_auth(&url, &ctx.secret)
        .await
        .map_err(|e| format!("storing the session's password as md5 failed: {e}"))?;
    build_template(&url, &ctx.postgres_migrations, &ctx.postgres_fixtures)
        .await
        .map_err(|e| format!("building the template database failed: {e}"))?;
    Ok(started
        .with_env(ServiceKind::Postgres.url_env(), url)
        .with_version(version)
        .with_endpoint(format!("postgres://{USER}@127.0.0.1:{port}/postgres")))
}

/// Stores the session's password as an md5 hash, so each test's connections
/// authenticate with md5 instead of SCRAM-SHA-256, whose 4,096 PBKDF2
/// rounds cost tens of milliseconds per connection in an unoptimised
/// (debug) build — time every test would wait. The server is a throwaway,
/// published on 127.0.0.1 only, with a random 128-bit password; `pg_hba`
/// asks for `md5` (`POSTGRES_HOST_AUTH_METHOD`), which also accepts a
/// SCRAM-stored password, so the first connection works either way.
async fn fast_auth(url: &str, secret: &str) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    conn.execute("SET password_encryption = 'md5'").await?;
    // The secret is hex: no quoting issue.
    conn.execute(format!("ALTER ROLE {USER} PASSWORD '{secret}'").as_str())
        .await?;
    conn.close().await
}

/// One real round trip: `select version()`, shortened to "PostgreSQL 15.x".
pub(crate) async fn probe(url: &str) -> Result<String, String> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let (v,): (String,) = sqlx::query_as("select version()")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    // "PostgreSQL 15.20 (Debian …) on x86_64-pc-linux-gnu, compiled by …"
    Ok(v.split(" on ").next().unwrap_or(&v).to_string())
}

async fn build_template(
    admin_url: &str,
    migrations: &Option<PathBuf>,
    fixtures: &[PathBuf],
) -> Result<(), String> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .map_err(|e| e.to_string())?;
    admin
        .execute(format!("CREATE DATABASE {TEMPLATE_DB}").as_str())
        .await
        .map_err(|e| e.to_string())?;
    let mut opts: PgConnectOptions = admin_url.parse().map_err(|e: sqlx::Error| e.to_string())?;
    opts = opts.database(TEMPLATE_DB).disable_statement_logging();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(dir) = migrations {
        let migrator = sqlx::migrate::Migrator::new(dir.as_path())
            .await
            .map_err(|e| format!("reading migrations in {}: {e}", dir.display()))?;
        migrator
            .run(&pool)
            .await
            .map_err(|e| format!("applying migrations from {}: {e}", dir.display()))?;
    }
    for file in fixtures {
        let sql = std::fs::read_to_string(file)
            .map_err(|e| format!("reading SQL fixture {}: {e}", file.display()))?;
        sqlx::raw_sql(&sql)
            .execute(&pool)
            .await
            .map_err(|e| format!("applying SQL fixture {}: {e}", file.display()))?;
    }
    pool.close().await;
    admin
        .execute(format!("ALTER DATABASE {TEMPLATE_DB} WITH is_template true").as_str())
        .await
        .map_err(|e| e.to_string())?;
    let mark = fingerprint(migrations, fixtures);
    admin
        .execute(format!("COMMENT ON DATABASE {TEMPLATE_DB} IS '{mark}'").as_str())
        .await
        .map_err(|e| e.to_string())?;
    let _ = admin.close().await;
    Ok(())
}

/// A stable digest (FNV-1a) of the migration and SQL fixture files, stored
/// as the template's comment so a kept server can tell a stale template.
fn fingerprint(migrations: &Option<PathBuf>, fixtures: &[PathBuf]) -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(dir) = migrations {
        if let Ok(rd) = std::fs::read_dir(dir) {
            files.extend(rd.flatten().map(|e| e.path()));
        }
        files.sort();
    }
    files.extend(fixtures.iter().cloned());
    let mut h: u64 = 0xcbf29ce484222325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
    };
    for f in &files {
        eat(f
            .file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default());
        eat(&std::fs::read(f).unwrap_or_default());
        eat(&[0]);
    }
    format!("tiered:{h:016x}")
}

/// Keeps `spares` clones of the template ready, so a test claims its
/// database with a rename (well under a millisecond) instead of waiting for
/// a clone, and drops the databases of passed tests, which their teardown
/// only renames — neither the clone nor the drop happens in front of a
/// test. Three connections work side by side, two cloning and one
/// dropping, so a burst of finished tests does not starve the spares. Runs until
/// aborted (the session's teardown does), surviving connection errors.
pub(crate) async fn keep_spares(admin_url: String, spares: usize) {
    let url = admin_url.clone();
    let dropper = tokio::spawn(background_loop(url, |conn| {
        Box::pin(async move {
            let done: Option<(String,)> = sqlx::query_as(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1) LIMIT 1",
            )
            .bind(DONE_PREFIX)
            .fetch_optional(&mut *conn)
            .await?;
            let Some((name,)) = done else {
                return Ok(false);
            };
            conn.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                .await?;
            Ok(true)
        })
    }));
    // Aborting this future (the session's teardown) ends the dropper too.
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _dropper = AbortOnDrop(dropper);
    // PostgreSQL 15 copies a template's files in one go (`FILE_COPY`:
    // 13–19 ms here against 27–36 ms for the page-by-page default).
    let file_copy = match PgConnection::connect(&admin_url).await {
        Ok(mut conn) => {
            let version: Result<(String,), _> = sqlx::query_as("SHOW server_version_num")
                .fetch_one(&mut conn)
                .await;
            let _ = conn.close().await;
            version.is_ok_and(|(v,)| v.parse::<u32>().is_ok_and(|v| v >= 150000))
        }
        Err(_) => false,
    };
    // Two makers: one falls behind two test threads.
    let _second = AbortOnDrop(tokio::spawn(make_spares(
        admin_url.clone(),
        spares,
        file_copy,
    )));
    make_spares(admin_url, spares, file_copy).await
}

/// One maker of spare clones: while fewer than `spares` are ready, clones
/// one more.
async fn make_spares(admin_url: String, spares: usize, file_copy: bool) {
    background_loop(admin_url, move |conn| {
        Box::pin(async move {
            let (ready,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)")
                    .bind(SPARE_PREFIX)
                    .fetch_one(&mut *conn)
                    .await?;
            if ready as usize >= spares {
                return Ok(false);
            }
            let name = format!("{SPARE_PREFIX}{}", &super::random_token()[..12]);
            let strategy = if file_copy { " STRATEGY FILE_COPY" } else { "" };
            conn.execute(
                format!("CREATE DATABASE \"{name}\" TEMPLATE {TEMPLATE_DB}{strategy}").as_str(),
            )
            .await?;
            Ok(true)
        })
    })
    .await
}

/// Repeats `step` on one connection: at once while it does work (`true`),
/// after a growing pause (20 to 100 ms) while it has none; reconnects after
/// I/O errors and backs off after others (a template being rebuilt, a race
/// with another session).
async fn background_loop<F>(admin_url: String, step: F)
where
    F: for<'c> Fn(
        &'c mut PgConnection,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<bool, sqlx::Error>> + Send + 'c>,
    >,
{
    let idle = std::time::Duration::from_millis(20);
    let mut pause = idle;
    loop {
        let mut conn = match PgConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        loop {
            match step(&mut conn).await {
                Ok(true) => pause = idle,
                Ok(false) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(100));
                }
                Err(sqlx::Error::Io(_)) | Err(sqlx::Error::PoolClosed) => break,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
        let _ = conn.close().await;
    }
}

/// Claims a spare clone of the template as `database`; `false` when none
/// was ready (the caller clones one itself).
async fn claim_spare(conn: &mut PgConnection, database: &str) -> Result<bool, sqlx::Error> {
    let spares: Vec<(String,)> = sqlx::query_as(
        "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY random() LIMIT 4",
    )
    .bind(SPARE_PREFIX)
    .fetch_all(&mut *conn)
    .await?;
    for (name,) in spares {
        // Renaming is atomic: if another test took it first, it is gone.
        let sql = format!("ALTER DATABASE \"{name}\" RENAME TO \"{database}\"");
        if conn.execute(sql.as_str()).await.is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Rebuilds the template of a kept server when the migrations or SQL
/// fixtures changed since it was built; returns whether it did.
pub(crate) async fn refresh_template(
    admin_url: &str,
    migrations: &Option<PathBuf>,
    fixtures: &[PathBuf],
) -> Result<bool, String> {
    let mark = fingerprint(migrations, fixtures);
    let mut admin = PgConnection::connect(admin_url)
        .await
        .map_err(|e| e.to_string())?;
    // One run at a time decides and rebuilds.
    admin
        .execute("SELECT pg_advisory_lock(7402317)")
        .await
        .map_err(|e| e.to_string())?;
    let current: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(TEMPLATE_DB)
    .fetch_optional(&mut admin)
    .await
    .map_err(|e| e.to_string())?;
    let stale = !matches!(&current, Some((Some(m),)) if *m == mark);
    let result = if stale {
        let drop = async {
            let spares: Vec<(String,)> =
                sqlx::query_as("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
                    .bind(SPARE_PREFIX)
                    .fetch_all(&mut admin)
                    .await?;
            for (name,) in spares {
                admin
                    .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                    .await?;
            }
            if current.is_some() {
                admin
                    .execute(
                        format!("ALTER DATABASE {TEMPLATE_DB} WITH is_template false").as_str(),
                    )
                    .await?;
                admin
                    .execute(format!("DROP DATABASE {TEMPLATE_DB} WITH (FORCE)").as_str())
                    .await?;
            }
            Ok::<_, sqlx::Error>(())
        };
        match drop.await {
            Ok(()) => build_template(admin_url, migrations, fixtures).await,
            Err(e) => Err(format!("dropping the stale template database: {e}")),
        }
    } else {
        Ok(())
    };
    let _ = admin.execute("SELECT pg_advisory_unlock(7402317)").await;
    let _ = admin.close().await;
    result.map(|()| stale)
}

/// A test's own PostgreSQL database, cloned from the session's template
/// (migrations and SQL fixtures already applied).
///
/// ```ignore
/// #[tiered::test(tier = 2)]
/// async fn stores_a_row(pg: tiered::Postgres) -> Result<(), tiered::sqlx::Error> {
///     tiered::sqlx::query("create table t (id int)").execute(pg.pool()).await?;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Postgres {
    pool: PgPool,
    url: String,
    database: String,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl Postgres {
    /// A connection pool to the test's own database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The URL of the test's own database (it carries the session's
    /// password: hand it to processes, do not print it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The name of the test's own database.
    pub fn database(&self) -> &str {
        &self.database
    }
}

fn admin_url() -> Result<String, FixtureError> {
    super::container::endpoint::<Postgres>(ServiceKind::Postgres)
}

impl Fixture for Postgres {
    fn needs(out: &mut Vec<&'static str>) {
        out.push(ServiceKind::Postgres.name());
        out.push(crate::registry::POSTGRES_DATABASE);
    }

    async fn setup(ctx: &TestContext) -> Result<Self, FixtureError> {
        let admin = admin_url()?;
        let err = |e: sqlx::Error| FixtureError::new::<Postgres>(format!("PostgreSQL: {e}"));
        if let Some((database, pool)) = handoff::take_prepared().await {
            // Prepared by this worker while the test before ran: claimed,
            // connected. Dropped in the background after a pass, kept after
            // a failure.
            let closing = pool.clone();
            let name = database.clone();
            ctx.on_teardown(move |passed| {
                Box::pin(async move {
                    if passed {
                        tokio::spawn(async move {
                            closing.close().await;
                            handoff::release(name);
                        });
                        None
                    } else {
                        tokio::spawn(async move { closing.close().await });
                        Some(format!("kept the test database `{name}` for inspection"))
                    }
                })
            });
            return Ok(Postgres {
                pool,
                url: replace_database(&admin, &database),
                database,
            });
        }
        if let Some(database) = handoff::take_handed() {
            // Claimed by the harness before this process started; the
            // harness drops it after a pass and keeps it after a failure.
            let opts: PgConnectOptions = admin.parse().map_err(err)?;
            let pool = PgPoolOptions::new()
                .max_connections(5)
                .connect_with(opts.database(&database))
                .await
                .map_err(err)?;
            let closing = pool.clone();
            ctx.on_teardown(move |_| {
                Box::pin(async move {
                    closing.close().await;
                    None
                })
            });
            return Ok(Postgres {
                pool,
                url: replace_database(&admin, &database),
                database,
            });
        }
        let database = format!(
            "test_{}_{}",
            std::process::id(),
            &super::random_token()[..8]
        );
        let mut conn = PgConnection::connect(&admin).await.map_err(err)?;
        // A spare clone made ahead of time, else a clone made now. A clone
        // fails while another session is connected to the template; nothing
        // here connects to it, but retry briefly all the same.
        let mut attempt = 0;
        let claimed = claim_spare(&mut conn, &database).await.unwrap_or(false);
        if !claimed {
            loop {
                let sql = format!("CREATE DATABASE \"{database}\" TEMPLATE {TEMPLATE_DB}");
                match conn.execute(sql.as_str()).await {
                    Ok(_) => break,
                    Err(e)
                        if attempt < 20
                            && e.to_string().contains("being accessed by other users") =>
                    {
                        attempt += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    Err(e) => return Err(err(e)),
                }
            }
        }
        let _ = conn.close().await;
        let opts: PgConnectOptions = admin.parse().map_err(err)?;
        let opts = opts.database(&database);
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect_with(opts)
            .await
            .map_err(err)?;
        let url = replace_database(&admin, &database);
        let fixture = Postgres {
            pool: pool.clone(),
            url,
            database: database.clone(),
        };
        ctx.on_teardown(move |passed| {
            Box::pin(async move {
                pool.close().await;
                if !passed {
                    return Some(format!(
                        "kept the test database `{database}` for inspection"
                    ));
                }
                let Ok(mut conn) = PgConnection::connect(&admin).await else {
                    return Some(format!("could not drop the test database `{database}`"));
                };
                // Renamed now, dropped in the background by the session;
                // a rename waits only for the pool's connections to go.
                let done = format!("{DONE_PREFIX}{}", &database[database.len().min(5)..]);
                let rename = format!("ALTER DATABASE \"{database}\" RENAME TO \"{done}\"");
                // Connections the test left open would make the rename wait
                // (PostgreSQL waits up to 5 s for them): end them first.
                let mut renamed = false;
                for _ in 0..5 {
                    let _ = sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(&database)
                    .execute(&mut conn)
                    .await;
                    if conn.execute(rename.as_str()).await.is_ok() {
                        renamed = true;
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                let res = if renamed {
                    Ok(())
                } else {
                    let sql = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
                    conn.execute(sql.as_str()).await.map(|_| ())
                };
                let _ = conn.close().await;
                res.err()
                    .map(|e| format!("could not drop the test database `{database}`: {e}"))
            })
        });
        Ok(fixture)
    }
}

fn replace_database(url: &str, database: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => url.to_string(),
    }
}

/// Databases handed to tests without making them wait.
///
/// Two ways, one per run model:
///
/// - **a worker of `cargo tiered`** [`prepare`]s the database of its next
///   test while the current one runs: a spare clone claimed on a connection
///   it keeps, and a pool with its connection open. The test's
///   [`Postgres`] fixture takes it ([`take_prepared`]) at once.
/// - **a binary run alone** claims a spare before it starts a test's child
///   process ([`claim`]) and names it in [`HANDED_ENV`]; the fixture in the
///   child connects to it.
///
/// Either way, the database of a passed test is dropped in the background
/// (`DROP … WITH (FORCE)` on another kept connection, [`release`]), so
/// neither the claim nor the drop is in any test's time; a failed test's
/// database is kept for inspection.
pub(crate) mod handoff {
    use std::collections::VecDeque;
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
    use sqlx::{Connection, Executor, PgConnection};
    use tokio::sync::mpsc;
    use tokio::task::JoinHandle;

    /// Names the database the harness claimed for the test in a child.
    pub const HANDED_ENV: &str = "TIERED_POSTGRES_HANDED_DATABASE";

    struct Handoff {
        admin: String,
        conn: tokio::sync::Mutex<Option<PgConnection>>,
        drops: Mutex<Option<mpsc::UnboundedSender<String>>>,
        dropper: Mutex<Option<JoinHandle<()>>>,
    }

    static HANDOFF: OnceLock<Handoff> = OnceLock::new();
    static HANDED: Mutex<Option<String>> = Mutex::new(None);

    /// A database being prepared, or ready: its name and open pool.
    type Prepared = JoinHandle<Option<(String, PgPool)>>;
    static PREPARED: Mutex<VecDeque<Prepared>> = Mutex::new(VecDeque::new());

    /// The kept connections; started on the current runtime.
    fn handoff(admin: &str) -> &'static Handoff {
        HANDOFF.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let dropper = tokio::spawn(drop_loop(admin.to_string(), rx));
            Handoff {
                admin: admin.to_string(),
                conn: tokio::sync::Mutex::new(None),
                drops: Mutex::new(Some(tx)),
                dropper: Mutex::new(Some(dropper)),
            }
        })
    }

    /// Child side: remembers the handed database and removes the variable,
    /// so processes the test starts do not take it too.
    pub fn adopt_from_env() {
        if let Ok(name) = std::env::var(HANDED_ENV) {
            // SAFETY of the environment: called before any other thread runs.
            std::env::remove_var(HANDED_ENV);
            *HANDED.lock().unwrap_or_else(|p| p.into_inner()) = Some(name);
        }
    }

    /// The handed database, once: a test's second `Postgres` clones its own.
    pub(super) fn take_handed() -> Option<String> {
        HANDED.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Claims a spare clone on the kept connection — or, when none is ready,
    /// clones the template there — under a name of its own.
    async fn claim_async(admin: &str, clone_if_none: bool) -> Option<String> {
        let handoff = handoff(admin);
        let mut guard = handoff.conn.lock().await;
        if guard.is_none() {
            *guard = PgConnection::connect(&handoff.admin).await.ok();
        }
        let conn = guard.as_mut()?;
        let database = format!(
            "test_{}_{}",
            std::process::id(),
            &super::super::random_token()[..8]
        );
        match super::claim_spare(conn, &database).await {
            Ok(true) => Some(database),
            Ok(false) if clone_if_none => {
                let sql = format!(
                    "CREATE DATABASE \"{database}\" TEMPLATE {}",
                    super::TEMPLATE_DB
                );
                conn.execute(sql.as_str()).await.ok().map(|_| database)
            }
            Ok(false) => None,
            Err(_) => {
                // A broken connection is made anew next time.
                *guard = None;
                None
            }
        }
    }

    /// Harness side: claims a spare for a test about to start, with the time
    /// it took; `None` when there is no PostgreSQL or no spare is ready (the
    /// fixture then clones one itself). Runs on `rt`'s threads.
    pub fn claim(rt: &tokio::runtime::Runtime, admin: &str) -> Option<(String, Duration)> {
        let start = Instant::now();
        let name = rt.block_on(claim_async(admin, false))?;
        Some((name, start.elapsed()))
    }

    /// Worker side: starts preparing a database for a coming test on `rt`;
    /// `false` when there is no PostgreSQL in the session.
    pub fn prepare(rt: &tokio::runtime::Runtime) -> bool {
        let Ok(admin) = std::env::var(crate::services::ServiceKind::Postgres.url_env()) else {
            return false;
        };
        let task = rt.spawn(async move {
            let database = claim_async(&admin, true).await?;
            let opts: PgConnectOptions = admin.parse().ok()?;
            match PgPoolOptions::new()
                .max_connections(5)
                .min_connections(1)
                .connect_with(opts.database(&database))
                .await
            {
                Ok(pool) => Some((database, pool)),
                Err(_) => {
                    release(database);
                    None
                }
            }
        });
        PREPARED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(task);
        true
    }

    /// Worker side: databases being prepared or ready.
    pub fn prepared() -> usize {
        PREPARED.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The oldest prepared database and its pool, once ready; `None` when
    /// none is being prepared (or its preparation failed).
    pub(super) async fn take_prepared() -> Option<(String, PgPool)> {
        let task = PREPARED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()?;
        task.await.ok().flatten()
    }

    /// The test passed (or never used it); its database is dropped in the
    /// background.
    pub fn release(database: String) {
        if let Some(h) = HANDOFF.get() {
            if let Some(tx) = h.drops.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                let _ = tx.send(database);
            }
        }
    }

    /// At the end: databases prepared and not taken are dropped, and the
    /// queued drops waited for (at most `limit`), so a kept server is left
    /// without the run's databases.
    pub fn finish(rt: &tokio::runtime::Runtime, limit: Duration) {
        let Some(h) = HANDOFF.get() else { return };
        let unused: Vec<Prepared> = PREPARED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        rt.block_on(async {
            for task in unused {
                if let Ok(Ok(Some((database, pool)))) = tokio::time::timeout(limit, task).await {
                    pool.close().await;
                    release(database);
                }
            }
        });
        h.drops.lock().unwrap_or_else(|p| p.into_inner()).take();
        let dropper = h.dropper.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(dropper) = dropper {
            rt.block_on(async {
                let _ = tokio::time::timeout(limit, dropper).await;
                if let Some(conn) = h.conn.lock().await.take() {
                    let _ = conn.close().await;
                }
            });
        }
    }

    async fn drop_loop(admin: String, mut rx: mpsc::UnboundedReceiver<String>) {
        let mut conn: Option<PgConnection> = None;
        while let Some(database) = rx.recv().await {
            for _ in 0..2 {
                if conn.is_none() {
                    conn = PgConnection::connect(&admin).await.ok();
                }
                let Some(c) = conn.as_mut() else { break };
                let sql = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
                match c.execute(sql.as_str()).await {
                    Ok(_) => break,
                    Err(sqlx::Error::Io(_)) => conn = None,
                    Err(_) => break,
                }
            }
        }
        if let Some(c) = conn {
            let _ = c.close().await;
        }
    }
}
