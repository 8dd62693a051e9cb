//! Neo4j 5 over Bolt with neo4rs: the graph of the compose profile and real deployments.

use std::collections::BTreeMap;

use async_trait::async_trait;
use neo4rs::{BoltList, BoltMap, BoltNull, BoltString, BoltType, ConfigBuilder, Graph};

use super::graph::{GraphStore, GraphValue, Node, Relationship, Row, node_count};
use super::{Cypher, Endpoint, Failure, ServiceError, ServiceFacts, ServiceKind, display_address};
use crate::config::{GraphBackend, GraphConfig};

pub struct Neo4jGraph {
    endpoint: Endpoint,
    database: String,
    graph: Graph,
}

impl Neo4jGraph {
    pub async fn connect(config: &GraphConfig) -> Result<Self, ServiceError> {
        let endpoint = Endpoint::new(
            ServiceKind::Graph,
            display_address(&config.url),
            config.timeout,
        );
        let neo_config = ConfigBuilder::default()
            .uri(config.url.as_str())
            .user(config.user.clone().unwrap_or_else(|| "neo4j".into()))
            .password(config.password.clone().unwrap_or_default())
            .db(config.database.as_str())
            .max_connections(8)
            .build()
            .map_err(|e| endpoint.error(Failure::Address(e.to_string())))?;
        // The pool connects lazily; a first round trip proves the server answers.
        let graph = Graph::connect(neo_config)
            .map_err(|e| endpoint.error(Failure::Connect(e.to_string())))?;
        endpoint
            .connect(|| async { graph.run("RETURN 1").await })
            .await?;
        Ok(Self {
            endpoint,
            database: config.database.clone(),
            graph,
        })
    }
}

#[async_trait]
impl GraphStore for Neo4jGraph {
    fn backend(&self) -> GraphBackend {
        GraphBackend::Neo4j
    }

    fn address(&self) -> &str {
        &self.endpoint.address
    }

    async fn query(&self, cypher: Cypher) -> Result<Vec<Row>, ServiceError> {
        let operation = "Cypher query";
        let mut query = neo4rs::query(&cypher.text);
        for (name, value) in &cypher.params {
            query = query.param(name, to_bolt(value));
        }
        let run = async {
            let mut stream = if cypher.read_only {
                self.graph.execute_read(query).await?
            } else {
                self.graph.execute(query).await?
            };
            // Rows are streamed: reading stops one row past the maximum.
            let mut rows = Vec::new();
            while let Some(row) = stream.next().await? {
                rows.push(row);
                if cypher.too_many(rows.len()) {
                    break;
                }
            }
            Ok::<_, neo4rs::Error>(rows)
        };
        // Neo4j has no per-query timeout over Bolt here: the server's
        // `db.transaction.timeout` (set in the compose file) bounds its work.
        let rows = self.endpoint.call(operation, run).await?;
        if cypher.too_many(rows.len()) {
            return Err(self.endpoint.error(Failure::TooLarge {
                operation: operation.into(),
                max: cypher.max_rows.unwrap_or_default(),
                unit: "rows",
            }));
        }
        rows.into_iter()
            .map(|row| {
                let columns: Vec<String> = row.keys().iter().map(|k| k.value.clone()).collect();
                let values = columns
                    .iter()
                    .map(|c| {
                        row.get::<BoltType>(c)
                            .map_err(|e| e.to_string())
                            .and_then(from_bolt)
                    })
                    .collect::<Result<Vec<_>, String>>()
                    .map_err(|e| self.endpoint.protocol_error(operation, e))?;
                Ok(Row { columns, values })
            })
            .collect()
    }

    async fn delete_graph(&self) -> Result<(), ServiceError> {
        Err(self.endpoint.op_error(
            "delete graph",
            "Neo4j keeps every run in one database; a run's data is removed by its run_id",
        ))
    }

    async fn probe(&self) -> Result<ServiceFacts, ServiceError> {
        let rows = self
            .query(Cypher::new(
                "CALL dbms.components() YIELD name, versions, edition RETURN name, versions[0] AS version, edition",
            ))
            .await?;
        let version = rows.first().map(|r| {
            let field = |c: &str| {
                r.get(c)
                    .and_then(GraphValue::as_str)
                    .unwrap_or("?")
                    .to_string()
            };
            format!(
                "{} {} {}",
                field("name"),
                field("version"),
                field("edition")
            )
        });
        let nodes = node_count(self).await?;
        Ok(ServiceFacts {
            version,
            ..ServiceFacts::default()
        }
        .with("backend", "neo4j")
        .with("database", self.database.clone())
        .with("node_count", nodes))
    }
}

fn to_bolt(value: &GraphValue) -> BoltType {
    match value {
        GraphValue::Null => BoltType::Null(BoltNull),
        GraphValue::Bool(b) => BoltType::from(*b),
        GraphValue::Int(i) => BoltType::from(*i),
        GraphValue::Float(f) => BoltType::from(*f),
        GraphValue::String(s) => BoltType::from(s.as_str()),
        GraphValue::List(l) => BoltType::List(BoltList {
            value: l.iter().map(to_bolt).collect(),
        }),
        GraphValue::Map(m)
        | GraphValue::Node(Node { properties: m, .. })
        | GraphValue::Relationship(Relationship { properties: m, .. }) => BoltType::Map(BoltMap {
            value: m
                .iter()
                .map(|(k, v)| (BoltString::from(k.as_str()), to_bolt(v)))
                .collect(),
        }),
    }
}

fn from_bolt(value: BoltType) -> Result<GraphValue, String> {
    let props = |m: BoltMap| {
        m.value
            .into_iter()
            .map(|(k, v)| Ok((k.value, from_bolt(v)?)))
            .collect::<Result<BTreeMap<_, _>, String>>()
    };
    Ok(match value {
        BoltType::Null(_) => GraphValue::Null,
        BoltType::Boolean(b) => GraphValue::Bool(b.value),
        BoltType::Integer(i) => GraphValue::Int(i.value),
        BoltType::Float(f) => GraphValue::Float(f.value),
        BoltType::String(s) => GraphValue::String(s.value),
        BoltType::List(l) => GraphValue::List(
            l.value
                .into_iter()
                .map(from_bolt)
                .collect::<Result<_, _>>()?,
        ),
        BoltType::Map(m) => GraphValue::Map(props(m)?),
        BoltType::Node(n) => GraphValue::Node(Node {
            labels: n
                .labels
                .value
                .into_iter()
                .filter_map(|l| match l {
                    BoltType::String(s) => Some(s.value),
                    _ => None,
                })
                .collect(),
            properties: props(n.properties)?,
        }),
        BoltType::Relation(r) => GraphValue::Relationship(Relationship {
            rel_type: r.typ.value,
            properties: props(r.properties)?,
        }),
        BoltType::UnboundedRelation(r) => GraphValue::Relationship(Relationship {
            rel_type: r.typ.value,
            properties: props(r.properties)?,
        }),
        other => return Err(format!("value type not supported by aura-host: {other:?}")),
    })
}
