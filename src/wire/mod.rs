//! Checked, zero-copy views over export datagrams (smoltcp style), one module
//! per protocol, plus the `emit` side the generator and the tests use.
//!
//! A view is built with `new_checked(&[u8])`, which validates lengths once;
//! after that no accessor can fail or panic.

use crate::flow::{Flow, FlowSource};

pub mod ie;
pub mod inner;
pub mod ipfix;
pub mod netflow_v5;
pub mod netflow_v9;
pub mod sets;
pub mod sflow;

/// Why a datagram (or part of one) could not be decoded. `Copy`, so counting
/// one costs nothing; `as_str` gives the metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// Fewer bytes than a header or a declared length needs.
    Truncated,
    /// Version field is none of the protocols we speak.
    BadVersion,
    /// A length or count field contradicts the datagram (zero, too long, inconsistent).
    BadLength,
    /// A data set arrived whose template we do not (yet) know.
    UnknownTemplate,
    /// A template that cannot be used (id < 256, zero fields, too many fields, bad field length).
    BadTemplate,
    /// A record or sample type we do not decode (counted, skipped).
    Unsupported,
    /// A table keyed by exporter input is full; the entry was dropped or evicted.
    CapacityExceeded,
}

impl WireError {
    pub const ALL: [WireError; 7] = [
        WireError::Truncated,
        WireError::BadVersion,
        WireError::BadLength,
        WireError::UnknownTemplate,
        WireError::BadTemplate,
        WireError::Unsupported,
        WireError::CapacityExceeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadVersion => "bad_version",
            WireError::BadLength => "bad_length",
            WireError::UnknownTemplate => "unknown_template",
            WireError::BadTemplate => "bad_template",
            WireError::Unsupported => "unsupported",
            WireError::CapacityExceeded => "capacity_exceeded",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for WireError {}

/// Which protocol a datagram speaks, from its first bytes: NetFlow v5/v9 and
/// IPFIX start with a 16-bit version (5, 9, 10); sFlow with a 32-bit version 5.
pub fn sniff(datagram: &[u8]) -> Option<FlowSource> {
    if datagram.len() < 4 {
        return None;
    }
    match u16::from_be_bytes([datagram[0], datagram[1]]) {
        5 => Some(FlowSource::NetflowV5),
        9 => Some(FlowSource::NetflowV9),
        10 => Some(FlowSource::Ipfix),
        0 if u32::from_be_bytes([datagram[0], datagram[1], datagram[2], datagram[3]]) == 5 => {
            Some(FlowSource::Sflow)
        }
        _ => None,
    }
}

/// Settings one exporter's encoder needs (the generator keeps one encoder per
/// simulated exporter).
#[derive(Clone, Debug)]
pub struct EncoderConfig {
    /// v9 source id, IPFIX observation domain, sFlow sub-agent id.
    pub domain: u32,
    /// Sampling interval announced (v5 header, v9/IPFIX sampler options, sFlow rate); 1 = none.
    pub sampling: u32,
    /// v9/IPFIX: send templates (and sampler options) every this many datagrams (first datagram always).
    pub template_every: u32,
    /// Exporter boot time, UTC ms (v5/v9 sysUptime is relative to it).
    pub boot_ms: u64,
    /// sFlow agent address (the exporter's own address).
    pub agent: std::net::IpAddr,
}

/// Turns flows into export datagrams of one protocol, keeping the exporter's
/// sequence numbers and template schedule.
pub trait FlowEncoder: Send {
    fn protocol(&self) -> FlowSource;
    /// Most flows one datagram carries (keeps datagrams under 1500 bytes).
    fn max_flows_per_datagram(&self) -> usize;
    /// Clears `out`, writes one datagram carrying a prefix of `flows` (at most
    /// `max_flows_per_datagram`) exported at `now_ms`, returns how many flows it took.
    fn encode(&mut self, flows: &[Flow], now_ms: u64, out: &mut Vec<u8>) -> usize;
}

/// The encoder for `protocol`, one per simulated exporter.
pub fn encoder(protocol: FlowSource, cfg: EncoderConfig) -> Box<dyn FlowEncoder> {
    match protocol {
        FlowSource::NetflowV5 => Box::new(netflow_v5::Encoder::new(cfg)),
        FlowSource::NetflowV9 => Box::new(netflow_v9::Encoder::new(cfg)),
        FlowSource::Ipfix => Box::new(ipfix::Encoder::new(cfg)),
        FlowSource::Sflow => Box::new(sflow::Encoder::new(cfg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_tells_versions_apart() {
        assert_eq!(sniff(&[0, 5, 0, 1]), Some(FlowSource::NetflowV5));
        assert_eq!(sniff(&[0, 9, 0, 1]), Some(FlowSource::NetflowV9));
        assert_eq!(sniff(&[0, 10, 0, 16]), Some(FlowSource::Ipfix));
        assert_eq!(sniff(&[0, 0, 0, 5]), Some(FlowSource::Sflow));
        assert_eq!(sniff(&[0, 0, 0, 4]), None);
        assert_eq!(sniff(&[0, 5]), None);
    }

    #[test]
    fn error_labels_are_distinct() {
        let labels: std::collections::HashSet<_> = WireError::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(labels.len(), WireError::ALL.len());
        for (i, e) in WireError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
        }
    }
}
