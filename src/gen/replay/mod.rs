//! The fast path of the send loop: a flow pool replayed from records the
//! wire encoders wrote once, when the pool was drawn.
//!
//! Encoding a pooled `Flow` per send costs more than `sendmmsg` itself at
//! full speed (the 160-byte flows of a large pool come from L3 or memory, and
//! each field is converted again). A replayed flow differs from its first
//! pass only in its times (shifted with the export clock: see
//! `FlowPool::exact_from_ms`) and, from the second pass on, its ephemeral
//! ports; the sampler sequence numbers (sFlow) and the headers depend on the
//! send. So each datagram is its header, a copy of the next pre-encoded
//! records, and a few patched fields per record.
//!
//! The bytes are exactly those the wire encoder writes for the same pool
//! (the tests in `tests.rs` compare every protocol datagram by datagram, and
//! tests/gen_golden.rs holds the captures). The fixed parts (template sets,
//! sFlow header, v5 engine and sampling fields) are taken from the wire
//! encoder itself.

mod netflow;
mod records;
mod sflow;

use crate::flow::{Counters, Flow, FlowSource};
use crate::gen::pool::FlowPool;
use crate::wire::EncoderConfig;

/// One exporter's pre-encoded pool and its sequence numbers and template schedule.
pub enum Replay {
    V5(netflow::V5),
    /// NetFlow v9 or IPFIX.
    Templated(netflow::Templated),
    Sflow(sflow::Sflow),
}

impl Replay {
    /// Pre-encodes `pool` (not yet replayed), first exported at `now_ms`, as
    /// `crate::wire::encoder(protocol, cfg)` would encode it. None when the pool
    /// cannot be replayed exactly from records: its flows' times would clamp
    /// at zero (a clock near 1970), or v5 is given IPv6 flows, which its
    /// encoder skips. The caller then encodes the flows.
    pub fn new(
        protocol: FlowSource,
        cfg: &EncoderConfig,
        pool: &mut FlowPool,
        now_ms: u64,
    ) -> Option<Replay> {
        let exact_from_ms = pool.exact_from_ms();
        if now_ms < exact_from_ms {
            return None;
        }
        let flows: &[Flow] = pool.first_pass(now_ms);
        Some(match protocol {
            FlowSource::NetflowV5 => Replay::V5(netflow::V5::new(cfg, flows, now_ms, exact_from_ms)?),
            FlowSource::NetflowV9 => {
                Replay::Templated(netflow::Templated::new(false, cfg, flows, now_ms, exact_from_ms))
            }
            FlowSource::Ipfix => {
                Replay::Templated(netflow::Templated::new(true, cfg, flows, now_ms, exact_from_ms))
            }
            FlowSource::Sflow => Replay::Sflow(sflow::Sflow::new(cfg, flows, now_ms)),
        })
    }

    pub fn max_flows_per_datagram(&self) -> usize {
        match self {
            Replay::V5(r) => r.max_flows_per_datagram(),
            Replay::Templated(r) => r.max_flows_per_datagram(),
            Replay::Sflow(r) => r.max_flows_per_datagram(),
        }
    }

    /// Writes the next datagram into `out` (cleared first), exported at `now_ms`;
    /// returns how many flows it carries.
    #[inline]
    pub fn encode(&mut self, now_ms: u64, out: &mut Vec<u8>) -> usize {
        match self {
            Replay::V5(r) => r.encode(now_ms, out),
            Replay::Templated(r) => r.encode(now_ms, out),
            Replay::Sflow(r) => r.encode(now_ms, out),
        }
    }

    /// Flows, packets and bytes of all datagrams written so far (as the pool's
    /// flows count them): read per batch, not per datagram.
    pub fn sent(&self) -> Counters {
        match self {
            Replay::V5(r) => r.records().sent(),
            Replay::Templated(r) => r.records().sent(),
            Replay::Sflow(r) => r.records().sent(),
        }
    }
}

#[cfg(test)]
mod tests;
