//! The normalized flow record every decoder produces and every later stage
//! (aggregate, store, query, export) consumes. Plain data, fixed size, `Copy`:
//! no allocation ever happens to build or move one.

use std::net::{IpAddr, Ipv4Addr};

/// Which export protocol a flow arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FlowSource {
    NetflowV5 = 5,
    NetflowV9 = 9,
    Ipfix = 10,
    Sflow = 20,
}

impl FlowSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowSource::NetflowV5 => "netflow-v5",
            FlowSource::NetflowV9 => "netflow-v9",
            FlowSource::Ipfix => "ipfix",
            FlowSource::Sflow => "sflow",
        }
    }

    pub fn from_u8(v: u8) -> Option<FlowSource> {
        match v {
            5 => Some(FlowSource::NetflowV5),
            9 => Some(FlowSource::NetflowV9),
            10 => Some(FlowSource::Ipfix),
            20 => Some(FlowSource::Sflow),
            _ => None,
        }
    }
}

/// IP protocol numbers used across the code base.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// One normalized flow record.
///
/// Conventions (the same as nfdump's, so filters and statistics agree):
/// - times are UTC milliseconds since the Unix epoch;
/// - for ICMP and ICMPv6, `src_port` is 0 and `dst_port` is `type << 8 | code`;
/// - `packets` and `bytes` are already multiplied by `sampling` (the raw
///   exported values are `packets / sampling`, `bytes / sampling`);
/// - addresses absent from the export are `0.0.0.0` (or `::` for IPv6 flows),
///   numbers absent are 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// Address the export datagram came from (the router / agent).
    pub exporter: IpAddr,
    /// NetFlow v9 source id, IPFIX observation domain, sFlow sub-agent id; 0 for v5.
    pub domain: u32,
    pub source: FlowSource,
    /// First packet of the flow, UTC ms.
    pub first_ms: u64,
    /// Last packet of the flow, UTC ms.
    pub last_ms: u64,
    /// When the collector received (or, for `ingest`, the capture saw) the datagram, UTC ms.
    pub received_ms: u64,
    pub src_addr: IpAddr,
    pub dst_addr: IpAddr,
    pub next_hop: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    /// Cumulative TCP flags (FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20).
    pub tcp_flags: u8,
    pub tos: u8,
    pub src_mask: u8,
    pub dst_mask: u8,
    pub in_if: u32,
    pub out_if: u32,
    pub src_as: u32,
    pub dst_as: u32,
    pub src_vlan: u16,
    pub dst_vlan: u16,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// Packets, sampling-corrected.
    pub packets: u64,
    /// Bytes, sampling-corrected: as the exporter counts them (layer 3 for NetFlow/IPFIX; the
    /// sampled frame length for sFlow, as sfacctd and nfdump's sfcapd count it).
    pub bytes: u64,
    /// Sampling interval that was applied (1 = unsampled / unknown).
    pub sampling: u32,
}

impl Flow {
    /// An all-zero IPv4 flow: the starting point decoders fill in.
    pub const EMPTY: Flow = Flow {
        exporter: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        domain: 0,
        source: FlowSource::NetflowV5,
        first_ms: 0,
        last_ms: 0,
        received_ms: 0,
        src_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        next_hop: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        src_port: 0,
        dst_port: 0,
        protocol: 0,
        tcp_flags: 0,
        tos: 0,
        src_mask: 0,
        dst_mask: 0,
        in_if: 0,
        out_if: 0,
        src_as: 0,
        dst_as: 0,
        src_vlan: 0,
        dst_vlan: 0,
        src_mac: [0; 6],
        dst_mac: [0; 6],
        packets: 0,
        bytes: 0,
        sampling: 1,
    };

    pub fn is_ipv6(&self) -> bool {
        self.src_addr.is_ipv6() || self.dst_addr.is_ipv6()
    }

    /// Flow duration in milliseconds (0 when the exporter sent no times).
    pub fn duration_ms(&self) -> u64 {
        self.last_ms.saturating_sub(self.first_ms)
    }

    pub fn icmp_type(&self) -> u8 {
        (self.dst_port >> 8) as u8
    }

    pub fn icmp_code(&self) -> u8 {
        self.dst_port as u8
    }

    pub fn is_icmp(&self) -> bool {
        self.protocol == proto::ICMP || self.protocol == proto::ICMPV6
    }
}

impl Default for Flow {
    fn default() -> Self {
        Flow::EMPTY
    }
}

/// flows / packets / bytes, the three totals everything reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

impl Counters {
    #[inline]
    pub fn add_flow(&mut self, flow: &Flow) {
        self.flows += 1;
        self.packets += flow.packets;
        self.bytes += flow.bytes;
    }

    #[inline]
    pub fn add(&mut self, other: &Counters) {
        self.flows += other.flows;
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// The 5-minute UTC bucket a time falls into, as the bucket's start in UTC seconds.
pub const BUCKET_SECONDS: u64 = 300;

#[inline]
pub fn bucket_start(unix_ms: u64) -> u64 {
    let secs = unix_ms / 1000;
    secs - secs % BUCKET_SECONDS
}

/// Splits `flows` into runs of consecutive flows of the same 5-minute bucket (by
/// `received_ms`): (bucket start, run). A datagram's flows share their receive time, so a
/// batch of them is one run and costs one bucket lookup.
pub fn bucket_runs(flows: &[Flow]) -> impl Iterator<Item = (u64, &[Flow])> {
    let mut rest = flows;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let bucket = bucket_start(first.received_ms);
        let run = rest
            .iter()
            .position(|f| f.received_ms != first.received_ms && bucket_start(f.received_ms) != bucket)
            .unwrap_or(rest.len());
        let (chunk, tail) = rest.split_at(run);
        rest = tail;
        Some((bucket, chunk))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_start_rounds_down_to_five_minutes() {
        // 2026-11-29 10:07:31.500 UTC
        let ms = 1_795_946_851_500u64;
        let start = bucket_start(ms);
        assert_eq!(start % 300, 0);
        assert!(start * 1000 <= ms && ms < (start + 300) * 1000);
    }

    #[test]
    fn counters_add_flow() {
        let mut c = Counters::default();
        let f = Flow { packets: 3, bytes: 120, ..Flow::EMPTY };
        c.add_flow(&f);
        c.add_flow(&f);
        assert_eq!(c, Counters { flows: 2, packets: 6, bytes: 240 });
    }

    #[test]
    fn bucket_runs_split_where_the_bucket_changes() {
        let at = |ms: u64| Flow { received_ms: ms, ..Flow::EMPTY };
        let flows = [at(1_000), at(2_000), at(299_999), at(300_000), at(300_000), at(1_000)];
        let runs: Vec<(u64, usize)> = bucket_runs(&flows).map(|(b, r)| (b, r.len())).collect();
        assert_eq!(runs, vec![(0, 3), (300, 2), (0, 1)]);
        assert_eq!(bucket_runs(&[]).count(), 0);
    }

    #[test]
    fn icmp_type_code_in_dst_port() {
        let f = Flow { protocol: proto::ICMP, dst_port: 3 << 8 | 1, ..Flow::EMPTY };
        assert!(f.is_icmp());
        assert_eq!((f.icmp_type(), f.icmp_code()), (3, 1));
    }
}
