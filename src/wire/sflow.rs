//! sFlow v5: checked views over datagrams, samples and records (`view`), and
//! the encoder the generator and the tests use (`encoder`).
//!
//! # How a `Flow` maps to sFlow and back
//!
//! sFlow does not export flows: an agent samples 1 in N packets and sends each
//! sampled packet's header. One flow sample therefore stands for N packets of
//! one 5-tuple, and the collector turns each flow sample into one `Flow`:
//!
//! - `packets = N` (the sample's sampling rate, or the configured override),
//!   `bytes = L × N`, `sampling = N`, where **L is the IP packet length** (IPv4
//!   total length, IPv6 40 + payload length) read from the sampled header, or
//!   the IPv4/IPv6 data record's length. Layer 3, like NetFlow octets and
//!   `Flow::bytes`; sfacctd's totals are compared against this in
//!   tests/sflow_golden.rs. Without an IP header, L is the frame length minus
//!   the Ethernet header and stripped bytes.
//! - `first_ms = last_ms = received_ms`: sFlow carries no flow times.
//! - `exporter` is the datagram's source address, `domain` the sub-agent id.
//! - addresses, ports, protocol, TCP flags, TOS, MACs and the VLAN from the
//!   sampled header (ICMP: `dst_port = type << 8 | code`); extended switch
//!   (1001) VLANs, extended router (1002) next hop and masks, and extended
//!   gateway (1003) AS numbers override or add to them.
//! - `in_if`/`out_if` from the sample's input/output interface (0 when the
//!   agent says unknown, dropped or multiple).
//!
//! The encoder writes the reverse, one flow sample per flow: a raw Ethernet
//! header record built from the flow, extended switch/router/gateway records
//! when the flow has VLANs / next hop or masks / AS numbers. What survives the
//! trip is exactly [`as_sampled`]`(flow, rate)`.

pub mod encoder;
pub mod view;

pub use encoder::{as_sampled, sampled_ip_len, Encoder, MAX_DATAGRAM};
pub use view::{
    counter_format, flow_format, header_protocol, sample_format, CounterSample, Datagram, Entries, Entry,
    ExtendedGateway, ExtendedRouter, ExtendedSwitch, FlowSample, InterfaceCounters, RawPacketHeader,
    SampledEthernet, SampledIp,
};
