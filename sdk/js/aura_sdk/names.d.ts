// Generated from aura-contract's names by aura-host (`aura-host plugin sdk`); do not edit.
// The types of names.js.

export declare const WORKFLOW_TYPE: string;
export declare const DECIDED_TOPIC: string;
export declare const RUN_ID_HEADER: string;
export declare const RUN_ID_PROPERTY: string;

/** The full Redis key of `name` in the run. */
export declare function key(runId: string, name: string): string;

/** The full Kafka topic of `name` in the run. */
export declare function topic(runId: string, name: string): string;

/** The Redis key of a request's decision. */
export declare function decisionKey(runId: string, requestId: string): string;

/** The Redis key of the council's context window. */
export declare function contextKey(runId: string): string;

/** The Redis key of a device lease (its value: the request id). */
export declare function leaseKey(runId: string, deviceId: string): string;

/** The Redis key of a request's WorkflowTrace. */
export declare function traceKey(runId: string, requestId: string): string;

/** The run's decision topic. */
export declare function decidedTopic(runId: string): string;

/** The Temporal workflow id of a request. */
export declare function workflowId(runId: string, requestId: string): string;

/** Graph labels, relationship types and identifying properties. */
export declare const graph: {
  readonly REQUEST: string;
  readonly DECISION: string;
  readonly AGENT: string;
  readonly GPU: string;
  readonly DECIDED_BY: string;
  readonly VOTED: string;
  readonly ALLOCATES: string;
  readonly REQUEST_ID: string;
  readonly AGENT_ID: string;
  readonly DEVICE_ID: string;
  readonly TOKENS: ReadonlyArray<readonly [string, string]>;
  /** Cypher with the contract's names filled in for `<Request>`, `<run_id>`... */
  cypher(template: string): string;
};
