//! Tier 2: the service fixtures against real containers — never mocks.
//! The services come from the session (`cargo tiered`, or this binary's own
//! when run alone with `cargo test --test tier2`).

// PostgreSQL: a database per test, cloned from the migrated template.
mod postgres;
// Redis: a logical database per test.
mod redis;
// ChromaDB: a tenant and database per test.
mod chroma;
// Neo4j: the session's Bolt server, tests one at a time.
mod neo4j;
// A test author's own fixture built on a service fixture.
mod custom_fixture;

tiered::main!();
