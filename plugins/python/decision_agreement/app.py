"""decision_agreement: a validator written in Python. For each request it reads the
decision the request's workflow returned, then the one persisted in the graph (the
Decision node) and the one cached in Redis (the decision key), and checks that both
stores hold the workflow's outcome.

Checks per request: `<request>: graph outcome` and `<request>: cache outcome`, each with
the workflow's outcome as expected and the store's as actual.

Grants: `graph = "read"`, the cache read grant of the run's keys, `workflow = true` (the
defaults of `run --plugin`).

Configuration (optional): `expect_outcome = "approved"` checks against that outcome
instead of the workflow's (what a test uses to make it fail).
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import cache, graph, types, workflow

from aura_sdk import config, expect, expect_eq, host_failure, names

QUERY = names.graph.cypher(
    "MATCH (d:<Decision> {<run_id>: $run_id, <request_id>: $request_id}) "
    "RETURN d.outcome AS outcome"
)


def workflow_outcome(run_id: str, request_id: str) -> str:
    execution = workflow.describe(names.workflow_id(run_id, request_id))
    if execution.output is None:
        return "none"
    return json.loads(execution.output).get("outcome", "none")


def graph_outcome(run_id: str, request_id: str) -> str:
    params = [
        (names.RUN_ID_PROPERTY, graph.Value_Text(run_id)),
        (names.graph.REQUEST_ID, graph.Value_Text(request_id)),
    ]
    rows = graph.query(QUERY, params).rows
    if not rows:
        return "none"
    value = rows[0][0]
    return value.value if isinstance(value, graph.Value_Text) else "none"


def cache_outcome(run_id: str, request_id: str) -> str:
    cached = cache.get(names.decision_key(run_id, request_id))
    return "none" if cached is None else json.loads(cached).get("outcome", "none")


def checks_of(run_id: str, request_id: str, expected: str | None) -> list[types.Check]:
    try:
        reference = expected or workflow_outcome(run_id, request_id)
    except Err as e:
        return [host_failure(f"{request_id}: workflow outcome", "a decided workflow", e.value)]
    out = []
    for store, read in (("graph", graph_outcome), ("cache", cache_outcome)):
        name = f"{request_id}: {store} outcome"
        try:
            out.append(expect_eq(name, reference, read(run_id, request_id)))
        except Err as e:
            out.append(host_failure(name, reference, e.value))
    return out


class WitWorld(wit_world.WitWorld):
    def validate(self, ctx: types.RunContext) -> types.ValidationResult:
        settings = config(ctx)
        expected = settings.get("expect_outcome")
        checks = [c for rid in ctx.request_ids for c in checks_of(ctx.run_id, rid, expected)]
        if not checks:
            checks = [expect("requests", False, "at least one", "none", "no request to check")]
        return types.ValidationResult(checks=checks)
