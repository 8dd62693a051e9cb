//! Telling receivers about alerts: each fired or resolved alert as Alertmanager's
//! webhook message (version 4), POSTed to each webhook and written to each command's
//! stdin, in order, from one queue, so a slow or dead receiver delays only the
//! notifications, never a cycle. A delivery that fails is retried, then reported.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::alerts::{AlertStatus, Transition};
use super::config::Notify;

/// Attempts per webhook delivery, and the wait for each answer.
const ATTEMPTS: u32 = 3;
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// How long a command may take to read its message.
const COMMAND_WITHIN: Duration = Duration::from_secs(10);
/// Notifications waiting for delivery; more are dropped and said.
const QUEUE: usize = 1024;

/// Alertmanager's "zero" time, its `endsAt` of an alert still firing.
const NEVER: &str = "0001-01-01T00:00:00Z";

/// Alertmanager's webhook message for one alert.
pub fn message(t: &Transition, receiver: &str) -> Value {
    let status = match t.status {
        AlertStatus::Firing => "firing",
        AlertStatus::Resolved => "resolved",
    };
    let annotations = BTreeMap::from([
        ("summary".to_string(), t.summary.clone()),
        ("cycle".to_string(), t.cycle.to_string()),
    ]);
    let group = BTreeMap::from([(
        "alertname".to_string(),
        t.labels.get("alertname").cloned().unwrap_or_default(),
    )]);
    let key = format!(
        "{{}}:{{{}}}",
        group
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    json!({
        "version": "4",
        "groupKey": key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group,
        "commonLabels": t.labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [{
            "status": status,
            "labels": t.labels,
            "annotations": annotations,
            "startsAt": t.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "endsAt": t.ends_at.map_or(NEVER.to_string(), |e| e.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            "generatorURL": "",
            "fingerprint": fingerprint(&t.labels),
        }],
    })
}

/// A stable id of an alert's labels (FNV-1a, as hex), as Alertmanager gives one.
fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The queue the monitor puts alerts on, and the task that delivers them.
pub struct Notifier {
    tx: Option<mpsc::Sender<(Value, Vec<Notify>)>>,
    task: tokio::task::JoinHandle<()>,
}

impl Notifier {
    pub fn start() -> Self {
        let (tx, mut rx) = mpsc::channel::<(Value, Vec<Notify>)>(QUEUE);
        let task = tokio::spawn(async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
            while let Some((message, receivers)) = rx.recv().await {
                let body = message.to_string();
                for r in &receivers {
                    let delivered = match (&r.webhook, &r.command) {
                        (Some(url), _) => post(&client, url.0.as_str(), &body).await,
                        (None, Some(command)) => run(command, &message, &body).await,
                        (None, None) => Ok(()),
                    };
                    if let Err(e) = delivered {
                        tracing::warn!("an alert was not delivered: {e}");
                    }
                }
            }
        });
        Self { tx: Some(tx), task }
    }

    /// Queues one alert's message for `receivers` (the ones configured when it
    /// happened); a full queue drops it, said.
    pub fn send(&self, t: &Transition, receivers: &[Notify]) {
        let Some(tx) = &self.tx else { return };
        if receivers.is_empty() {
            return;
        }
        if tx
            .try_send((message(t, "aura-host"), receivers.to_vec()))
            .is_err()
        {
            tracing::warn!(
                "the notification queue is full; {} of {} not sent",
                match t.status {
                    AlertStatus::Firing => "firing",
                    AlertStatus::Resolved => "resolved",
                },
                t.labels.get("alertname").map_or("?", String::as_str)
            );
        }
    }

    /// Delivers what is queued, for up to `within`.
    pub async fn finish(mut self, within: Duration) {
        self.tx = None;
        if tokio::time::timeout(within, &mut self.task).await.is_err() {
            self.task.abort();
            tracing::warn!("notifications still queued after {within:?} were dropped");
        }
    }
}

async fn post(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
    body: &str,
) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        let request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| format!("{url}: {e}"))?;
        match tokio::time::timeout(ANSWER_WITHIN, client.request(request)).await {
            Ok(Ok(r)) if r.status().is_success() => return Ok(()),
            Ok(Ok(r)) => last = format!("{url} answered {}", r.status()),
            Ok(Err(e)) => last = format!("{url}: {e}"),
            Err(_) => last = format!("{url}: no answer within {ANSWER_WITHIN:?}"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
        }
    }
    Err(format!("{last} ({ATTEMPTS} attempts)"))
}

/// Runs `command` with the message on its stdin and the alert's name and status in
/// `AURA_ALERT_NAME` and `AURA_ALERT_STATUS`.
async fn run(command: &[String], message: &Value, body: &str) -> Result<(), String> {
    let (program, args) = command.split_first().ok_or("an empty command")?;
    let alert = &message["alerts"][0];
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env(
            "AURA_ALERT_NAME",
            alert["labels"]["alertname"].as_str().unwrap_or_default(),
        )
        .env(
            "AURA_ALERT_STATUS",
            alert["status"].as_str().unwrap_or_default(),
        )
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let done = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its message still runs.
            let _ = stdin.write_all(body.as_bytes()).await;
        }
        child.wait().await
    };
    match tokio::time::timeout(COMMAND_WITHIN, done).await {
        Ok(Ok(s)) if s.success() => Ok(()),
        Ok(Ok(s)) => Err(format!("{program} exited with {s}")),
        Ok(Err(e)) => Err(format!("{program}: {e}")),
        Err(_) => Err(format!(
            "{program} ran past {COMMAND_WITHIN:?} and was killed"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_has_alertmanagers_fields() {
        let t = Transition {
            status: AlertStatus::Resolved,
            labels: BTreeMap::from([
                ("alertname".into(), "redis-down".into()),
                ("service".into(), "redis".into()),
            ]),
            summary: "redis is down: refused".into(),
            cycle: 9,
            starts_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time"),
            ends_at: chrono::DateTime::from_timestamp(1_700_000_060, 0),
        };
        let m = message(&t, "aura-host");
        assert_eq!(m["version"], "4");
        assert_eq!(m["status"], "resolved");
        assert_eq!(m["groupKey"], "{}:{alertname=\"redis-down\"}");
        let a = &m["alerts"][0];
        assert_eq!(a["labels"]["service"], "redis");
        assert_eq!(a["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(a["endsAt"], "2023-11-14T22:14:20.000Z");
        assert_eq!(a["annotations"]["summary"], "redis is down: refused");
        assert_eq!(a["fingerprint"].as_str().map(str::len), Some(16));
    }
}
