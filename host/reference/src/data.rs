//! The graph statement that persists a decision. Where the target writes in every store
//! is named once, in `aura_contract::names` (and described in `docs/data-model.md`).

use aura_contract::names::graph;

use crate::request::Decision;
use aura_services::Cypher;

/// The whole decision in one statement, so the graph never holds half of it. MERGE
/// makes a retried step rewrite the same nodes instead of adding new ones.
pub fn persist_decision(d: &Decision) -> Cypher {
    let r = &d.request;
    let votes = &d.votes;
    Cypher::new(graph::cypher(
        "MERGE (r:<Request> {<run_id>: $run_id, <request_id>: $request_id}) \
         SET r.team = $team, r.gpu_count = $gpu_count, r.gpu_model = $gpu_model, \
             r.memory_gb = $memory_gb, r.priority = $priority, \
             r.duration_minutes = $duration_minutes \
         MERGE (d:<Decision> {<run_id>: $run_id, <request_id>: $request_id}) \
         SET d.outcome = $outcome, d.reason_class = $reason_class, d.reason = $reason, \
             d.quorum = $quorum, d.approve_weight = $approve_weight, \
             d.deny_weight = $deny_weight, d.decided_at = $decided_at, \
             d.workflow_id = $workflow_id \
         MERGE (r)-[:<DECIDED_BY>]->(d) \
         FOREACH (i IN range(0, size($agents) - 1) | \
             MERGE (a:<Agent> {<run_id>: $run_id, <agent_id>: $agents[i]}) \
             MERGE (a)-[v:<VOTED>]->(d) \
             SET v.approve = $approves[i], v.confidence = $confidences[i], \
                 v.abstained = $abstained[i]) \
         FOREACH (i IN range(0, size($devices) - 1) | \
             MERGE (g:<Gpu> {<run_id>: $run_id, <device_id>: $devices[i]}) \
             SET g.model = $models[i], g.memory_gb = $memories[i] \
             MERGE (d)-[:<ALLOCATES>]->(g)) \
         RETURN d.outcome AS outcome",
    ))
    .idempotent()
    .param("run_id", d.run_id.as_str())
    .param("request_id", d.request_id.as_str())
    .param("workflow_id", d.workflow_id.as_str())
    .param("team", r.team.as_str())
    .param("gpu_count", r.gpu_count as i64)
    .param("gpu_model", r.gpu_model.clone())
    .param("memory_gb", r.memory_gb as i64)
    .param("priority", r.priority as i64)
    .param("duration_minutes", r.duration_minutes as i64)
    .param("outcome", d.outcome.name())
    .param("reason_class", d.denial.as_ref().map(|x| x.class.name()))
    .param("reason", d.denial.as_ref().map(|x| x.message.clone()))
    .param("quorum", d.quorum)
    .param("approve_weight", d.approve_weight as f64)
    .param("deny_weight", d.deny_weight as f64)
    .param("decided_at", d.decided_at)
    .param(
        "agents",
        votes.iter().map(|v| v.agent_id.clone()).collect::<Vec<_>>(),
    )
    .param(
        "approves",
        votes.iter().map(|v| v.approve).collect::<Vec<_>>(),
    )
    .param(
        "confidences",
        votes
            .iter()
            .map(|v| v.confidence as f64)
            .collect::<Vec<_>>(),
    )
    .param(
        "abstained",
        votes.iter().map(|v| v.abstained).collect::<Vec<_>>(),
    )
    .param(
        "devices",
        d.devices.iter().map(|g| g.id.clone()).collect::<Vec<_>>(),
    )
    .param(
        "models",
        d.devices
            .iter()
            .map(|g| g.model.clone())
            .collect::<Vec<_>>(),
    )
    .param(
        "memories",
        d.devices
            .iter()
            .map(|g| g.memory_gb as i64)
            .collect::<Vec<_>>(),
    )
}
