//! Load: a scenario's `[load]` (arrival-rate or virtual-user models, requests from a
//! template or the scenario's own) and the driver that runs it through the runner.

mod drive;
mod spec;

pub use drive::{Part, Watch};
pub use spec::{LoadSpec, Model, Source, Stage, Template};
