// decision_agreement_js: the Python example's validator, in JavaScript. For each request
// it reads the decision the request's workflow returned, then the one persisted in the
// graph (the Decision node) and the one cached in Redis (the decision key), and checks
// that both stores hold the workflow's outcome.
//
// Checks per request: `<request>: graph outcome`, `<request>: cache outcome`.
// Grants: `graph = "read"`, the cache read grant of the run's keys, `workflow = true`.
// Configuration (optional): `expect_outcome = "approved"` checks against that outcome
// instead of the workflow's.

// componentize-js resolves imports by their full WIT name, version included: the
// version of wit/aura-host.wit this is built against (a mismatch fails the build).
import { get } from "aura:host/cache@0.2.0";
import { query } from "aura:host/graph@0.2.0";
import { describe } from "aura:host/workflow@0.2.0";

import { config, expect, expectEq, hostFailure, names } from "./aura_sdk/index.js";

const QUERY = names.graph.cypher(
  "MATCH (d:<Decision> {<run_id>: $run_id, <request_id>: $request_id}) RETURN d.outcome AS outcome",
);

function workflowOutcome(runId, requestId) {
  const execution = describe(names.workflowId(runId, requestId));
  return execution.output === undefined ? "none" : (JSON.parse(execution.output).outcome ?? "none");
}

function graphOutcome(runId, requestId) {
  const params = [
    [names.RUN_ID_PROPERTY, { tag: "text", val: runId }],
    [names.graph.REQUEST_ID, { tag: "text", val: requestId }],
  ];
  const rows = query(QUERY, params).rows;
  const value = rows.length > 0 ? rows[0][0] : undefined;
  return value?.tag === "text" ? value.val : "none";
}

function cacheOutcome(runId, requestId) {
  const cached = get(names.decisionKey(runId, requestId));
  return cached === undefined ? "none" : (JSON.parse(cached).outcome ?? "none");
}

function checksOf(runId, requestId, expected) {
  let reference;
  try {
    reference = expected ?? workflowOutcome(runId, requestId);
  } catch (e) {
    return [hostFailure(`${requestId}: workflow outcome`, "a decided workflow", e)];
  }
  return [
    ["graph", graphOutcome],
    ["cache", cacheOutcome],
  ].map(([store, read]) => {
    const name = `${requestId}: ${store} outcome`;
    try {
      return expectEq(name, reference, read(runId, requestId));
    } catch (e) {
      return hostFailure(name, reference, e);
    }
  });
}

export function validate(ctx) {
  const expected = config(ctx).expect_outcome;
  const checks = ctx.requestIds.flatMap((rid) => checksOf(ctx.runId, rid, expected));
  return {
    checks: checks.length > 0 ? checks : [expect("requests", false, "at least one", "none", "no request to check")],
  };
}
