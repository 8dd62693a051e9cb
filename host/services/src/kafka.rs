//! Kafka with rdkafka: a producer, consumers in groups, and an admin client for topics.
//! librdkafka calls that block (metadata, commits, consumer drop) run off the async
//! runtime and are bounded by the service timeout; a consumer that will not close is
//! abandoned rather than allowed to hang the caller (rust-rdkafka #509).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::{Endpoint, Failure, ServiceError, ServiceFacts, ServiceKind};
use crate::config::KafkaConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEvent {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

impl Event {
    /// Bytes of text and payload the event carries.
    pub fn size(&self) -> usize {
        self.topic.len()
            + self.key.as_ref().map_or(0, String::len)
            + self.payload.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + 16
    }
}

#[async_trait]
pub trait EventBus: Send + Sync {
    fn address(&self) -> &str;
    /// Creates the topic unless it exists.
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), ServiceError>;
    async fn delete_topics(&self, topics: &[String]) -> Result<(), ServiceError>;
    async fn list_topics(&self) -> Result<Vec<String>, ServiceError>;
    /// The topic's end offset summed over its partitions (messages ever written and
    /// still indexed); `None` when the topic does not exist.
    async fn end_offset(&self, topic: &str) -> Result<Option<i64>, ServiceError>;
    /// Publishes one message and waits for the broker's acknowledgement.
    async fn publish(&self, event: OutgoingEvent) -> Result<(i32, i64), ServiceError>;
    /// Forgets which topics exist: the broker restarted and may have lost them (the
    /// local one keeps its log in memory), so the next publish ensures its topic again.
    fn forget_topics(&self);
    /// Reads up to `max` messages of `topic` as consumer group `group`, from the group's
    /// committed position (or the beginning), waiting at most `wait`; commits what it read.
    async fn read(
        &self,
        topic: &str,
        group: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Event>, ServiceError>;
    /// Reads messages of every partition of `topic` from the beginning (only those with
    /// `key`, when given) up to `limit`, waiting at most `wait`, without a consumer group:
    /// no group join to wait for, no offsets left behind (what validators need).
    async fn read_from_start(
        &self,
        topic: &str,
        key: Option<&str>,
        limit: ReadLimit,
        wait: Duration,
    ) -> Result<Vec<Event>, ServiceError>;
    /// The newest messages of `topic`: at most `limit`, read from the last
    /// `limit.messages` of each partition (only those with `key`, when given); without a
    /// key it returns as soon as it has read up to the end it saw when it started, with
    /// one at `limit` matches or after `wait`. No consumer group. A long topic's recent
    /// messages without reading it all.
    async fn read_latest(
        &self,
        topic: &str,
        key: Option<&str>,
        limit: ReadLimit,
        wait: Duration,
    ) -> Result<Vec<Event>, ServiceError>;
    /// Every message of `topic` from the beginning to the end the broker's fetches
    /// report for each partition (partition EOF, not an end counted from watermarks
    /// before the read: a DR drill's snapshot read so under load missed the newest
    /// message), at most `limit`: what a snapshot or backup must hold whole. The end not
    /// reached within `wait` is an error, never fewer messages.
    async fn read_to_end(
        &self,
        topic: &str,
        limit: ReadLimit,
        wait: Duration,
    ) -> Result<Vec<Event>, ServiceError>;
    /// Brokers and topics.
    async fn probe(&self) -> Result<ServiceFacts, ServiceError>;
}

/// Where a read without a consumer group starts in each partition.
#[derive(Debug, Clone, Copy)]
enum Start {
    Beginning,
    /// This many messages before the end.
    Tail(i64),
    /// The beginning, read until every partition reports its end.
    ToEnd,
}

/// How much one read may return. Reading stops at `messages`, or at the first message
/// that takes the total past `bytes` (that message included, so a caller can tell the
/// answer was cut); librdkafka's own prefetch is bounded too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimit {
    pub messages: usize,
    pub bytes: usize,
}

impl ReadLimit {
    pub fn messages(messages: usize) -> Self {
        Self {
            messages,
            bytes: usize::MAX,
        }
    }
}

/// librdkafka prefetches this much per read consumer (KiB), whatever the read's limit.
const PREFETCH_KBYTES: &str = "1024";

pub struct KafkaEvents {
    endpoint: Endpoint,
    base: ClientConfig,
    session_timeout: Duration,
    producer: FutureProducer,
    admin: std::sync::Arc<AdminClient<DefaultClientContext>>,
    /// Topics this client created or found already there: every publish ensures its
    /// topic, and an admin round trip per message cost a request ~50 ms.
    ensured: std::sync::Mutex<std::collections::HashSet<String>>,
}

struct Metadata {
    brokers: Vec<String>,
    topics: Vec<String>,
}

impl KafkaEvents {
    fn ensured(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.ensured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Messages from `consumer` (those with `key`, when given) until `limit` or `wait`; a
    /// receive error ends the read.
    async fn receive(
        &self,
        consumer: &StreamConsumer,
        topic: &str,
        key: Option<&str>,
        limit: ReadLimit,
        wait: Duration,
        partitions_to_end: Option<usize>,
    ) -> (Vec<Event>, Option<ServiceError>) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut events: Vec<Event> = Vec::new();
        let mut failure = None;
        let mut bytes = 0usize;
        let mut ended = std::collections::BTreeSet::new();
        while events.len() < limit.messages && bytes <= limit.bytes {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Err(_) => {
                    if partitions_to_end.is_some() {
                        failure = Some(self.endpoint.op_error(
                            &format!("read {topic} to its end"),
                            format!(
                                "{} message(s) read, the end not reached within {wait:?}",
                                events.len()
                            ),
                        ));
                    }
                    break;
                }
                Ok(Err(KafkaError::PartitionEOF(p))) => {
                    ended.insert(p);
                    if partitions_to_end.is_some_and(|n| ended.len() >= n) {
                        break;
                    }
                }
                Ok(Err(e)) => {
                    failure = Some(self.endpoint.op_error(&format!("read {topic}"), e));
                    break;
                }
                Ok(Ok(m)) if key.is_some_and(|k| m.key() != Some(k.as_bytes())) => {}
                Ok(Ok(m)) => {
                    let event = Event {
                        topic: m.topic().to_string(),
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                        headers: m
                            .headers()
                            .map(|h| {
                                h.iter()
                                    .map(|h| {
                                        let value = h
                                            .value
                                            .map(String::from_utf8_lossy)
                                            .unwrap_or_default();
                                        (h.key.to_string(), value.into_owned())
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    };
                    bytes = bytes.saturating_add(event.size());
                    events.push(event);
                }
            }
        }
        (events, failure)
    }

    /// Reads every partition of `topic` from `start`, without a consumer group. From the
    /// tail, the read ends once it has the messages that were there when it began.
    async fn read_at(
        &self,
        topic: &str,
        key: Option<&str>,
        mut limit: ReadLimit,
        wait: Duration,
        start: Start,
    ) -> Result<Vec<Event>, ServiceError> {
        let to_end = matches!(start, Start::ToEnd);
        let consumer: StreamConsumer = self
            .base
            .clone()
            // librdkafka wants a group id; without subscribe or commits it is never used.
            .set("group.id", "aura-read-from-start")
            .set(
                "enable.partition.eof",
                if to_end { "true" } else { "false" },
            )
            .set("enable.auto.commit", "false")
            .set("queued.max.messages.kbytes", PREFETCH_KBYTES)
            .set("fetch.max.bytes", "1048576")
            .create()
            .map_err(|e| self.endpoint.op_error("create consumer", e))?;
        let timeout = self.endpoint.timeout;
        let (consumer, assigned) = tokio::task::spawn_blocking({
            let topic = topic.to_string();
            move || {
                let assigned = consumer
                    .fetch_metadata(Some(&topic), timeout)
                    .and_then(|md| {
                        let mut list = TopicPartitionList::new();
                        // How many messages lie between the start and the end seen now.
                        let mut there = 0i64;
                        for t in md.topics().iter().filter(|t| t.name() == topic) {
                            for p in t.partitions() {
                                let offset = match start {
                                    Start::Beginning | Start::ToEnd => Offset::Beginning,
                                    Start::Tail(n) => {
                                        let (low, high) =
                                            consumer.fetch_watermarks(&topic, p.id(), timeout)?;
                                        let from = high.saturating_sub(n).max(low);
                                        there = there.saturating_add(high - from);
                                        Offset::Offset(from)
                                    }
                                };
                                list.add_partition_offset(&topic, p.id(), offset)?;
                            }
                        }
                        consumer.assign(&list).map(|()| (list.count(), there))
                    });
                (consumer, assigned)
            }
        })
        .await
        .map_err(|e| self.endpoint.op_error("read metadata", e))?;
        let partitions = match &assigned {
            Ok((n, _)) if to_end => Some(*n),
            _ => None,
        };
        match (assigned, start) {
            (Err(e), _) => return Err(self.endpoint.op_error(&format!("assign {topic}"), e)),
            (Ok((0, _)), _) | (Ok((_, 0)), Start::Tail(_)) => return Ok(Vec::new()),
            // Without a key every message counts: the read ends with the last one there.
            (Ok((_, there)), Start::Tail(_)) if key.is_none() => {
                limit.messages = limit
                    .messages
                    .min(usize::try_from(there).unwrap_or(usize::MAX));
            }
            _ => {}
        }
        let (events, failure) = self
            .receive(&consumer, topic, key, limit, wait, partitions)
            .await;
        // Closing a consumer can block on a dead broker; never on this task.
        tokio::task::spawn_blocking(move || drop(consumer));
        failure.map_or(Ok(events), Err)
    }

    pub async fn connect(config: &KafkaConfig) -> Result<Self, ServiceError> {
        let endpoint = Endpoint::new(ServiceKind::Kafka, config.brokers.clone(), config.timeout);
        let ms = config.timeout.as_millis().to_string();
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", &config.brokers)
            .set("socket.timeout.ms", &ms)
            .set("socket.connection.setup.timeout.ms", &ms)
            .set("reconnect.backoff.ms", "100")
            .set("reconnect.backoff.max.ms", "1000")
            // Small requests on loopback otherwise wait for delayed ACKs (Nagle): a
            // publish took ~55 ms of a request's ~150 ms.
            .set("socket.nagle.disable", "true")
            .set("log_level", "3");
        let producer: FutureProducer = base
            .clone()
            .set("message.timeout.ms", &ms)
            // One decision at a time: batching would only delay it.
            .set("linger.ms", "0")
            .create()
            .map_err(|e| endpoint.error(Failure::Address(e.to_string())))?;
        let admin = base
            .create()
            .map_err(|e| endpoint.error(Failure::Address(e.to_string())))?;
        let events = Self {
            endpoint,
            base,
            session_timeout: config.session_timeout,
            producer,
            admin: std::sync::Arc::new(admin),
            ensured: Default::default(),
        };
        // librdkafka reports a refused connection only as a metadata timeout; a plain TCP
        // connect first tells "nothing listens" apart from "listens but does not answer".
        endpoint_reachable(&events.endpoint, &config.brokers).await?;
        // rdkafka connects lazily; one metadata round trip proves a broker answers.
        events.metadata().await?;
        Ok(events)
    }

    async fn metadata(&self) -> Result<Metadata, ServiceError> {
        let producer = self.producer.clone();
        let timeout = self.endpoint.timeout;
        let fetch = tokio::task::spawn_blocking(move || {
            let md = producer.client().fetch_metadata(None, timeout)?;
            Ok::<_, rdkafka::error::KafkaError>(Metadata {
                brokers: md
                    .brokers()
                    .iter()
                    .map(|b| format!("{}:{} (id {})", b.host(), b.port(), b.id()))
                    .collect(),
                topics: md.topics().iter().map(|t| t.name().to_string()).collect(),
            })
        });
        use rdkafka::types::RDKafkaErrorCode as Code;
        match self.endpoint.call("metadata", fetch).await? {
            Ok(md) => Ok(md),
            // The TCP connect succeeded before this (see `endpoint_reachable`), so a
            // transport failure means the peer accepted but never answered in time.
            Err(rdkafka::error::KafkaError::MetadataFetch(
                Code::OperationTimedOut | Code::BrokerTransportFailure | Code::AllBrokersDown,
            )) => Err(self.endpoint.error(Failure::Timeout(timeout))),
            Err(e) => Err(self.endpoint.error(Failure::Connect(e.to_string()))),
        }
    }

    fn admin_options(&self) -> AdminOptions {
        AdminOptions::new()
            .operation_timeout(Some(self.endpoint.timeout))
            .request_timeout(Some(self.endpoint.timeout))
    }
}

/// Succeeds when at least one bootstrap broker accepts a TCP connection.
async fn endpoint_reachable(endpoint: &Endpoint, brokers: &str) -> Result<(), ServiceError> {
    endpoint
        .connect(|| async {
            let mut last = None;
            for broker in brokers.split(',').map(str::trim) {
                match tokio::net::TcpStream::connect(broker).await {
                    Ok(_) => return Ok(()),
                    Err(e) => last = Some(format!("{broker}: {e}")),
                }
            }
            Err(last.unwrap_or_else(|| "no brokers configured".into()))
        })
        .await
}

#[async_trait]
impl EventBus for KafkaEvents {
    fn address(&self) -> &str {
        &self.endpoint.address
    }

    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), ServiceError> {
        if self.ensured().contains(topic) {
            return Ok(());
        }
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let results = self
            .endpoint
            .call(
                "create topic",
                self.admin.create_topics([&new], &self.admin_options()),
            )
            .await?;
        for result in results {
            match result {
                Ok(_) => {}
                Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(self
                        .endpoint
                        .op_error(&format!("create topic {name}"), code));
                }
            }
        }
        self.ensured().insert(topic.to_string());
        Ok(())
    }

    async fn delete_topics(&self, topics: &[String]) -> Result<(), ServiceError> {
        if topics.is_empty() {
            return Ok(());
        }
        self.ensured().retain(|t| !topics.contains(t));
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let results = self
            .endpoint
            .call(
                "delete topics",
                self.admin.delete_topics(&names, &self.admin_options()),
            )
            .await?;
        for result in results {
            match result {
                Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((name, code)) => {
                    return Err(self
                        .endpoint
                        .op_error(&format!("delete topic {name}"), code));
                }
            }
        }
        Ok(())
    }

    async fn list_topics(&self) -> Result<Vec<String>, ServiceError> {
        Ok(self.metadata().await?.topics)
    }

    async fn end_offset(&self, topic: &str) -> Result<Option<i64>, ServiceError> {
        let (producer, timeout, topic) = (
            self.producer.clone(),
            self.endpoint.timeout,
            topic.to_string(),
        );
        let fetch = tokio::task::spawn_blocking(move || {
            let client = producer.client();
            // All topics: asking for one by name would have the broker create it.
            let md = client.fetch_metadata(None, timeout)?;
            let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
                return Ok(None);
            };
            if t.error().is_some() || t.partitions().is_empty() {
                return Ok(None);
            }
            let mut end = 0i64;
            for p in t.partitions() {
                end += client.fetch_watermarks(&topic, p.id(), timeout)?.1;
            }
            Ok::<_, rdkafka::error::KafkaError>(Some(end))
        });
        self.endpoint
            .call("end offsets", fetch)
            .await?
            .map_err(|e| self.endpoint.error(Failure::Connect(e.to_string())))
    }

    fn forget_topics(&self) {
        self.ensured().clear();
    }

    async fn publish(&self, event: OutgoingEvent) -> Result<(i32, i64), ServiceError> {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &event.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let record = FutureRecord::to(&event.topic)
            .key(&event.key)
            .payload(&event.payload)
            .headers(headers);
        let delivery = self.producer.send(record, self.endpoint.timeout);
        let operation = format!("publish to {}", event.topic);
        match self
            .endpoint
            .call(&operation, async { delivery.await.map_err(|(e, _)| e) })
            .await
        {
            Ok(d) => Ok((d.partition, d.offset)),
            Err(e) => {
                // Deleted behind this client's back (another process's cleanup): the
                // next publish creates it again.
                self.ensured().remove(&event.topic);
                Err(e)
            }
        }
    }

    async fn read(
        &self,
        topic: &str,
        group: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Event>, ServiceError> {
        let consumer: StreamConsumer = self
            .base
            .clone()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "session.timeout.ms",
                self.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (self.session_timeout.as_millis() / 3).max(100).to_string(),
            )
            .create()
            .map_err(|e| self.endpoint.op_error("create consumer", e))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| self.endpoint.op_error(&format!("subscribe to {topic}"), e))?;
        let (events, failure) = self
            .receive(&consumer, topic, None, ReadLimit::messages(max), wait, None)
            .await;
        let timeout = self.endpoint.timeout;
        let endpoint = self.endpoint.clone();
        let close = tokio::task::spawn_blocking(move || {
            let committed = if events.is_empty() {
                Ok(())
            } else {
                consumer.commit_consumer_state(CommitMode::Sync)
            };
            drop(consumer);
            committed.map(|()| events)
        });
        match tokio::time::timeout(timeout, close).await {
            Ok(Ok(Ok(events))) => failure.map_or(Ok(events), Err),
            Ok(Ok(Err(e))) => Err(endpoint.op_error("commit offsets", e)),
            Ok(Err(e)) => Err(endpoint.op_error("close consumer", e)),
            Err(_) => Err(endpoint.op_error(
                "close consumer",
                format!("did not close within {timeout:?}"),
            )),
        }
    }

    async fn read_from_start(
        &self,
        topic: &str,
        key: Option<&str>,
        limit: ReadLimit,
        wait: Duration,
    ) -> Result<Vec<Event>, ServiceError> {
        self.read_at(topic, key, limit, wait, Start::Beginning)
            .await
    }

    async fn read_latest(
        &self,
        topic: &str,
        key: Option<&str>,
        limit: ReadLimit,
        wait: Duration,
    ) -> Result<Vec<Event>, ServiceError> {
        let tail = i64::try_from(limit.messages).unwrap_or(i64::MAX);
        self.read_at(topic, key, limit, wait, Start::Tail(tail))
            .await
    }

    async fn read_to_end(
        &self,
        topic: &str,
        limit: ReadLimit,
        wait: Duration,
    ) -> Result<Vec<Event>, ServiceError> {
        self.read_at(topic, None, limit, wait, Start::ToEnd).await
    }

    async fn probe(&self) -> Result<ServiceFacts, ServiceError> {
        let md = self.metadata().await?;
        // The Kafka protocol carries no broker software version; the environment adds it
        // for brokers it started (see `environment::annotate`).
        let user_topics: Vec<&String> = md.topics.iter().filter(|t| !t.starts_with("__")).collect();
        Ok(ServiceFacts::default()
            .with("brokers", md.brokers.clone())
            .with("topic_count", user_topics.len())
            .with(
                "topics",
                user_topics
                    .iter()
                    .take(20)
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>(),
            ))
    }
}
