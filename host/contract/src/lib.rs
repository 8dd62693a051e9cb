//! The contract host, SDK and plugins share besides the WIT: the names of the reference
//! target's data in every store, its workflow steps, decision outcomes and denial classes,
//! and the rules for run and request ids. Each is written here once
//! (`docs/data-model.md` describes them for people); everything else imports them.

pub mod ids;
pub mod names;
pub mod outcome;
pub mod step;

pub use ids::{InvalidId, RunId, check_request_id};
pub use outcome::{DenialClass, Outcome};
pub use step::Step;
