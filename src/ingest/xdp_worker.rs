//! The AF_XDP side of a worker (feature `xdp`; a child module of `worker`):
//! frames from this worker's receive queue are parsed down to their UDP
//! payload and handed to the same routing, decoding and counting as the
//! datagrams the UDP sockets read, with the same receive-time semantics.

use anyhow::{Context, Result};
use mio::unix::SourceFd;
use mio::{Interest, Poll, Token};

use super::{Worker, BATCHES_PER_TURN};
use crate::ingest::xdp::XdpQueue;
use crate::ingest::xdp_packet::{parse_frame, FrameError};
use crate::merge::now_ms;

/// mio token of the AF_XDP socket (socket tokens are their index; usize::MAX is mio's).
const XDP_TOKEN: Token = Token(usize::MAX - 1);

/// Frames the collector could not use, by reason (logged when the worker stops).
#[derive(Debug, Default)]
pub(super) struct FrameErrors {
    malformed: u64,
    not_udp: u64,
    bad_checksum: u64,
    unknown_port: u64,
}

impl Worker {
    /// Makes this worker read `queue` (one worker per receive queue).
    pub fn with_xdp(mut self, queue: XdpQueue) -> Worker {
        self.xdp = Some(queue);
        self
    }

    /// Registers the AF_XDP socket with `poll` and hands the queue to the run loop.
    pub(super) fn register_xdp(&mut self, poll: &Poll) -> Result<Option<(XdpQueue, FrameErrors)>> {
        let Some(queue) = self.xdp.take() else { return Ok(None) };
        let fd = queue.raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), XDP_TOKEN, Interest::READABLE)
            .context("cannot register the AF_XDP socket")?;
        Ok(Some((queue, FrameErrors::default())))
    }

    /// Reads the RX ring until it is empty (every wake-up: a ring peek is cheap,
    /// and it covers a missed edge) or a turn's worth of batches was read, then refreshes
    /// the kernel's drop counters. Returns whether the ring may hold more.
    pub(super) fn drain_xdp(&mut self, xdp: &mut Option<(XdpQueue, FrameErrors)>, last: bool) -> bool {
        let Some((queue, errors)) = xdp.as_mut() else { return false };
        let router = self.router.clone();
        // Bounded like the socket path: a flood must not starve flushes, hand-overs or a stop.
        let turns = if last { 64 * BATCHES_PER_TURN } else { BATCHES_PER_TURN };
        let mut more = true;
        for _ in 0..turns {
            let n = queue.recv();
            if n == 0 {
                more = false;
                break;
            }
            self.refresh_profiles();
            let received_ms = now_ms();
            for i in 0..n {
                let datagram = match parse_frame(queue.frame(i)) {
                    Ok(d) => d,
                    Err(e) => {
                        self.status.datagrams += 1;
                        self.status.dropped += 1;
                        match e {
                            FrameError::Malformed => errors.malformed += 1,
                            FrameError::NotUdp => errors.not_udp += 1,
                            FrameError::BadChecksum => {
                                if errors.bad_checksum == 0 {
                                    tracing::warn!(
                                        worker = self.cfg.id,
                                        "AF_XDP: a datagram with a bad UDP checksum was dropped \
                                         (counted; logged once per queue)"
                                    );
                                }
                                errors.bad_checksum += 1;
                            }
                        }
                        continue;
                    }
                };
                match router.ports.iter().find(|p| p.port == datagram.to.port()) {
                    Some(port) => {
                        self.handle_datagram(port, datagram.payload, Some(datagram.from), false, received_ms)
                    }
                    None => {
                        // The program only redirects configured ports; count anything else.
                        self.status.datagrams += 1;
                        self.status.dropped += 1;
                        errors.unknown_port += 1;
                    }
                }
            }
            queue.release();
        }
        match queue.drops(last) {
            Ok(d) => {
                self.status.kernel_drops = d.lost();
                if last {
                    tracing::info!(
                        worker = self.cfg.id,
                        "AF_XDP queue {}: {} datagrams; kernel dropped {} (rx_dropped {}, rx_ring_full {}), \
                         fill ring found empty {} times; frames refused: {} malformed, {} not UDP, \
                         {} bad UDP checksum, {} other port",
                        queue.queue,
                        self.status.datagrams,
                        d.lost(),
                        d.rx_dropped,
                        d.rx_ring_full,
                        d.fill_ring_empty,
                        errors.malformed,
                        errors.not_udp,
                        errors.bad_checksum,
                        errors.unknown_port
                    );
                }
            }
            Err(e) if last => tracing::warn!(worker = self.cfg.id, "cannot read AF_XDP statistics: {e}"),
            Err(_) => {}
        }
        more
    }
}
