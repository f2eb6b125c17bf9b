//! SCAFFOLD: the sFlow v5 decoder. Only the public shape is fixed here.

use std::net::IpAddr;

use super::stats::{DatagramOutcome, DecodeStats};
use crate::flow::Flow;

/// sFlow state of one worker: per-agent sequence numbers, interface counters.
pub struct SflowDecoder {
    max_agents: usize,
}

impl SflowDecoder {
    /// `max_agents` caps the per-agent tables (sequence numbers, interface counters).
    pub fn new(max_agents: usize) -> Self {
        SflowDecoder { max_agents }
    }

    /// Decodes one sFlow v5 datagram from `exporter`; `sampling_override` replaces the
    /// datagram's sampling rate when set. Never panics; errors are counted in `stats`.
    pub fn decode(
        &mut self,
        _datagram: &[u8],
        _exporter: IpAddr,
        _received_ms: u64,
        _sampling_override: Option<u32>,
        stats: &mut DecodeStats,
        _sink: &mut dyn FnMut(&Flow),
    ) -> DatagramOutcome {
        let _ = self.max_agents;
        stats.error(crate::wire::WireError::Unsupported);
        DatagramOutcome { error: Some(crate::wire::WireError::Unsupported), ..Default::default() }
    }
}
