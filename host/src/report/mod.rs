//! Results of runs: the append-only journal every output is rebuilt from; summaries,
//! JSON and JUnit come next.

pub mod journal;

pub use journal::{Journal, JournalError, Record};
