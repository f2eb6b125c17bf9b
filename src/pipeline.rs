//! Everything a worker does with a datagram once it has been received and
//! routed to a source: decode it, count its flows into the worker's tables and
//! append them to the worker's segment. `bench/collector.rs` drives this same
//! code without sockets.
//!
//! Flows are handed on in small batches rather than one call per flow: the
//! flows of one datagram share their receive time, so the bucket's tables and
//! the open segment are looked up once per batch, and the per-flow work is a
//! tight loop over a buffer that stays in L1.

use std::net::SocketAddr;

use crate::aggregate::Aggregator;
use crate::decode::Decoder;
use crate::flow::Flow;
use crate::live::WorkerStatus;
use crate::profile::CompiledProfile;
use crate::store::FlowWriter;

/// Flows handed on together (a v5 datagram has 30, v9/IPFIX from the generator 9–10).
const BATCH_FLOWS: usize = 64;

/// Decode → aggregate → store for one worker.
pub struct FlowPath {
    pub decoder: Decoder,
    pub agg: Aggregator,
    pub writer: FlowWriter,
    batch: Vec<Flow>,
}

impl FlowPath {
    pub fn new(decoder: Decoder, agg: Aggregator, writer: FlowWriter) -> FlowPath {
        FlowPath { decoder, agg, writer, batch: Vec::with_capacity(BATCH_FLOWS) }
    }

    /// Decodes `bytes` from `from`, counts every flow for `source` (rescaled to the
    /// source's `sampling` override, if any) and buffers it for the store.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn datagram(
        &mut self,
        bytes: &[u8],
        from: SocketAddr,
        received_ms: u64,
        source: usize,
        sampling: Option<u32>,
        profiles: &[CompiledProfile],
        status: &mut WorkerStatus,
    ) {
        let FlowPath { decoder, agg, writer, batch } = self;
        let mut hand_on = |batch: &mut Vec<Flow>| {
            if let Some(rate) = sampling {
                for f in batch.iter_mut() {
                    resample(f, rate);
                }
            }
            status.flows += batch.len() as u64;
            agg.add_batch(batch, source, profiles);
            if writer.append_batch(batch).is_err() {
                status.store_errors += batch.len() as u64;
            }
            batch.clear();
        };
        decoder.decode_batched(bytes, from, received_ms, batch, BATCH_FLOWS, &mut hand_on);
        if !batch.is_empty() {
            hand_on(batch);
        }
    }
}

/// Rescales a flow's counts from the sampling interval it was decoded with to `rate`.
#[inline]
pub fn resample(f: &mut Flow, rate: u32) {
    let old = f.sampling.max(1) as u64;
    if old == rate as u64 {
        return;
    }
    f.packets = f.packets / old * rate as u64;
    f.bytes = f.bytes / old * rate as u64;
    f.sampling = rate;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_rescales_from_the_decoded_interval() {
        let mut f = Flow { packets: 10 * 100, bytes: 1500 * 100, sampling: 100, ..Flow::EMPTY };
        resample(&mut f, 1000);
        assert_eq!((f.packets, f.bytes, f.sampling), (10 * 1000, 1500 * 1000, 1000));
        let mut g = Flow { packets: 7, bytes: 700, sampling: 1, ..Flow::EMPTY };
        resample(&mut g, 64);
        assert_eq!((g.packets, g.bytes), (7 * 64, 700 * 64));
    }
}
