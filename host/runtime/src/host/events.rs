use std::time::Duration;

use super::super::bindings::HostError;
use super::super::bindings::api::aura::host::events::{Event, Host};
use super::super::grants::Access;
use super::super::state::PluginState;
use super::{host_call, taped};
use aura_contract::names::RUN_ID_HEADER;
use aura_services::{OutgoingEvent, ReadLimit};

/// The most messages one read returns, whatever the plugin asks for.
const MAX_READ: u32 = 10_000;

/// Where a read starts.
#[derive(Clone, Copy)]
enum From {
    Beginning,
    Latest,
}

impl PluginState {
    /// `events.read` and `events.read-latest`: granted, bounded by the plugin's bytes
    /// and deadline, in a task of its own.
    async fn read_events(
        &mut self,
        call: &'static str,
        from: From,
        topic: String,
        key: Option<String>,
        max_count: u32,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<Vec<Event>, HostError>> {
        taped!(
            self,
            call,
            [topic, key, max_count, timeout_ms],
            async {
                let ctx = &mut self.call;
                let (grant, hub) = (
                    ctx.grants.check_topic(Access::Read, &topic),
                    ctx.hub.clone(),
                );
                // The read stops once past the bytes the plugin may still receive, so a topic
                // of large messages is cut while it is read, not after.
                let limit = ReadLimit {
                    messages: max_count.min(MAX_READ) as usize,
                    bytes: usize::try_from(ctx.host_bytes_left()).unwrap_or(usize::MAX),
                };
                if let Err(e) = ctx.admit(call, grant, topic.len()) {
                    return Ok(Err(e));
                }
                // Never wait past the plugin's deadline; the read runs in its own task because
                // closing a Kafka consumer blocks, and a deadline must end the call on time.
                let left = ctx
                    .deadline
                    .saturating_duration_since(tokio::time::Instant::now());
                let wait = Duration::from_millis(u64::from(timeout_ms)).min(left);
                let read = tokio::spawn(async move {
                    let bus = hub.events().await?;
                    match from {
                        From::Beginning => {
                            bus.read_from_start(&topic, key.as_deref(), limit, wait)
                                .await
                        }
                        From::Latest => bus.read_latest(&topic, key.as_deref(), limit, wait).await,
                    }
                });
                let events = ctx
                    .bounded(call, async move {
                        read.await.unwrap_or_else(|e| {
                            tracing::warn!("{call} task ended abnormally: {e}");
                            Ok(Vec::new())
                        })
                    })
                    .await?;
                let events = ctx.answer(call, events, |events| {
                    events.iter().map(aura_services::Event::size).sum()
                });
                Ok(events.map(|events| {
                    events
                        .into_iter()
                        .map(|e| Event {
                            topic: e.topic,
                            partition: e.partition,
                            offset: e.offset,
                            key: e.key,
                            payload: String::from_utf8_lossy(&e.payload).into_owned(),
                            headers: e.headers.into_iter().collect(),
                        })
                        .collect()
                }))
            }
            .await
        )
    }
}

impl Host for PluginState {
    async fn read(
        &mut self,
        topic: String,
        key: Option<String>,
        max_count: u32,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<Vec<Event>, HostError>> {
        self.read_events(
            "events.read",
            From::Beginning,
            topic,
            key,
            max_count,
            timeout_ms,
        )
        .await
    }

    async fn read_latest(
        &mut self,
        topic: String,
        key: Option<String>,
        max_count: u32,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<Vec<Event>, HostError>> {
        self.read_events(
            "events.read-latest",
            From::Latest,
            topic,
            key,
            max_count,
            timeout_ms,
        )
        .await
    }

    async fn publish(
        &mut self,
        topic: String,
        key: String,
        payload: String,
    ) -> wasmtime::Result<Result<(), HostError>> {
        taped!(
            self,
            "events.publish",
            [topic, key, payload],
            async {
                let ctx = &mut self.call;
                let (grant, hub) = (
                    ctx.grants.check_topic(Access::Write, &topic),
                    ctx.hub.clone(),
                );
                let bytes = topic.len() + key.len() + payload.len();
                let headers = [(RUN_ID_HEADER.to_string(), ctx.run_id.clone())].into();
                let event = OutgoingEvent {
                    topic,
                    key,
                    payload: payload.into_bytes(),
                    headers,
                };
                host_call!(ctx, "events.publish", grant, bytes, async move {
                    hub.events().await?.publish(event).await.map(drop)
                })
            }
            .await
        )
    }
}
