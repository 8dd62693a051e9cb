// Generated from aura-contract's names by aura-host (`aura-host plugin sdk`); do not edit.
// Where one run's data lives in every store: the names the host, the Rust SDK and
// this SDK share (docs/data-model.md).

export const WORKFLOW_TYPE = "GpuAllocationWorkflow";
export const DECIDED_TOPIC = "gpu.allocation.decided";
export const RUN_ID_HEADER = "aura-run-id";
export const RUN_ID_PROPERTY = "run_id";

/** The full Redis key of `name` in the run. */
export function key(runId, name) {
  return `aura:${runId}:${name}`;
}

/** The full Kafka topic of `name` in the run. */
export function topic(runId, name) {
  return `aura.${runId}.${name}`;
}

/** The Redis key of a request's decision. */
export function decisionKey(runId, requestId) {
  return `aura:${runId}:decision:${requestId}`;
}

/** The Redis key of the council's context window. */
export function contextKey(runId) {
  return `aura:${runId}:context`;
}

/** The Redis key of a device lease (its value: the request id). */
export function leaseKey(runId, deviceId) {
  return `aura:${runId}:lease:${deviceId}`;
}

/** The Redis key of a request's WorkflowTrace. */
export function traceKey(runId, requestId) {
  return `aura:${runId}:trace:${requestId}`;
}

/** The run's decision topic. */
export function decidedTopic(runId) {
  return `aura.${runId}.gpu.allocation.decided`;
}

/** The Temporal workflow id of a request. */
export function workflowId(runId, requestId) {
  return `aura-${runId}-${requestId}`;
}

/** Graph labels, relationship types and identifying properties. */
export const graph = {
  REQUEST: "Request",
  DECISION: "Decision",
  AGENT: "Agent",
  GPU: "Gpu",
  DECIDED_BY: "DECIDED_BY",
  VOTED: "VOTED",
  ALLOCATES: "ALLOCATES",
  REQUEST_ID: "request_id",
  AGENT_ID: "agent_id",
  DEVICE_ID: "device_id",
  TOKENS: [
    ["<Request>", "Request"],
    ["<Decision>", "Decision"],
    ["<Agent>", "Agent"],
    ["<Gpu>", "Gpu"],
    ["<DECIDED_BY>", "DECIDED_BY"],
    ["<VOTED>", "VOTED"],
    ["<ALLOCATES>", "ALLOCATES"],
    ["<run_id>", "run_id"],
    ["<request_id>", "request_id"],
    ["<agent_id>", "agent_id"],
    ["<device_id>", "device_id"],
  ],
  /** Cypher with the contract's names filled in for `<Request>`, `<run_id>`... */
  cypher(template) {
    return graph.TOKENS.reduce((text, [token, name]) => text.split(token).join(name), template);
  },
};
