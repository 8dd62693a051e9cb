//! The chaos engine: the faults a scenario declares (`[[faults]]`), executed. Each is
//! armed before the scenario's requests, fired once by its trigger (at the start, at a
//! time offset, at a step of the reference workflow, once N requests are decided), held
//! for its `duration` and healed, whatever happens to the run; its record (kind, target,
//! trigger, when it struck and healed, the step it hit) is journaled. A fault that
//! cannot be injected or never fires fails its scenario: a chaos test never passes
//! without its chaos. See `docs/chaos.md`.

mod disaster;
mod engine;
mod network;
pub mod proxy;
mod resource;
mod schedule;
mod spec;

pub use engine::{Armed, Chaos, Journal, Scope};
pub use network::{Routes, proxied, proxy_name, stalls_worker, worker_proxy_name};
pub use schedule::RandomFaults;
pub use spec::{Expectation, FaultAction, FaultSpec, Trigger};

/// The longest a fault may hold, or a recovery be waited for.
pub use crate::environment::fault::MAX_HOLD;
