//! The graph service. This project's machines cannot obtain Neo4j itself;
//! they run a Bolt-speaking stand-in (see README, "What is verified where").
//! What is verified here: the container is real and speaks Bolt, and the
//! session hands its address to test processes.

#[tiered::test(tier = 2, needs = ["neo4j"])]
async fn the_session_graph_server_speaks_bolt() {
    let uri = std::env::var("TIERED_NEO4J_URI").expect("the session exports TIERED_NEO4J_URI");
    let addr = uri.strip_prefix("bolt://").expect("a bolt:// URI");
    let (host, port) = addr.rsplit_once(':').unwrap();
    let (major, minor) = tiered::services::neo4j::bolt_handshake(host, port.parse().unwrap())
        .await
        .expect("a real Bolt handshake");
    assert!(major >= 4, "Bolt {major}.{minor}");
}
