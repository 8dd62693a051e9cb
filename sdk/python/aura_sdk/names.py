# Generated from aura-contract's names by aura-host (`aura-host plugin sdk`); do not edit.
"""Where one run's data lives in every store: the names the host, the Rust SDK and
this SDK share (docs/data-model.md)."""

WORKFLOW_TYPE = "GpuAllocationWorkflow"
DECIDED_TOPIC = "gpu.allocation.decided"
RUN_ID_HEADER = "aura-run-id"
RUN_ID_PROPERTY = "run_id"


def key(run_id: str, name: str) -> str:
    """The full Redis key of `name` in the run."""
    return f"aura:{run_id}:{name}"


def topic(run_id: str, name: str) -> str:
    """The full Kafka topic of `name` in the run."""
    return f"aura.{run_id}.{name}"


def decision_key(run_id: str, request_id: str) -> str:
    """The Redis key of a request's decision."""
    return f"aura:{run_id}:decision:{request_id}"


def context_key(run_id: str) -> str:
    """The Redis key of the council's context window."""
    return f"aura:{run_id}:context"


def lease_key(run_id: str, device_id: str) -> str:
    """The Redis key of a device lease (its value: the request id)."""
    return f"aura:{run_id}:lease:{device_id}"


def trace_key(run_id: str, request_id: str) -> str:
    """The Redis key of a request's WorkflowTrace."""
    return f"aura:{run_id}:trace:{request_id}"


def decided_topic(run_id: str) -> str:
    """The run's decision topic."""
    return f"aura.{run_id}.gpu.allocation.decided"


def workflow_id(run_id: str, request_id: str) -> str:
    """The Temporal workflow id of a request."""
    return f"aura-{run_id}-{request_id}"


class graph:
    """Graph labels, relationship types and identifying properties."""

    REQUEST = "Request"
    DECISION = "Decision"
    AGENT = "Agent"
    GPU = "Gpu"
    DECIDED_BY = "DECIDED_BY"
    VOTED = "VOTED"
    ALLOCATES = "ALLOCATES"
    REQUEST_ID = "request_id"
    AGENT_ID = "agent_id"
    DEVICE_ID = "device_id"

    TOKENS = (
        ("<Request>", "Request"),
        ("<Decision>", "Decision"),
        ("<Agent>", "Agent"),
        ("<Gpu>", "Gpu"),
        ("<DECIDED_BY>", "DECIDED_BY"),
        ("<VOTED>", "VOTED"),
        ("<ALLOCATES>", "ALLOCATES"),
        ("<run_id>", "run_id"),
        ("<request_id>", "request_id"),
        ("<agent_id>", "agent_id"),
        ("<device_id>", "device_id"),
    )

    @staticmethod
    def cypher(template: str) -> str:
        """Cypher with the contract's names filled in for `<Request>`, `<run_id>`..."""
        for token, name in graph.TOKENS:
            template = template.replace(token, name)
        return template
