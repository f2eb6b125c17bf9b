//! Counters every decoder keeps: what came in, what came out, what was wrong.

use crate::wire::WireError;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub datagrams: u64,
    /// Datagrams that yielded no flows because of an error (the error is in `errors`).
    pub bad_datagrams: u64,
    pub flows: u64,
    /// Errors by `WireError::index()`; a datagram may count several (e.g. one bad set, others fine).
    pub errors: [u64; WireError::ALL.len()],
    /// Flows the exporters' sequence numbers say we never received.
    pub missing_flows: u64,
    /// Datagrams the exporters' sequence numbers say we never received (IPFIX/sFlow count datagrams, v9 packets).
    pub missing_datagrams: u64,
    pub templates_received: u64,
    pub templates_evicted: u64,
    /// Data sets held until their template arrived, then decoded.
    pub pending_decoded: u64,
    /// Data sets held for a template that never came (or dropped because the hold queue was full).
    pub pending_dropped: u64,
    /// Exporters dropped from the decoder's table (least recently seen) to stay under its cap.
    pub exporters_evicted: u64,
}

impl DecodeStats {
    #[inline]
    pub fn error(&mut self, e: WireError) {
        self.errors[e.index()] += 1;
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    pub fn merge(&mut self, o: &DecodeStats) {
        self.datagrams += o.datagrams;
        self.bad_datagrams += o.bad_datagrams;
        self.flows += o.flows;
        for (a, b) in self.errors.iter_mut().zip(o.errors.iter()) {
            *a += b;
        }
        self.missing_flows += o.missing_flows;
        self.missing_datagrams += o.missing_datagrams;
        self.templates_received += o.templates_received;
        self.templates_evicted += o.templates_evicted;
        self.pending_decoded += o.pending_decoded;
        self.pending_dropped += o.pending_dropped;
        self.exporters_evicted += o.exporters_evicted;
    }

    /// `{"truncated": 3, ...}` with only the non-zero kinds.
    pub fn errors_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for e in WireError::ALL {
            let n = self.errors[e.index()];
            if n > 0 {
                m.insert(e.as_str().to_string(), n.into());
            }
        }
        serde_json::Value::Object(m)
    }
}

/// What decoding one datagram gave, beyond the flows handed to the sink.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatagramOutcome {
    pub flows: usize,
    /// Gap in the exporter's sequence numbers this datagram revealed (not counting restarts).
    pub missing_flows: u64,
    pub missing_datagrams: u64,
    /// Set when the datagram (or part of it) was rejected.
    pub error: Option<crate::wire::WireError>,
}
