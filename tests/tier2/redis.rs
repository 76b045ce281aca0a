use tiered::redis::AsyncCommands;
use tiered::Redis;

#[tiered::test(tier = 2)]
async fn answers_ping_and_info(redis: Redis) -> Result<(), tiered::redis::RedisError> {
    let mut c = redis.client().get_multiplexed_async_connection().await?;
    let pong: String = tiered::redis::cmd("PING").query_async(&mut c).await?;
    assert_eq!(pong, "PONG");
    let info: String = tiered::redis::cmd("INFO")
        .arg("server")
        .query_async(&mut c)
        .await?;
    assert!(info.contains("redis_version:"));
    Ok(())
}

#[tiered::test(tier = 2)]
async fn same_key_a(redis: Redis) -> Result<(), tiered::redis::RedisError> {
    same_key_own_value(&redis, "a").await
}

#[tiered::test(tier = 2)]
async fn same_key_b(redis: Redis) -> Result<(), tiered::redis::RedisError> {
    same_key_own_value(&redis, "b").await
}

async fn same_key_own_value(redis: &Redis, me: &str) -> Result<(), tiered::redis::RedisError> {
    let mut c = redis.client().get_multiplexed_async_connection().await?;
    let before: Option<String> = c.get("shared-key").await?;
    assert_eq!(
        before,
        None,
        "the logical database {} was not empty",
        redis.database()
    );
    for _ in 0..20 {
        let () = c.set("shared-key", me).await?;
        tokio::task::yield_now().await;
        let now: String = c.get("shared-key").await?;
        assert_eq!(now, me, "another test wrote our key");
    }
    Ok(())
}

#[tiered::test(tier = 2)]
async fn a_wrong_password_is_refused(redis: Redis) {
    let url = redis.url();
    let (scheme_and_auth, rest) = url.split_once('@').unwrap();
    assert!(
        scheme_and_auth.starts_with("redis://:"),
        "the session sets a password"
    );
    let bad = tiered::redis::Client::open(format!("redis://:wrong@{rest}")).unwrap();
    let res = bad.get_multiplexed_async_connection().await;
    assert!(res.is_err(), "a wrong password must be refused");
}
