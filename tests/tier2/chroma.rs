use tiered::Chroma;

#[tiered::test(tier = 2)]
async fn answers_heartbeat_and_version(chroma: Chroma) -> Result<(), tiered::reqwest::Error> {
    let hb = chroma
        .http()
        .get(format!("{}/api/v2/heartbeat", chroma.url()))
        .send()
        .await?;
    assert!(hb.status().is_success());
    let v = chroma
        .http()
        .get(format!("{}/api/v2/version", chroma.url()))
        .send()
        .await?
        .text()
        .await?;
    assert!(v.trim_matches('"').starts_with('1'), "{v}");
    Ok(())
}

#[tiered::test(tier = 2)]
async fn same_collection_a(chroma: Chroma) -> Result<(), tiered::reqwest::Error> {
    same_collection_name(&chroma).await
}

#[tiered::test(tier = 2)]
async fn same_collection_b(chroma: Chroma) -> Result<(), tiered::reqwest::Error> {
    same_collection_name(&chroma).await
}

/// Both tests create "docs" in their own tenant: neither sees the other's.
async fn same_collection_name(chroma: &Chroma) -> Result<(), tiered::reqwest::Error> {
    let list: serde_json::Value = chroma
        .http()
        .get(chroma.collections_url())
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(0),
        "tenant {} was not empty: {list}",
        chroma.tenant()
    );
    let created = chroma
        .http()
        .post(chroma.collections_url())
        .json(&serde_json::json!({ "name": "docs" }))
        .send()
        .await?;
    assert!(created.status().is_success(), "{}", created.text().await?);
    let list: serde_json::Value = chroma
        .http()
        .get(chroma.collections_url())
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    Ok(())
}
