use super::super::bindings::HostError;
use super::super::bindings::api::aura::host::graph::{Host, ResultSet, Value};
use super::super::grants::Access;
use super::super::state::PluginState;
use super::{host_call, taped};
use aura_services::graph::ANSWER_ROWS;
use aura_services::{Cypher, GraphValue, Row};

const SERVER_MARGIN: std::time::Duration = std::time::Duration::from_millis(100);

impl Host for PluginState {
    async fn query(
        &mut self,
        cypher: String,
        params: Vec<(String, Value)>,
    ) -> wasmtime::Result<Result<ResultSet, HostError>> {
        run(self, "graph.query", Access::Read, cypher, params).await
    }

    async fn execute(
        &mut self,
        cypher: String,
        params: Vec<(String, Value)>,
    ) -> wasmtime::Result<Result<ResultSet, HostError>> {
        run(self, "graph.execute", Access::Write, cypher, params).await
    }
}

async fn run(
    state: &mut PluginState,
    call: &'static str,
    access: Access,
    cypher: String,
    params: Vec<(String, Value)>,
) -> wasmtime::Result<Result<ResultSet, HostError>> {
    taped!(
        state,
        call,
        [cypher, params],
        async {
            let ctx = &mut state.call;
            let arg_bytes = cypher.len()
                + params
                    .iter()
                    .map(|(n, v)| n.len() + value_len(v))
                    .sum::<usize>();
            let mut statement = Cypher::new(cypher);
            statement.read_only = access == Access::Read;
            // The server gives up a little before the plugin's deadline, so the plugin hears
            // `timeout` from it rather than being cut off, and the server's work ends with the call.
            statement.timeout = Some(ctx.time_left().saturating_sub(SERVER_MARGIN));
            statement.max_rows = Some(ANSWER_ROWS);
            for (name, value) in params {
                match from_wit(value) {
                    Ok(v) => statement.params.insert(name, v),
                    Err(e) => {
                        return Ok(Err(HostError::Invalid(format!("parameter ${name}: {e}"))));
                    }
                };
            }
            let grant = ctx.grants.check_graph(access);
            let (hub, run) = (ctx.hub.clone(), ctx.run_id.clone());
            // Only the run's own graph: where the backend has no graph per run, a query could
            // read every run's data, so there is none.
            let rows = host_call!(ctx, call, grant, arg_bytes, async move {
                match hub.plugin_run_graph(&run).await? {
                    Some(graph) => graph.query(statement).await.map(Ok),
                    None => Ok(Err(HostError::Unavailable(
                        "the graph interface needs a graph per run, which this backend (Neo4j) \
                     does not have; plugins' graph queries are confined to their run on FalkorDB"
                            .into(),
                    ))),
                }
            })?;
            let rows = rows.and_then(|r| r);
            Ok(ctx.answer(call, rows.map(to_result_set), |set| {
                set.columns.iter().map(String::len).sum::<usize>()
                    + set.rows.iter().flatten().map(value_len).sum::<usize>()
            }))
        }
        .await
    )
}

fn to_result_set(rows: Vec<Row>) -> ResultSet {
    ResultSet {
        columns: rows.first().map(|r| r.columns.clone()).unwrap_or_default(),
        rows: rows
            .into_iter()
            .map(|r| r.values.into_iter().map(to_wit).collect())
            .collect(),
    }
}

fn to_wit(value: GraphValue) -> Value {
    match value {
        GraphValue::Null => Value::Null,
        GraphValue::Bool(b) => Value::Boolean(b),
        GraphValue::Int(i) => Value::Integer(i),
        GraphValue::Float(f) => Value::Float(f),
        GraphValue::String(s) => Value::Text(s),
        other => Value::Json(serde_json::to_string(&other).unwrap_or_default()),
    }
}

fn from_wit(value: Value) -> Result<GraphValue, String> {
    Ok(match value {
        Value::Null => GraphValue::Null,
        Value::Boolean(b) => GraphValue::Bool(b),
        Value::Integer(i) => GraphValue::Int(i),
        Value::Float(f) => GraphValue::Float(f),
        Value::Text(s) => GraphValue::String(s),
        Value::Json(j) => serde_json::from_str(&j).map_err(|e| format!("not JSON: {e}"))?,
    })
}

fn value_len(v: &Value) -> usize {
    match v {
        Value::Text(s) | Value::Json(s) => s.len() + 8,
        _ => 8,
    }
}
