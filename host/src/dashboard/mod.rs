//! Watching runs: the live dashboard (`run --dashboard`, `aura-host dashboard`), a page
//! fed by server-sent events from the run's journal, its steps and the services; and
//! the host's Prometheus metrics (`run --metrics`, and the dashboard's `/metrics`); and
//! the requests' traces exported over OTLP (`run --otlp-endpoint`).

mod feed;
mod metrics;
mod otlp;
mod sample;
mod server;

pub use metrics::HostMetrics;
pub use otlp::OtlpSink;
pub use server::{DashboardError, Follow, Live, Serve, Served, StepUpdate, serve};
