//! The dashboard's HTTP server (axum): `/` the page, `/events` a run as server-sent
//! events (its journal records from the first, then each as it is written; its steps
//! as they start and end when the run is this process's; service samples), `/api/runs`
//! the state dir's runs, `/metrics` the host's metrics. Or `/metrics` alone
//! (`run --metrics`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use futures::Stream;
use tokio::sync::{broadcast, mpsc, watch};

use super::feed::{self, Tail};
use super::metrics::HostMetrics;
use super::sample::{self, Sample};
use crate::report::{LiveReport, RunEvent, read_record};
use aura_services::config::ServicesConfig;
use aura_services::trace::{StepEdge, StepHook};

const PAGE: &str = include_str!("page.html");
/// How often a followed journal is read for new records.
const POLL: Duration = Duration::from_millis(200);
/// How often the services are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A step of one of this process's requests starting or ending, as the page gets it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepUpdate {
    /// The scenario's namespace (`<run>-<n>`), which the run's plan maps to a scenario.
    pub namespace: String,
    pub request_id: String,
    pub step: String,
    pub phase: aura_services::trace::StepPhase,
    pub at: i64,
}

/// What a run shares with the servers watching it: its metrics, its steps as they
/// happen, and which run it is on (`--watch` and `--soak` run many).
pub struct Live {
    pub metrics: Arc<HostMetrics>,
    steps: broadcast::Sender<StepUpdate>,
    current: watch::Sender<Option<String>>,
    hook: Arc<StepHook>,
}

impl Live {
    pub fn new() -> Arc<Self> {
        let (steps, _) = broadcast::channel(4096);
        let sender = steps.clone();
        let hook: Arc<StepHook> = Arc::new(move |e: &StepEdge<'_>| {
            // No page open is no receiver: nothing to do.
            let _ = sender.send(StepUpdate {
                namespace: e.run_id.to_string(),
                request_id: e.request_id.to_string(),
                step: e.step.to_string(),
                phase: e.phase,
                at: e.at,
            });
        });
        Arc::new(Self {
            metrics: Arc::default(),
            steps,
            current: watch::channel(None).0,
            hook,
        })
    }

    /// Called at every step's start and end of the target it is hooked to; held weakly
    /// by the target, so it lives as long as this.
    pub fn step_hook(&self) -> &Arc<StepHook> {
        &self.hook
    }

    /// The run the page follows from now on.
    pub fn run_started(&self, run_id: &str) {
        self.current.send_replace(Some(run_id.to_string()));
    }
}

/// Which run `/events` follows when the page does not name one.
#[derive(Clone, Copy)]
pub enum Follow {
    /// The run this process is on ([`Live::run_started`]).
    Current,
    /// The state dir's most recently written run, switching when a newer one starts.
    Newest,
}

/// What a server serves.
pub struct Serve {
    pub state_dir: PathBuf,
    pub services: ServicesConfig,
    pub follow: Follow,
    /// The page and its events; without it, `/metrics` alone.
    pub page: bool,
}

/// A running server; dropping it stops it at once, [`Served::close`] after the pages
/// have the run's last records.
pub struct Served {
    pub addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    closing: watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// How long closing waits for the pages to take the last records.
const CLOSE_WITHIN: Duration = Duration::from_secs(3);

impl Served {
    /// Sends every page what the journal has left, ends their streams and stops.
    pub async fn close(mut self) {
        self.closing.send_replace(true);
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(CLOSE_WITHIN, server).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.tasks
            .iter()
            .chain(&self.server)
            .for_each(tokio::task::JoinHandle::abort);
    }
}

#[derive(Clone)]
struct App {
    state_dir: PathBuf,
    live: Arc<Live>,
    follow: Follow,
    services: watch::Receiver<Sample>,
    closing: watch::Receiver<bool>,
}

/// Listens on `addr` (port 0 picks one; [`Served::addr`] says which).
pub async fn serve(
    addr: SocketAddr,
    what: Serve,
    live: Arc<Live>,
) -> Result<Served, DashboardError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DashboardError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| DashboardError::Bind { addr, source })?;
    let (services, sampler) = sample::spawn(what.services, live.metrics.clone(), SAMPLE_EVERY);
    let mut tasks = vec![sampler];
    if what.page && matches!(what.follow, Follow::Newest) {
        // No run of this process feeds the metrics: the newest journal does.
        tasks.push(tokio::spawn(metrics_from_journals(
            what.state_dir.clone(),
            live.metrics.clone(),
        )));
    }
    let (closing, closed) = watch::channel(false);
    let app = App {
        state_dir: what.state_dir,
        live,
        follow: what.follow,
        services,
        closing: closed.clone(),
    };
    let mut router = Router::new().route("/metrics", get(metrics));
    if what.page {
        router = router
            .route("/", get(page))
            .route("/events", get(events))
            .route("/api/runs", get(runs));
    }
    let router = router.with_state(app);
    let mut closed = closed;
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = closed.wait_for(|c| *c).await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!("the dashboard server stopped: {e}");
        }
    });
    Ok(Served {
        addr: bound,
        tasks,
        closing,
        server: Some(server),
    })
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn metrics(State(app): State<App>, headers: axum::http::HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (kind, body) = aura_reference::exposition(app.live.metrics.encode(), accept);
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

async fn runs(State(app): State<App>) -> Json<Vec<feed::RunEntry>> {
    Json(feed::runs(&app.state_dir))
}

#[derive(serde::Deserialize)]
struct Which {
    run: Option<String>,
}

async fn events(
    State(app): State<App>,
    Query(which): Query<Which>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(feed_page(app, which.run, tx));
    let stream =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A run id as a page may name one: a plain directory name under `runs/`.
fn plain(run: &str) -> bool {
    !run.is_empty()
        && run
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && run != "."
        && run != ".."
}

/// The run to show now: the one named, else this process's or the newest.
fn chosen(app: &App, named: Option<&str>) -> Option<String> {
    match (named, app.follow) {
        (Some(r), _) => plain(r).then(|| r.to_string()),
        (None, Follow::Current) => app.live.current.borrow().clone(),
        (None, Follow::Newest) => feed::runs(&app.state_dir)
            .into_iter()
            .next()
            .map(|r| r.run_id),
    }
}

/// One page's events until it goes away.
async fn feed_page(app: App, named: Option<String>, tx: mpsc::Sender<Event>) {
    let mut steps = app.live.steps.subscribe();
    let mut services = app.services.clone();
    let mut tick = tokio::time::interval(POLL);
    let mut following: Option<(String, Tail, LiveReport)> = None;
    let sample = services.borrow_and_update().clone();
    if let Some(s) = sample
        && tx.send(json_event("services", &*s)).await.is_err()
    {
        return;
    }
    let mut closing = app.closing.clone();
    let mut last = false;
    loop {
        let out = tokio::select! {
            _ = tx.closed() => return,
            // The run is over: one more read of its journal, then the stream ends.
            _ = closing.wait_for(|c| *c), if !last => {
                last = true;
                read_run(&app, named.as_deref(), &mut following)
            }
            _ = tick.tick() => read_run(&app, named.as_deref(), &mut following),
            step = steps.recv() => match step {
                Ok(s) => vec![json_event("step", &s)],
                // Steps missed by a slow page arrive whole with their request.
                Err(broadcast::error::RecvError::Lagged(_)) => Vec::new(),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            changed = services.changed() => match changed {
                Ok(()) => {
                    let sample = services.borrow_and_update().clone();
                    sample.map(|s| json_event("services", &*s)).into_iter().collect()
                }
                Err(_) => return,
            },
        };
        for e in out {
            if tx.send(e).await.is_err() {
                return;
            }
        }
        if last && closed_read(&following) {
            return;
        }
    }
}

/// The page's run's records since the last read (from its first after a switch).
fn read_run(
    app: &App,
    named: Option<&str>,
    following: &mut Option<(String, Tail, LiveReport)>,
) -> Vec<Event> {
    let mut out = Vec::new();
    let want = chosen(app, named);
    if want.is_some() && want.as_deref() != following.as_ref().map(|(r, ..)| r.as_str()) {
        let run = want.unwrap_or_default();
        out.push(json_event("run", &serde_json::json!({ "run_id": run })));
        let path = crate::report::journal_path(&app.state_dir, &run);
        *following = Some((run, Tail::new(path), LiveReport::default()));
    }
    if let Some((_, tail, report)) = following.as_mut() {
        match tail.lines() {
            Ok(lines) => out.extend(lines.into_iter().flat_map(|l| record(l, report))),
            Err(e) => tracing::warn!("dashboard: cannot read the journal: {e}"),
        }
    }
    out
}

/// Whether the last read of a closing page's journal found nothing more.
fn closed_read(following: &Option<(String, Tail, LiveReport)>) -> bool {
    following
        .as_ref()
        .is_none_or(|(_, tail, _)| tail.caught_up())
}

/// A journal line as the page gets it, then the verdicts it settles (the report's: a
/// scenario's status as it ends, the run's as it finishes).
fn record(line: String, report: &mut LiveReport) -> Vec<Event> {
    let settled = match read_record(&line) {
        Ok((at, event)) => {
            report.apply(at, &event);
            match &event {
                RunEvent::ScenarioFinished { scenario, .. } => report.scenario(scenario).map(|s| {
                    let state = crate::report::state::scenario(
                        s.state_before.as_ref(),
                        s.state_after.as_ref(),
                    );
                    json_event(
                        "scenario",
                        &serde_json::json!({
                            "scenario": s.id,
                            "status": s.status,
                            "state": crate::report::state::changes(&state),
                        }),
                    )
                }),
                RunEvent::RunFinished { .. } => report
                    .report()
                    .map(|r| json_event("verdict", &serde_json::json!({ "status": r.status }))),
                _ => None,
            }
        }
        Err(_) => None,
    };
    std::iter::once(Event::default().event("record").data(line))
        .chain(settled)
        .collect()
}

fn json_event(name: &str, body: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(body).unwrap_or_else(|_| "null".into()))
}

/// Feeds the metrics from the newest run's journal as it is written (a standalone
/// dashboard, which runs nothing itself).
async fn metrics_from_journals(state_dir: PathBuf, metrics: Arc<HostMetrics>) {
    let mut tick = tokio::time::interval(POLL);
    let mut following: Option<(String, Tail, LiveReport)> = None;
    loop {
        tick.tick().await;
        let newest = feed::runs(&state_dir).into_iter().next().map(|r| r.run_id);
        if let Some(run) = newest
            && following.as_ref().map(|(r, ..)| r) != Some(&run)
        {
            let path = crate::report::journal_path(&state_dir, &run);
            following = Some((run, Tail::new(path), LiveReport::default()));
        }
        let Some((_, tail, report)) = following.as_mut() else {
            continue;
        };
        for line in tail.lines().unwrap_or_default() {
            let Ok((at, event)) = read_record(&line) else {
                continue;
            };
            report.apply(at, &event);
            let finished = match &event {
                RunEvent::ScenarioFinished { scenario, .. } => report.scenario(scenario),
                _ => None,
            };
            metrics.observe(&event, finished.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_page_names_only_plain_run_ids() {
        assert!(super::plain("20261201-abc_1.2"));
        for bad in ["", ".", "..", "../etc", "a/b", "a b"] {
            assert!(!super::plain(bad), "{bad}");
        }
    }
}
