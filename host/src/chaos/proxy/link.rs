//! One proxied connection: a client and its upstream, piped both ways, each direction
//! through the toxics of its stream. A link follows its proxy's chain for each stream
//! (a watch channel), so a toxic added or removed changes links already open, not only
//! new ones.
//!
//! Each direction reads into a queue of timestamped chunks while a second future
//! delivers them, so a latency toxic delays every chunk from when it was read (as
//! Toxiproxy's pipeline does) instead of adding up across a burst. The toxics compose in
//! a fixed order, whatever the order they were added in: drop (timeout, reset_peer),
//! delay (latency), cap (limit_data), then cut and pace (slicer, bandwidth).

use std::future::pending;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::debug;

use super::chain::{Chain, End, LinkToxics, Wake, fire};

const READ_SIZE: usize = 32 * 1024;
/// Chunks read but not yet delivered (at most 4 MiB a direction).
const CHUNKS_IN_FLIGHT: usize = 128;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one accepted client until either side closes it or a toxic ends it.
pub(super) async fn run(
    mut client: TcpStream,
    upstream_addr: String,
    upstream_chain: watch::Receiver<Chain>,
    downstream_chain: watch::Receiver<Chain>,
) {
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&upstream_addr));
    let mut upstream = match connect.await {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(error)) => {
            debug!(upstream = %upstream_addr, %error, "cannot connect upstream; closing the client");
            return;
        }
        Err(_) => {
            debug!(upstream = %upstream_addr, "upstream connect timed out; closing the client");
            return;
        }
    };
    // Go, and so Toxiproxy, turns Nagle off; with it on, small writes would wait on ACKs
    // and look like latency that no toxic asked for.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let end = pipe_both(&mut client, &mut upstream, upstream_chain, downstream_chain).await;
    if end == End::Reset {
        // A zero linger makes the close below an abortive one: RST instead of FIN.
        let _ = client.set_zero_linger();
        let _ = upstream.set_zero_linger();
    }
    debug!(upstream = %upstream_addr, ?end, "link closed");
}

async fn pipe_both(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    upstream_chain: watch::Receiver<Chain>,
    downstream_chain: watch::Receiver<Chain>,
) -> End {
    let (client_read, client_write) = client.split();
    let (upstream_read, upstream_write) = upstream.split();
    let to_upstream = pump(client_read, upstream_write, upstream_chain);
    let to_client = pump(upstream_read, client_write, downstream_chain);
    tokio::pin!(to_upstream, to_client);
    let (mut upstream_open, mut client_open) = (true, true);
    loop {
        let end = tokio::select! {
            end = &mut to_upstream, if upstream_open => { upstream_open = false; end }
            end = &mut to_client, if client_open => { client_open = false; end }
        };
        if end != End::Eof || !(upstream_open || client_open) {
            return end;
        }
    }
}

struct Chunk {
    data: Bytes,
    read_at: Instant,
}

/// One direction: reads `source` and delivers what its toxics let through to `dest`.
async fn pump(
    mut source: impl AsyncRead + Unpin,
    mut dest: impl AsyncWrite + Unpin,
    chain: watch::Receiver<Chain>,
) -> End {
    let (chunks, mut queue) = mpsc::channel::<std::io::Result<Chunk>>(CHUNKS_IN_FLIGHT);
    let read = async move {
        let mut buffer = BytesMut::new();
        loop {
            buffer.reserve(READ_SIZE);
            let chunk = match source.read_buf(&mut buffer).await {
                Ok(0) => break,
                Ok(_) => Ok(Chunk {
                    data: buffer.split().freeze(),
                    read_at: Instant::now(),
                }),
                Err(error) => Err(error),
            };
            let failed = chunk.is_err();
            if chunks.send(chunk).await.is_err() || failed {
                break;
            }
        }
        // Dropping the sender tells the delivery side the source is done; only delivery
        // ends the pump.
        drop(chunks);
        pending::<End>().await
    };
    let mut toxics = LinkToxics::new(chain);
    tokio::select! {
        end = deliver_all(&mut queue, &mut dest, &mut toxics) => end,
        end = read => end,
    }
}

async fn deliver_all(
    queue: &mut mpsc::Receiver<std::io::Result<Chunk>>,
    dest: &mut (impl AsyncWrite + Unpin),
    toxics: &mut LinkToxics,
) -> End {
    loop {
        let timer = toxics.timer();
        let next = tokio::select! {
            biased;
            end = toxics.changed() => match end {
                Some(end) => return end,
                None => continue,
            },
            end = fire(timer) => return end,
            next = queue.recv() => next,
        };
        match next {
            Some(Ok(chunk)) => {
                if let Some(end) = deliver(chunk, dest, toxics).await {
                    return end;
                }
            }
            Some(Err(error)) => {
                debug!(%error, "read failed; closing the link");
                return End::Close;
            }
            None => return finish(dest, toxics).await,
        }
    }
}

/// Passes one chunk through the toxics. A change to the chain while the chunk waits
/// plans the rest of it again, so a removed toxic stops holding it back at once.
async fn deliver(
    chunk: Chunk,
    dest: &mut (impl AsyncWrite + Unpin),
    toxics: &mut LinkToxics,
) -> Option<End> {
    let Chunk { mut data, read_at } = chunk;
    'plan: while !data.is_empty() {
        let plan = toxics.plan();
        if plan.black_hole {
            return None;
        }
        if let Some(timeout) = plan.reset_after {
            toxics.arm_reset(timeout);
            return None;
        }
        match toxics.wait(Some(read_at + plan.latency)).await {
            Wake::Elapsed => {}
            Wake::Changed => continue 'plan,
            Wake::End(end) => return Some(end),
        }
        let sendable = match plan.limit_left {
            Some(0) => return Some(End::Close),
            Some(left) => data.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
            None => data.len(),
        };
        let slices = match plan.slicer {
            Some((average, variation, _)) => slice_sizes(sendable, average, variation),
            None => vec![sendable],
        };
        for slice in slices {
            let mut left_in_slice = slice;
            while left_in_slice > 0 {
                let mut size = left_in_slice;
                if let Some(rate) = plan.rate {
                    // As Toxiproxy does: at most 100 ms of data at a time, so a slow
                    // stream trickles instead of arriving in one late burst.
                    size = size.min(usize::try_from(rate * 100).unwrap_or(usize::MAX));
                    let due = toxics.free_at.max(Instant::now())
                        + Duration::from_micros(size as u64 * 1000 / rate);
                    match toxics.wait(Some(due)).await {
                        Wake::Elapsed => toxics.free_at = due,
                        Wake::Changed => continue 'plan,
                        Wake::End(end) => return Some(end),
                    }
                }
                let piece = data.split_to(size);
                // A peer that stops reading must not hold off a timeout or a reset.
                let timer = toxics.timer();
                tokio::select! {
                    written = dest.write_all(&piece) => if written.is_err() {
                        return Some(End::Close);
                    },
                    end = fire(timer) => return Some(end),
                }
                left_in_slice -= size;
                if toxics.count_sent(size) {
                    return Some(End::Close);
                }
            }
            if let Some((_, _, delay)) = plan.slicer {
                match toxics.wait(Some(Instant::now() + delay)).await {
                    Wake::Elapsed => {}
                    Wake::Changed => continue 'plan,
                    Wake::End(end) => return Some(end),
                }
            }
        }
    }
    None
}

/// The source closed: passes the close on, after slow_close's delay, or resets the link
/// if a reset_peer toxic applies (in Toxiproxy the close, too, sets it off).
async fn finish(dest: &mut (impl AsyncWrite + Unpin), toxics: &mut LinkToxics) -> End {
    let closed_at = Instant::now();
    loop {
        let plan = toxics.plan();
        if plan.black_hole {
            return End::Close;
        }
        if let Some(timeout) = plan.reset_after {
            toxics.arm_reset(timeout);
        }
        let until = match toxics.reset_at {
            Some(_) => None, // the reset's timer ends the wait
            None => Some(closed_at + plan.slow_close),
        };
        match toxics.wait(until).await {
            Wake::Elapsed => break,
            Wake::Changed => {}
            Wake::End(end) => return end,
        }
    }
    let _ = dest.shutdown().await;
    End::Eof
}

/// Cuts `len` bytes as Toxiproxy's slicer does: halves, each split point moved by up to
/// `variation`, until a piece is no larger than `average + variation`. `variation` is
/// below `average` (checked with the toxic), so every piece has at least one byte.
fn slice_sizes(len: usize, average: usize, variation: usize) -> Vec<usize> {
    fn cut(len: usize, average: usize, variation: usize, sizes: &mut Vec<usize>) {
        if len <= average + variation {
            sizes.push(len);
            return;
        }
        let mut left = len / 2;
        if variation > 0 {
            left = left - variation + rand::rng().random_range(0..2 * variation);
        }
        cut(left, average, variation, sizes);
        cut(len - left, average, variation, sizes);
    }
    let mut sizes = Vec::new();
    if len > 0 {
        cut(len, average, variation, &mut sizes);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_data_within_their_bounds() {
        for (len, average, variation) in [(100, 10, 0), (32 * 1024, 100, 40), (7, 10, 5), (1, 1, 0)]
        {
            for _ in 0..20 {
                let sizes = slice_sizes(len, average, variation);
                assert_eq!(sizes.iter().sum::<usize>(), len);
                assert!(
                    sizes.iter().all(|&s| s >= 1 && s <= average + variation),
                    "{sizes:?}"
                );
            }
        }
        assert!(slice_sizes(0, 10, 0).is_empty());
        // 100 bytes at 10 ± 0: halved down to pieces of 6 or 7.
        assert_eq!(slice_sizes(100, 10, 0).len(), 16);
    }
}
