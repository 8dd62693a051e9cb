//! One conformance suite for every graph backend that is reachable: FalkorDB always (the
//! local environment), Neo4j when `AURA_NEO4J_URL` points at one (with `AURA_NEO4J_USER`,
//! `AURA_NEO4J_PASSWORD`, `AURA_NEO4J_DATABASE`).

use crate::common;

use std::collections::BTreeMap;

use aura_services::config::{GraphBackend, GraphConfig};
use aura_services::falkordb::FalkorGraph;
use aura_services::graph::{self, Node};
use aura_services::{Cypher, GraphStore, GraphValue, ServiceKind};

/// Each backend with a fresh, isolated place to write: a new graph key on FalkorDB; on
/// Neo4j (one database) every node a test writes carries the test's unique `tag`.
struct Backend {
    store: Box<dyn GraphStore>,
    falkor: Option<FalkorGraph>,
}

impl Backend {
    async fn cleanup(self, tag: &str) {
        match self.falkor {
            Some(f) => f.delete_graph().await.expect("delete test graph"),
            None => {
                self.store
                    .query(
                        Cypher::new("MATCH (n) WHERE n.tag = $tag DETACH DELETE n")
                            .param("tag", tag),
                    )
                    .await
                    .expect("delete test nodes");
            }
        }
    }
}

async fn backends() -> Vec<Backend> {
    let config = common::config();
    let shared = FalkorGraph::connect(&config.services.graph)
        .await
        .expect("FalkorDB reachable");
    let isolated = shared.with_database(&common::unique("conformance"));
    let mut all = vec![Backend {
        store: Box::new(isolated.clone()),
        falkor: Some(isolated),
    }];
    match std::env::var("AURA_NEO4J_URL") {
        Ok(url) => {
            let neo = GraphConfig {
                backend: GraphBackend::Neo4j,
                url,
                database: std::env::var("AURA_NEO4J_DATABASE").unwrap_or_else(|_| "neo4j".into()),
                user: std::env::var("AURA_NEO4J_USER").ok(),
                password: std::env::var("AURA_NEO4J_PASSWORD").ok(),
                ..GraphConfig::default()
            };
            all.push(Backend {
                store: graph::connect(&neo)
                    .await
                    .expect("Neo4j at AURA_NEO4J_URL reachable"),
                falkor: None,
            });
        }
        Err(_) => eprintln!("skipping the Neo4j backend: AURA_NEO4J_URL is not set"),
    }
    all
}

#[tokio::test]
async fn parameters_round_trip_with_their_types() {
    for b in backends().await {
        let tag = common::unique("types");
        let text = "it's \"quoted\" \\ and $not_a_param";
        let rows = b
            .store
            .query(
                Cypher::new(
                    "CREATE (n:Probe {tag: $tag, s: $s, i: $i, f: $f, b: $b, l: $l}) \
                     RETURN n.s AS s, n.i AS i, n.f AS f, n.b AS b, n.l AS l",
                )
                .param("tag", tag.as_str())
                .param("s", text)
                .param("i", -42i64)
                .param("f", 2.5f64)
                .param("b", true)
                .param("l", vec![1i64, 2, 3]),
            )
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", b.store.backend()));
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.columns, ["s", "i", "f", "b", "l"]);
        assert_eq!(row.get("s"), Some(&GraphValue::String(text.into())));
        assert_eq!(row.get("i"), Some(&GraphValue::Int(-42)));
        assert_eq!(row.get("f"), Some(&GraphValue::Float(2.5)));
        assert_eq!(row.get("b"), Some(&GraphValue::Bool(true)));
        assert_eq!(row.get("l"), Some(&GraphValue::from(vec![1i64, 2, 3])));
        b.cleanup(&tag).await;
    }
}

#[tokio::test]
async fn nodes_and_relationships_come_back_typed() {
    for b in backends().await {
        let tag = common::unique("rels");
        b.store
            .query(
                Cypher::new(
                    "CREATE (r:Request {tag: $tag, id: $id})-[:DECIDED_BY {at: 1}]->(d:Decision {tag: $tag, approved: true})",
                )
                .param("tag", tag.as_str())
                .param("id", "req-1"),
            )
            .await
            .expect("create");
        let rows = b
            .store
            .query(
                Cypher::new(
                    "MATCH (r:Request {tag: $tag})-[e:DECIDED_BY]->(d:Decision) RETURN r, e, d",
                )
                .param("tag", tag.as_str()),
            )
            .await
            .expect("match");
        assert_eq!(rows.len(), 1, "{:?}", b.store.backend());
        let Some(GraphValue::Node(Node { labels, properties })) = rows[0].get("r") else {
            panic!("r is not a node: {:?}", rows[0])
        };
        assert_eq!(labels, &["Request"]);
        assert_eq!(
            properties.get("id"),
            Some(&GraphValue::String("req-1".into()))
        );
        let Some(GraphValue::Relationship(rel)) = rows[0].get("e") else {
            panic!("e is not a relationship: {:?}", rows[0])
        };
        assert_eq!(rel.rel_type, "DECIDED_BY");
        assert_eq!(
            rel.properties,
            BTreeMap::from([("at".to_string(), GraphValue::Int(1))])
        );
        b.cleanup(&tag).await;
    }
}

#[tokio::test]
async fn aggregates_and_empty_results() {
    for b in backends().await {
        let tag = common::unique("agg");
        b.store
            .query(
                Cypher::new("UNWIND range(1, 5) AS i CREATE (:Gpu {tag: $tag, index: i})")
                    .param("tag", tag.as_str()),
            )
            .await
            .expect("create");
        let rows = b
            .store
            .query(
                Cypher::new(
                    "MATCH (g:Gpu {tag: $tag}) RETURN count(g) AS n, sum(g.index) AS total",
                )
                .param("tag", tag.as_str()),
            )
            .await
            .expect("aggregate");
        assert_eq!(rows[0].get("n"), Some(&GraphValue::Int(5)));
        // sum() is a float on FalkorDB and an integer on Neo4j; the value is what matters.
        assert_eq!(
            rows[0].get("total").and_then(GraphValue::as_f64),
            Some(15.0)
        );
        let none = b
            .store
            .query(
                Cypher::new("MATCH (g:Gpu {tag: $tag}) WHERE g.index > 99 RETURN g")
                    .param("tag", tag.as_str()),
            )
            .await
            .expect("empty match");
        assert!(none.is_empty());
        b.cleanup(&tag).await;
    }
}

#[tokio::test]
async fn a_bad_query_names_the_service_and_the_server_error() {
    for b in backends().await {
        let err = b
            .store
            .query(Cypher::new("MATCH (n) RETURN n.nope AS x ORDER BY"))
            .await
            .expect_err("a syntax error must fail");
        assert_eq!(err.service, ServiceKind::Graph);
        let text = err.to_string();
        assert!(text.starts_with("graph at "), "{text}");
        assert!(text.contains(b.store.address()), "{text}");
        b.cleanup("none").await;
    }
}

#[tokio::test]
async fn probe_reports_version_database_and_node_count() {
    for b in backends().await {
        let tag = common::unique("probe");
        b.store
            .query(
                Cypher::new("CREATE (:Probe {tag: $tag}), (:Probe {tag: $tag})")
                    .param("tag", tag.as_str()),
            )
            .await
            .expect("create");
        let facts = b.store.probe().await.expect("probe");
        let version = facts.version.expect("a version");
        let count = facts
            .details
            .get("node_count")
            .and_then(|v| v.as_i64())
            .expect("node_count");
        match b.store.backend() {
            GraphBackend::Falkordb => {
                assert!(version.starts_with("FalkorDB "), "{version}");
                assert_eq!(count, 2, "a fresh graph holds only this test's nodes");
            }
            GraphBackend::Neo4j => assert!(version.contains("Neo4j"), "{version}"),
        }
        b.cleanup(&tag).await;
    }
}

/// A backup's way for Neo4j (`backup create` with a Neo4j graph): every node and
/// relationship read with Cypher and written into another graph, linked as they were.
#[tokio::test]
async fn a_graph_read_for_a_backup_writes_back_the_same() {
    use aura_host::environment::backup::{GraphEntry, read_graph, write_graph};
    let shape = |entries: Vec<GraphEntry>| {
        let mut nodes = BTreeMap::new();
        let mut out: Vec<String> = Vec::new();
        for e in &entries {
            if let GraphEntry::Node {
                id,
                labels,
                properties,
            } = e
            {
                nodes.insert(*id, format!("{labels:?}{properties:?}"));
                out.push(format!("node {labels:?}{properties:?}"));
            }
        }
        for e in &entries {
            if let GraphEntry::Relationship {
                from,
                to,
                rel_type,
                properties,
            } = e
            {
                out.push(format!(
                    "{:?}-[{rel_type} {properties:?}]->{:?}",
                    nodes.get(from),
                    nodes.get(to)
                ));
            }
        }
        out.sort();
        out
    };
    let config = common::config();
    let shared = FalkorGraph::connect(&config.services.graph)
        .await
        .expect("FalkorDB reachable");
    let (from, to) = (
        shared.with_database(&common::unique("backup-from")),
        shared.with_database(&common::unique("backup-to")),
    );
    from.query(Cypher::new(
        "CREATE (r:Request:Gpu {id: 'req-1', n: 2, w: 0.5, ok: true, l: [1, 2]})-[:DECIDED_BY {at: 1}]->(d:Decision {approved: true}), \
         (r)-[:LEASED {device: 'gpu-0'}]->(:Device {id: 'gpu-0'}), (:Lonely)",
    ))
    .await
    .expect("create");
    let read = read_graph(&from).await.expect("read");
    assert_eq!(read.len(), 4 + 2, "{read:?}");
    write_graph(&to, &read).await.expect("write");
    let back = read_graph(&to).await.expect("read back");
    assert_eq!(shape(back), shape(read));
    let marks = to
        .query(Cypher::new(
            "MATCH (n) WHERE n._aura_backup_id IS NOT NULL RETURN count(n) AS n",
        ))
        .await
        .expect("count");
    assert_eq!(
        marks[0].get("n"),
        Some(&GraphValue::Int(0)),
        "no restore mark is left"
    );
    from.delete_graph().await.expect("delete");
    to.delete_graph().await.expect("delete");
}
