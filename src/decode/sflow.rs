//! The sFlow v5 decoder: datagram → one `Flow` per flow sample (mapping in
//! `wire::sflow`), generic interface counters kept per (agent, ifIndex),
//! datagram and sample sequence numbers tracked per agent (see `tables`).
//!
//! Errors are counted by kind in `DecodeStats`: a datagram header that is cut
//! short, or a sample running past the end of the datagram, is `Truncated` and
//! ends the walk; a sample count larger than the samples present (or smaller,
//! leaving bytes over) is `BadLength`; a record running past its sample, or a
//! sampled header that contradicts itself, is `BadLength` (or the inner
//! header's `Truncated`/`BadVersion`) and drops that one sample; a sample type
//! we do not decode, or a flow sample without any packet record, is
//! `Unsupported`; table evictions are `CapacityExceeded`. Unknown records
//! inside a known sample are normal sFlow extensibility and skipped silently.
//! Flows decoded before an error are kept.

mod sample;
mod tables;

use std::net::IpAddr;

use self::sample::{flow_from_sample, Context};
use self::tables::Tables;
pub(crate) use self::tables::ENTRIES_PER_AGENT;
use super::stats::{DatagramOutcome, DecodeStats};
use crate::flow::Flow;
use crate::wire::sflow::{
    counter_format, sample_format, CounterSample, Datagram, FlowSample, InterfaceCounters,
};
use crate::wire::WireError;

/// sFlow state of one worker: per-agent sequence numbers, interface counters.
pub struct SflowDecoder {
    tables: Tables,
}

impl SflowDecoder {
    /// `max_agents` caps the per-agent tables (sequence numbers, interface counters):
    /// at most `max_agents` (agent, sub-agent) pairs and 64 × `max_agents` data
    /// sources and interfaces; beyond that the stalest entry is evicted and counted.
    pub fn new(max_agents: usize) -> Self {
        SflowDecoder { tables: Tables::new(max_agents) }
    }

    /// Decodes one sFlow v5 datagram from `exporter`; `sampling_override` replaces the
    /// datagram's sampling rate when set. Never panics; errors are counted in `stats`.
    pub fn decode<S: FnMut(&Flow) + ?Sized>(
        &mut self,
        datagram: &[u8],
        exporter: IpAddr,
        received_ms: u64,
        sampling_override: Option<u32>,
        stats: &mut DecodeStats,
        sink: &mut S,
    ) -> DatagramOutcome {
        stats.datagrams += 1;
        let mut out = DatagramOutcome::default();
        let dg = match Datagram::new_checked(datagram) {
            Ok(dg) => dg,
            Err(e) => {
                fail(&mut out, stats, e);
                stats.bad_datagrams += 1;
                return out;
            }
        };
        let agent = dg.agent_address();
        let sub_agent = dg.sub_agent_id();
        let (tracked, epoch) = self.tables.datagram(agent, sub_agent, dg.sequence_number(), dg.uptime_ms());
        if tracked.evicted {
            stats.error(WireError::CapacityExceeded);
        }
        out.missing_datagrams = tracked.missing;
        let ctx = Context { exporter, agent, sub_agent, received_ms, sampling_override };

        let mut samples = dg.samples();
        let mut walk_failed = false;
        for entry in &mut samples {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    fail(&mut out, stats, e);
                    walk_failed = true;
                    break;
                }
            };
            let result = match (entry.enterprise, entry.format) {
                (0, sample_format::FLOW) => self.flow_sample(entry.body, false, epoch, &ctx, &mut out, sink),
                (0, sample_format::EXPANDED_FLOW) => {
                    self.flow_sample(entry.body, true, epoch, &ctx, &mut out, sink)
                }
                (0, sample_format::COUNTERS) => self.counter_sample(agent, entry.body, false),
                (0, sample_format::EXPANDED_COUNTERS) => self.counter_sample(agent, entry.body, true),
                _ => Err(WireError::Unsupported),
            };
            match result {
                Ok(evicted) => {
                    if evicted {
                        stats.error(WireError::CapacityExceeded);
                    }
                }
                // The sample's own length was consistent with the datagram: the next one can be read.
                Err(e) => fail(&mut out, stats, e),
            }
        }
        if samples.trailing() > 0 && !walk_failed {
            fail(&mut out, stats, WireError::BadLength); // fewer samples announced than sent
        }
        stats.flows += out.flows as u64;
        stats.missing_datagrams += out.missing_datagrams;
        stats.missing_flows += out.missing_flows;
        if out.flows == 0 && out.error.is_some() {
            stats.bad_datagrams += 1;
        }
        out
    }

    /// Decodes one flow sample into the sink; `Ok(true)` when tracking it evicted a table entry.
    fn flow_sample<S: FnMut(&Flow) + ?Sized>(
        &mut self,
        body: &[u8],
        expanded: bool,
        epoch: u64,
        ctx: &Context,
        out: &mut DatagramOutcome,
        sink: &mut S,
    ) -> Result<bool, WireError> {
        let sample = FlowSample::new_checked(body, expanded)?;
        let flow = flow_from_sample(&sample, ctx)?.ok_or(WireError::Unsupported)?;
        let source_id = u64::from(sample.source_id_type()) << 32 | u64::from(sample.source_id_index());
        let tracked = self.tables.flow_sample(
            ctx.agent,
            ctx.sub_agent,
            epoch,
            source_id,
            sample.sequence_number(),
            sample.drops(),
        );
        out.missing_flows += tracked.missing;
        out.flows += 1;
        sink(&flow);
        Ok(tracked.evicted)
    }

    /// Keeps the generic interface counters of a counter sample; `Ok(true)` on an eviction.
    fn counter_sample(&mut self, agent: IpAddr, body: &[u8], expanded: bool) -> Result<bool, WireError> {
        let sample = CounterSample::new_checked(body, expanded)?;
        let mut evicted = false;
        for record in sample.records() {
            let record = record?;
            if (record.enterprise, record.format) == (0, counter_format::GENERIC_INTERFACE) {
                evicted |= self.tables.interface(agent, InterfaceCounters::parse(record.body)?);
            }
        }
        Ok(evicted)
    }

    /// The latest generic interface counters (counter record 1) `agent` (the
    /// datagram's agent address) sent for `if_index`.
    pub fn interface_counters(&self, agent: IpAddr, if_index: u32) -> Option<&InterfaceCounters> {
        self.tables.interface_counters(agent, if_index)
    }

    /// Every (agent address, interface counters) kept, in no particular order.
    pub fn interfaces(&self) -> impl Iterator<Item = (IpAddr, &InterfaceCounters)> {
        self.tables.interfaces()
    }

    /// (agent, sub-agent) pairs whose sequence numbers are tracked now.
    pub fn agent_count(&self) -> usize {
        self.tables.agent_count()
    }

    /// Data sources whose sample sequence numbers are tracked now.
    pub fn source_count(&self) -> usize {
        self.tables.source_count()
    }
}

/// Counts `e` and remembers the first error of the datagram.
fn fail(out: &mut DatagramOutcome, stats: &mut DecodeStats, e: WireError) {
    stats.error(e);
    out.error.get_or_insert(e);
}

#[cfg(test)]
mod tests;
