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
//!   `bytes = S × N`, `sampling = N`, where **S is the sampled packet size the
//!   agent reports**: the raw header record's frame length (layer 2, with the
//!   FCS when the agent counts it), else the Ethernet frame data record's
//!   length, else the IPv4/IPv6 data record's IP length. This is how sfacctd
//!   and nfdump's sfcapd count sFlow bytes (sflowtool's `sampledPacketSize`),
//!   so totals agree with them (tests/sflow_golden.rs checks it against
//!   sfacctd); for sFlow, `Flow::bytes` is therefore frame bytes, a little more
//!   than the IP bytes NetFlow reports for the same traffic.
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
pub mod record;
pub mod view;

pub use encoder::{as_sampled, sampled_frame_len, Encoder, MAX_DATAGRAM};
pub use record::{
    ExtendedGateway, ExtendedRouter, ExtendedSwitch, InterfaceCounters, RawPacketHeader, SampledEthernet,
    SampledIp,
};
pub use view::{
    counter_format, flow_format, header_protocol, sample_format, CounterSample, Datagram, Entries, Entry,
    FlowSample,
};

#[cfg(test)]
pub(crate) mod tests;
