use tiered::sqlx::{self, Row};
use tiered::Postgres;

#[tiered::test(tier = 2)]
async fn answers_a_real_query(pg: Postgres) -> Result<(), sqlx::Error> {
    let row = sqlx::query("select version() as v")
        .fetch_one(pg.pool())
        .await?;
    let v: String = row.get("v");
    assert!(v.starts_with("PostgreSQL 15"), "{v}");
    Ok(())
}

#[tiered::test(tier = 2)]
async fn every_database_has_the_migrations_and_seed(pg: Postgres) -> Result<(), sqlx::Error> {
    let n: i64 =
        sqlx::query_scalar("select count(*) from accounts where email = 'seed@example.test'")
            .fetch_one(pg.pool())
            .await?;
    assert_eq!(n, 1);
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables where table_schema = 'public' order by 1",
    )
    .fetch_all(pg.pool())
    .await?;
    assert!(tables.contains(&"products".to_string()), "{tables:?}");
    Ok(())
}

/// Run concurrently with `isolated_b`: the same table name, different rows.
#[tiered::test(tier = 2)]
async fn isolated_a(pg: Postgres) -> Result<(), sqlx::Error> {
    same_table_different_rows(&pg, "a").await
}

#[tiered::test(tier = 2)]
async fn isolated_b(pg: Postgres) -> Result<(), sqlx::Error> {
    same_table_different_rows(&pg, "b").await
}

async fn same_table_different_rows(pg: &Postgres, me: &str) -> Result<(), sqlx::Error> {
    sqlx::query("create table shared_name (who text)")
        .execute(pg.pool())
        .await?;
    for _ in 0..20 {
        sqlx::query("insert into shared_name values ($1)")
            .bind(me)
            .execute(pg.pool())
            .await?;
        tokio::task::yield_now().await;
    }
    let whos: Vec<String> = sqlx::query_scalar("select distinct who from shared_name")
        .fetch_all(pg.pool())
        .await?;
    assert_eq!(
        whos,
        [me.to_string()],
        "another test's rows leaked into {}",
        pg.database()
    );
    Ok(())
}

#[tiered::test(tier = 2)]
async fn the_database_is_the_tests_own(pg: Postgres) -> Result<(), sqlx::Error> {
    let current: String = sqlx::query_scalar("select current_database()::text")
        .fetch_one(pg.pool())
        .await?;
    assert_eq!(current, pg.database());
    assert!(pg.database().starts_with("test_"));
    assert!(pg.url().ends_with(pg.database()));
    Ok(())
}

#[tiered::test(tier = 2)]
async fn debug_output_carries_no_credentials(pg: Postgres, redis: tiered::Redis) {
    let admin = std::env::var("TIERED_POSTGRES_URL").unwrap();
    let password = admin.split(':').nth(2).unwrap().split('@').next().unwrap();
    assert!(
        password.len() >= 16,
        "a session password, not a default one"
    );
    let shown = format!("{pg:?} {redis:?}");
    assert!(!shown.contains(password), "{shown}");
}

#[tiered::test(tier = 2)]
async fn real_queries_are_measured(pg: Postgres, perf: tiered::Perf) -> Result<(), sqlx::Error> {
    for _ in 0..5 {
        perf.measure(
            "database_query",
            sqlx::query("select count(*) from accounts").fetch_one(pg.pool()),
        )
        .await?;
    }
    let failed = perf
        .measure(
            "database_query",
            sqlx::query("select * from no_such_table").execute(pg.pool()),
        )
        .await;
    assert!(failed.is_err(), "the operation's own result comes back");
    Ok(())
}
