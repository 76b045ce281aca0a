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
