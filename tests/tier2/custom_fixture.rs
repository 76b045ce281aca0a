//! A test author's own fixture: `Catalog` builds on `tiered::Postgres` and
//! loads `fixtures/data/catalog.sql` into the test's own database.

use tiered::{Fixture, FixtureError, Postgres, TestContext};

pub struct Catalog {
    pub pg: Postgres,
}

impl Fixture for Catalog {
    fn needs(out: &mut Vec<&'static str>) {
        Postgres::needs(out);
    }

    async fn setup(ctx: &TestContext) -> Result<Self, FixtureError> {
        let pg = Postgres::setup(ctx).await?;
        let sql = include_str!("../../fixtures/data/catalog.sql");
        tiered::sqlx::raw_sql(sql)
            .execute(pg.pool())
            .await
            .map_err(FixtureError::new::<Catalog>)?;
        Ok(Catalog { pg })
    }
}

#[tiered::test(tier = 2)]
async fn the_catalog_is_loaded(catalog: Catalog) -> Result<(), tiered::sqlx::Error> {
    let n: i64 = tiered::sqlx::query_scalar("select count(*) from products")
        .fetch_one(catalog.pg.pool())
        .await?;
    assert_eq!(n, 3);
    Ok(())
}

#[tiered::test(tier = 2)]
async fn two_fixtures_in_one_test(
    catalog: Catalog,
    redis: tiered::Redis,
) -> Result<(), Box<dyn std::error::Error>> {
    let name: String =
        tiered::sqlx::query_scalar("select name from products where sku = 'tea-001'")
            .fetch_one(catalog.pg.pool())
            .await?;
    let mut c = redis.client().get_multiplexed_async_connection().await?;
    let () = tiered::redis::AsyncCommands::set(&mut c, "tea-001", &name).await?;
    let cached: String = tiered::redis::AsyncCommands::get(&mut c, "tea-001").await?;
    assert_eq!(cached, "Green tea");
    Ok(())
}

/// A session-scoped value: built once, before the tests, by the harness,
/// with the session's services in reach; every test process receives it.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct BuildStamp {
    build_id: i64,
    built_by_pid: u32,
}

impl tiered::SessionFixture for BuildStamp {
    fn needs(out: &mut Vec<&'static str>) {
        out.push("postgres");
    }

    async fn setup_session() -> Result<Self, FixtureError> {
        let url = std::env::var("TIERED_POSTGRES_URL").map_err(FixtureError::new::<BuildStamp>)?;
        let pool = tiered::sqlx::PgPool::connect(&url)
            .await
            .map_err(FixtureError::new::<BuildStamp>)?;
        tiered::sqlx::query("create table if not exists session_builds (id bigserial primary key)")
            .execute(&pool)
            .await
            .map_err(FixtureError::new::<BuildStamp>)?;
        let build_id: i64 =
            tiered::sqlx::query_scalar("insert into session_builds default values returning id")
                .fetch_one(&pool)
                .await
                .map_err(FixtureError::new::<BuildStamp>)?;
        Ok(BuildStamp {
            build_id,
            built_by_pid: std::process::id(),
        })
    }
}

async fn built_once(stamp: &BuildStamp) {
    assert_ne!(
        stamp.built_by_pid,
        std::process::id(),
        "built outside this test's process"
    );
    let url = std::env::var("TIERED_POSTGRES_URL").unwrap();
    let pool = tiered::sqlx::PgPool::connect(&url).await.unwrap();
    let builds: i64 = tiered::sqlx::query_scalar("select count(*) from session_builds")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        (builds, stamp.build_id),
        (1, 1),
        "one build for the whole session"
    );
}

#[tiered::test(tier = 2)]
async fn a_session_value_is_built_once_a(stamp: tiered::PerSession<BuildStamp>) {
    built_once(&stamp).await;
}

#[tiered::test(tier = 2)]
async fn a_session_value_is_built_once_b(stamp: tiered::PerSession<BuildStamp>) {
    built_once(&stamp).await;
}
