//! Where one run's data lives in every store (`docs/data-model.md` describes it for
//! people). Every name carries the run id, so runs share services without colliding and
//! cleanup removes exactly one run's data.
//!
//! | store | what | name |
//! | --- | --- | --- |
//! | Redis | a decision | [`decision_key`]: `aura:<run>:decision:<request>` |
//! | Redis | the council's context window | [`context_key`]: `aura:<run>:context` |
//! | Redis | a device lease | [`lease_key`]: `aura:<run>:lease:<device>` |
//! | Redis | a WorkflowTrace | [`trace_key`]: `aura:<run>:trace:<request>` |
//! | Kafka | decisions | [`decided_topic`]: `aura.<run>.gpu.allocation.decided`, header [`RUN_ID_HEADER`] |
//! | graph | every node | property [`RUN_ID_PROPERTY`]; labels and relationships in [`graph`] |
//! | Temporal | a request's workflow | [`workflow_id`]: `aura-<run>-<request>`, type [`WORKFLOW_TYPE`] |
//! | Redis | a distributed scenario's results, its claimed requests | [`events_stream`]: `aura:<run>:events`, [`submitted_key`]: `aura:<run>:submitted:<request>` |
//! | Temporal | a distributed scenario | [`distributed_workflow_id`]: `aura-distributed-<run>` |
//! | Temporal | scheduled runs | [`schedule_id`]: `aura-schedule-<name>`, on [`RUNS_TASK_QUEUE`] |

/// The Temporal workflow type of a GPU allocation.
pub const WORKFLOW_TYPE: &str = "GpuAllocationWorkflow";
/// The decision topic's name inside a run's namespace.
pub const DECIDED_TOPIC: &str = "gpu.allocation.decided";
/// The Kafka header every message of a run carries, with the run id.
pub const RUN_ID_HEADER: &str = "aura-run-id";
/// The graph property every node of a run carries, with the run id.
pub const RUN_ID_PROPERTY: &str = "run_id";

/// Graph labels, relationship types and the properties that identify nodes.
pub mod graph {
    pub const REQUEST: &str = "Request";
    pub const DECISION: &str = "Decision";
    pub const AGENT: &str = "Agent";
    pub const GPU: &str = "Gpu";
    /// `(:Request)-[:DECIDED_BY]->(:Decision)`
    pub const DECIDED_BY: &str = "DECIDED_BY";
    /// `(:Agent)-[:VOTED]->(:Decision)`
    pub const VOTED: &str = "VOTED";
    /// `(:Decision)-[:ALLOCATES]->(:Gpu)`
    pub const ALLOCATES: &str = "ALLOCATES";
    pub const REQUEST_ID: &str = "request_id";
    pub const AGENT_ID: &str = "agent_id";
    pub const DEVICE_ID: &str = "device_id";

    /// Cypher with the contract's names filled in, so a statement reads as Cypher and
    /// still names nothing itself: `<Request>`, `<Decision>`, `<Agent>`, `<Gpu>`,
    /// `<DECIDED_BY>`, `<VOTED>`, `<ALLOCATES>`, `<run_id>`, `<request_id>`,
    /// `<agent_id>`, `<device_id>`.
    pub fn cypher(template: &str) -> String {
        [
            ("<Request>", REQUEST),
            ("<Decision>", DECISION),
            ("<Agent>", AGENT),
            ("<Gpu>", GPU),
            ("<DECIDED_BY>", DECIDED_BY),
            ("<VOTED>", VOTED),
            ("<ALLOCATES>", ALLOCATES),
            ("<run_id>", super::RUN_ID_PROPERTY),
            ("<request_id>", REQUEST_ID),
            ("<agent_id>", AGENT_ID),
            ("<device_id>", DEVICE_ID),
        ]
        .into_iter()
        .fold(template.to_string(), |text, (token, name)| {
            text.replace(token, name)
        })
    }
}

/// What every key of every run starts with.
const KEY_ROOT: &str = "aura:";

/// Every Redis key of a run starts with this: `aura:<run>:`.
pub fn key_prefix(run_id: &str) -> String {
    format!("{KEY_ROOT}{run_id}:")
}

/// The run a key belongs to: `r1` of `aura:r1:...`.
pub fn run_of_key(key: &str) -> Option<&str> {
    let (run, _) = key.strip_prefix(KEY_ROOT)?.split_once(':')?;
    Some(run)
}

/// The namespace of a run's `n`th scenario: `<run>-<n>` (n from 1).
pub fn scenario_namespace(run_id: &str, n: usize) -> String {
    format!("{run_id}-{n}")
}

/// Whether `namespace` is run `run_id`'s own or one of its scenarios' (`<run>-<n>`).
pub fn is_namespace_of(run_id: &str, namespace: &str) -> bool {
    namespace == run_id
        || namespace
            .strip_prefix(run_id)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Every Redis key of run `run_id` and of its scenarios' namespaces starts with this
/// (and so may keys of other runs whose ids start with it: check [`is_namespace_of`]).
pub fn key_family_prefix(run_id: &str) -> String {
    format!("{KEY_ROOT}{run_id}")
}

/// The run a topic belongs to: `r1` of `aura.r1.…` (run ids have no dot).
pub fn run_of_topic(topic: &str) -> Option<&str> {
    let (run, _) = topic.strip_prefix(TOPIC_ROOT)?.split_once('.')?;
    Some(run)
}

/// A Redis key of a run: `aura:<run>:<name>`.
pub fn key(run_id: &str, name: &str) -> String {
    format!("{}{name}", key_prefix(run_id))
}

/// The graph of a run where the graph database gives each run its own (FalkorDB):
/// `<database>:<run>`. A plugin's graph queries see this graph and nothing else.
pub fn run_graph(database: &str, run_id: &str) -> String {
    format!("{database}:{run_id}")
}

const TOPIC_ROOT: &str = "aura.";

/// Every Kafka topic of a run starts with this: `aura.<run>.`.
pub fn topic_prefix(run_id: &str) -> String {
    format!("{TOPIC_ROOT}{run_id}.")
}

/// A Kafka topic of a run: `aura.<run>.<name>`.
pub fn topic(run_id: &str, name: &str) -> String {
    format!("{}{name}", topic_prefix(run_id))
}

/// Every Temporal workflow id of a run starts with this: `aura-<run>-`.
pub fn workflow_prefix(run_id: &str) -> String {
    format!("aura-{run_id}-")
}

/// The Temporal task queue of a run: `<base>-<run>`. Each run's worker polls only its
/// own, so no other run's worker ever executes its workflows (a killed run's stay
/// unexecuted until terminated, never writing into its cleaned namespaces).
pub fn task_queue(base: &str, run_id: &str) -> String {
    format!("{base}-{run_id}")
}

/// The Redis stream a distributed scenario's workers send their results on:
/// `aura:<run>:events`.
pub fn events_stream(run_id: &str) -> String {
    key(run_id, "events")
}

/// The Redis key that marks a request claimed for submission by a worker of a
/// distributed run: `aura:<run>:submitted:<request>`.
pub fn submitted_key(run_id: &str, request_id: &str) -> String {
    key(run_id, &format!("submitted:{request_id}"))
}

/// The Temporal workflow id of a distributed scenario: `aura-distributed-<run>`.
pub fn distributed_workflow_id(run_id: &str) -> String {
    format!("aura-distributed-{run_id}")
}

/// The prefix of aura-host's Temporal Schedules: `aura-schedule-<name>`.
pub const SCHEDULE_PREFIX: &str = "aura-schedule-";

/// The Temporal Schedule id of scheduled runs named `name`.
pub fn schedule_id(name: &str) -> String {
    format!("{SCHEDULE_PREFIX}{name}")
}

/// The task queue scheduled runs go to unless told otherwise.
pub const RUNS_TASK_QUEUE: &str = "aura-host-runs";

/// The Temporal workflow id of a request: `aura-<run>-<request>`.
pub fn workflow_id(run_id: &str, request_id: &str) -> String {
    format!("{}{request_id}", workflow_prefix(run_id))
}

/// The Redis key of a request's decision: `aura:<run>:decision:<request>`.
pub fn decision_key(run_id: &str, request_id: &str) -> String {
    key(run_id, &format!("decision:{request_id}"))
}

/// The Redis list of the council's context window: `aura:<run>:context`.
pub fn context_key(run_id: &str) -> String {
    key(run_id, "context")
}

/// The Redis key of a device lease (value: the request id): `aura:<run>:lease:<device>`.
pub fn lease_key(run_id: &str, device_id: &str) -> String {
    key(run_id, &format!("lease:{device_id}"))
}

/// The fault proxy in front of a service (`aura-redis`): what the chaos engine creates
/// or, in front of the compose stack, finds in Toxiproxy (`docs/compose/toxiproxy.json`).
pub fn fault_proxy(service: &str) -> String {
    format!("aura-{service}")
}

/// The prefix of every device lease of a run: `aura:<run>:lease:`.
pub fn lease_prefix(run_id: &str) -> String {
    key(run_id, "lease:")
}

/// The Redis key of a request's WorkflowTrace: `aura:<run>:trace:<request>`.
pub fn trace_key(run_id: &str, request_id: &str) -> String {
    key(run_id, &format!("trace:{request_id}"))
}

/// The suffix of every trace key of `request_id`, whatever the run.
pub fn trace_suffix(request_id: &str) -> String {
    format!(":trace:{request_id}")
}

/// The Kafka topic of decisions: `aura.<run>.gpu.allocation.decided`.
pub fn decided_topic(run_id: &str) -> String {
    topic(run_id, DECIDED_TOPIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_run() {
        assert_eq!(workflow_id("r1", "q"), "aura-r1-q");
        assert_eq!(scenario_namespace("r1", 2), "r1-2");
        assert!(is_namespace_of("r1", "r1") && is_namespace_of("r1", "r1-12"));
        for other in ["r1-", "r1-x", "r1-1-1", "r12", "r2"] {
            assert!(!is_namespace_of("r1", other), "{other}");
        }
        assert_eq!(
            run_of_topic("aura.r1-3.gpu.allocation.decided"),
            Some("r1-3")
        );
        assert_eq!(decision_key("r1", "q"), "aura:r1:decision:q");
        assert_eq!(context_key("r1"), "aura:r1:context");
        assert_eq!(lease_key("r1", "gpu-0"), "aura:r1:lease:gpu-0");
        assert_eq!(trace_key("r1", "q"), "aura:r1:trace:q");
        assert!(trace_key("r1", "q").ends_with(&trace_suffix("q")));
        assert_eq!(decided_topic("r1"), "aura.r1.gpu.allocation.decided");
        for k in [
            decision_key("r1", "q"),
            context_key("r1"),
            lease_key("r1", "g"),
        ] {
            assert!(k.starts_with(&key_prefix("r1")), "{k}");
        }
        assert!(decided_topic("r1").starts_with(&topic_prefix("r1")));
        assert_eq!(
            graph::cypher("MATCH (r:<Request> {<run_id>: $r})-[:<DECIDED_BY>]->(d:<Decision>)"),
            "MATCH (r:Request {run_id: $r})-[:DECIDED_BY]->(d:Decision)"
        );
        assert_eq!(run_of_key(&trace_key("r-1", "q:x")), Some("r-1"));
        assert_eq!(run_of_key("other:r1:x"), None);
    }
}
