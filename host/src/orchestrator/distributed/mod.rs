//! Distributed runs on Temporal (`run --distributed`): a scenario's requests (a load's
//! arrivals) are split into slices, each an activity of workflow
//! `AuraDistributedScenario` on the runs task queue. `aura-host worker` processes, on any
//! machines that reach the same Temporal, Redis, graph and Kafka, run the slices: each
//! starts a reference target on the run's own task queue and sends its results back on a
//! Redis stream, from which the coordinating `aura-host run` journals them, validates
//! them and reports them as one run. A slice whose worker dies is retried on another:
//! requests already started are awaited, not submitted again (a claim in Redis per
//! request); none is lost (a claimed request whose workflow never started is submitted
//! by the retry).

mod claim;
mod coordinator;
mod slice;
mod workflow;

pub use coordinator::Distributed;
pub use slice::SliceActivities;
pub use workflow::DistributedScenarioWorkflow;
