//! A link's view of one stream's chain of toxics: which of them apply to it (each
//! rolls its toxicity once per link), what they ask of the next chunk, and the timers
//! that end a link without data (a timeout running out, an armed reset).

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::toxic::Effect;

/// A stream's toxics in the order they were added, as the proxy publishes them.
pub(super) type Chain = Arc<Vec<ChainToxic>>;

#[derive(Debug)]
pub(super) struct ChainToxic {
    /// New each time the toxic is added or updated, so a link rolls its toxicity again.
    pub id: u64,
    pub name: String,
    pub toxicity: f32,
    pub effect: Effect,
}

/// How one direction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// Its source closed; the close was passed on and the other direction goes on.
    Eof,
    /// The whole link closes (timeout, limit_data, an I/O error).
    Close,
    /// The whole link closes with a TCP RST to both peers (reset_peer).
    Reset,
}

/// What the toxics that apply to this link ask of the next chunk.
pub(super) struct Plan {
    pub black_hole: bool,
    pub reset_after: Option<Duration>,
    pub latency: Duration,
    pub limit_left: Option<u64>,
    /// Bytes per millisecond (KB/s).
    pub rate: Option<u64>,
    pub slicer: Option<(usize, usize, Duration)>,
    pub slow_close: Duration,
}

/// A toxic as this link sees it: whether its toxicity roll made it apply here, since
/// when, and what it has counted.
struct Active {
    id: u64,
    name: String,
    effect: Effect,
    applies: bool,
    since: Instant,
    sent: u64,
}

/// Why a wait ended.
pub(super) enum Wake {
    Elapsed,
    Changed,
    End(End),
}

/// One direction's view of its stream's chain.
pub(super) struct LinkToxics {
    chain: watch::Receiver<Chain>,
    active: Vec<Active>,
    /// When a triggered reset_peer resets the link; it stays armed if the toxic goes.
    pub reset_at: Option<Instant>,
    /// When bandwidth lets the next bytes go.
    pub free_at: Instant,
}

impl LinkToxics {
    pub(super) fn new(chain: watch::Receiver<Chain>) -> Self {
        let mut toxics = Self {
            chain,
            active: Vec::new(),
            reset_at: None,
            free_at: Instant::now(),
        };
        toxics.sync();
        toxics
    }

    /// Takes the chain's latest toxics. A timeout toxic that applied here and is now gone
    /// closes the link, as Toxiproxy's does on removal: the data it dropped is lost, so
    /// the stream would be out of step if it went on.
    fn sync(&mut self) -> Option<End> {
        let chain = self.chain.borrow_and_update().clone();
        let now = Instant::now();
        let mut previous = std::mem::take(&mut self.active);
        for toxic in chain.iter() {
            let roll = || rand::random::<f32>() < toxic.toxicity;
            let active = match previous.iter().position(|a| a.name == toxic.name) {
                Some(index) => {
                    let mut active = previous.swap_remove(index);
                    if active.id != toxic.id {
                        active.id = toxic.id;
                        active.effect = toxic.effect;
                        active.applies = roll();
                        active.since = now;
                    }
                    active
                }
                None => Active {
                    id: toxic.id,
                    name: toxic.name.clone(),
                    effect: toxic.effect,
                    applies: roll(),
                    since: now,
                    sent: 0,
                },
            };
            self.active.push(active);
        }
        let timeout_gone = previous
            .iter()
            .any(|a| a.applies && matches!(a.effect, Effect::Timeout { .. }));
        timeout_gone.then_some(End::Close)
    }

    /// Waits for the chain to change: `Some` if that ends the link.
    pub(super) async fn changed(&mut self) -> Option<End> {
        match self.chain.changed().await {
            Ok(()) => self.sync(),
            Err(_) => Some(End::Close), // the proxy is gone
        }
    }

    /// Waits until `until` (`None`: no limit), a chain change, or a timer ending the link.
    pub(super) async fn wait(&mut self, until: Option<Instant>) -> Wake {
        if until.is_some_and(|until| until <= Instant::now()) {
            return Wake::Elapsed;
        }
        let timer = self.timer();
        tokio::select! {
            biased;
            end = self.changed() => match end {
                Some(end) => Wake::End(end),
                None => Wake::Changed,
            },
            end = fire(timer) => Wake::End(end),
            () = at(until) => Wake::Elapsed,
        }
    }

    /// The next time something ends the link without data: a timeout running out or an
    /// armed reset.
    pub(super) fn timer(&self) -> Option<(Instant, End)> {
        let timeouts = self.applied().filter_map(|a| match a.effect {
            Effect::Timeout { timeout } if !timeout.is_zero() => {
                Some((a.since + timeout, End::Close))
            }
            _ => None,
        });
        timeouts
            .chain(self.reset_at.map(|at| (at, End::Reset)))
            .min_by_key(|&(at, _)| at)
    }

    fn applied(&self) -> impl Iterator<Item = &Active> {
        self.active.iter().filter(|a| a.applies)
    }

    pub(super) fn plan(&self) -> Plan {
        let mut plan = Plan {
            black_hole: false,
            reset_after: None,
            latency: Duration::ZERO,
            limit_left: None,
            rate: None,
            slicer: None,
            slow_close: Duration::ZERO,
        };
        for active in self.applied() {
            match active.effect {
                Effect::Timeout { .. } => plan.black_hole = true,
                Effect::ResetPeer { timeout } => {
                    plan.reset_after.get_or_insert(timeout);
                }
                Effect::Latency { latency, jitter } => plan.latency += jittered(latency, jitter),
                Effect::LimitData { bytes } => {
                    let left = bytes.saturating_sub(active.sent);
                    plan.limit_left = Some(plan.limit_left.map_or(left, |l| l.min(left)));
                }
                Effect::Bandwidth { rate } if rate > 0 => {
                    plan.rate = Some(plan.rate.map_or(rate, |r| r.min(rate)));
                }
                Effect::Bandwidth { .. } => {}
                Effect::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } => {
                    plan.slicer
                        .get_or_insert((average_size, size_variation, delay));
                }
                Effect::SlowClose { delay } => plan.slow_close = plan.slow_close.max(delay),
            }
        }
        plan
    }

    pub(super) fn arm_reset(&mut self, timeout: Duration) {
        self.reset_at.get_or_insert(Instant::now() + timeout);
    }

    /// Counts bytes delivered against each limit_data: true once one is used up.
    pub(super) fn count_sent(&mut self, bytes: usize) -> bool {
        let mut used_up = false;
        for active in self.active.iter_mut().filter(|a| a.applies) {
            if let Effect::LimitData { bytes: limit } = active.effect {
                active.sent += bytes as u64;
                used_up |= active.sent >= limit;
            }
        }
        used_up
    }
}

/// `latency` ± up to `jitter`, never below zero.
fn jittered(latency: Duration, jitter: Duration) -> Duration {
    let jitter = jitter.as_millis() as i64;
    if jitter == 0 {
        return latency;
    }
    let offset = rand::rng().random_range(-jitter..jitter);
    Duration::from_millis((latency.as_millis() as i64 + offset).max(0) as u64)
}

pub(super) async fn fire(timer: Option<(Instant, End)>) -> End {
    match timer {
        Some((when, end)) => {
            sleep_until(when).await;
            end
        }
        None => pending().await,
    }
}

async fn at(until: Option<Instant>) {
    match until {
        Some(until) => sleep_until(until).await,
        None => pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_range() {
        for _ in 0..200 {
            let delay = jittered(Duration::from_millis(100), Duration::from_millis(20));
            assert!((80..120).contains(&delay.as_millis()), "{delay:?}");
        }
        for _ in 0..200 {
            // Never below zero, however large the jitter.
            let delay = jittered(Duration::from_millis(5), Duration::from_millis(50));
            assert!(delay.as_millis() < 55, "{delay:?}");
        }
    }

    fn chain(toxics: Vec<(u64, &str, f32, Effect)>) -> Chain {
        Arc::new(
            toxics
                .into_iter()
                .map(|(id, name, toxicity, effect)| ChainToxic {
                    id,
                    name: name.into(),
                    toxicity,
                    effect,
                })
                .collect(),
        )
    }

    #[test]
    fn removing_an_applied_timeout_closes_and_others_do_not() {
        let timeout = Effect::Timeout {
            timeout: Duration::ZERO,
        };
        let latency = Effect::Latency {
            latency: Duration::from_millis(5),
            jitter: Duration::ZERO,
        };
        let (sender, receiver) =
            watch::channel(chain(vec![(1, "t", 1.0, timeout), (2, "l", 1.0, latency)]));
        let mut toxics = LinkToxics::new(receiver);
        assert!(toxics.plan().black_hole);
        sender.send_replace(chain(vec![(1, "t", 1.0, timeout)]));
        assert_eq!(toxics.sync(), None);
        sender.send_replace(chain(vec![]));
        assert_eq!(toxics.sync(), Some(End::Close));

        // A timeout whose roll missed this link never touched it, so its removal leaves
        // the link alone.
        let (sender, receiver) = watch::channel(chain(vec![(3, "t", 0.0, timeout)]));
        let mut toxics = LinkToxics::new(receiver);
        assert!(!toxics.plan().black_hole);
        sender.send_replace(chain(vec![]));
        assert_eq!(toxics.sync(), None);
    }

    #[test]
    fn limit_data_counts_what_was_sent() {
        let (_sender, receiver) = watch::channel(chain(vec![(
            1,
            "limit",
            1.0,
            Effect::LimitData { bytes: 10 },
        )]));
        let mut toxics = LinkToxics::new(receiver);
        assert_eq!(toxics.plan().limit_left, Some(10));
        assert!(!toxics.count_sent(4));
        assert_eq!(toxics.plan().limit_left, Some(6));
        assert!(toxics.count_sent(6));
        assert_eq!(toxics.plan().limit_left, Some(0));
    }
}
