//! NetFlow v5: fixed records, sampling from the header, flow sequence per engine.
//!
//! The record loop is the collector's hottest v5 code: everything the records of
//! a datagram share (exporter, receive time, sampling, time base) is worked out
//! once per datagram, the shared `Flow` fields are written once, and each 48-byte
//! record then overwrites only its own fields with fixed-offset loads (the
//! records are `&[u8; 48]`, checked against the length once by `new_checked`).

use super::emit::Emit;
use super::exporter::Exporter;
use super::stats::DatagramOutcome;
use super::templated::{finish_outcome, Ctx, Tally};
use std::net::IpAddr;

use crate::flow::{proto, Flow, FlowSource};
use crate::wire::netflow_v5::{FlowRecord, Packet, RECORD_LEN};
use crate::wire::WireError;

/// What every record of one datagram shares.
#[derive(Clone, Copy)]
pub(crate) struct Header {
    /// unix_secs / unix_nsecs, UTC ms.
    export_ms: i64,
    /// sysUptime at export, the reference of the records' first / last.
    sys_uptime: u32,
    sampling: u32,
    exporter: IpAddr,
    source: FlowSource,
    received_ms: u64,
}

impl Header {
    /// A record time (sysUptime of the router) in UTC ms: the signed distance from
    /// the header's uptime survives the 49.7-day wrap and times slightly ahead of it.
    /// Times before 1970 become 0; `CLAMP` false skips that check, for headers
    /// whose export time makes it impossible (see [`Header::needs_clamp`]).
    #[inline(always)]
    fn utc_ms<const CLAMP: bool>(&self, uptime: u32) -> u64 {
        let ms = self.export_ms - i64::from(self.sys_uptime.wrapping_sub(uptime) as i32);
        if CLAMP {
            ms.max(0) as u64
        } else {
            ms as u64
        }
    }

    /// Whether a record time can come out negative: only when the export time is
    /// within 2^31 ms (24.8 days) of the epoch, as the distance is an i32.
    #[inline]
    pub(crate) fn needs_clamp(&self) -> bool {
        self.export_ms < 1 << 31
    }

    /// A flow with the fields every record of the datagram shares.
    #[inline(always)]
    pub(crate) fn shared(&self) -> Flow {
        Flow {
            exporter: self.exporter,
            source: self.source,
            received_ms: self.received_ms,
            sampling: self.sampling,
            ..Flow::EMPTY
        }
    }

    /// Writes the record's own fields over `flow` (whose shared fields are set);
    /// returns the raw (unsampled) packet and byte counts.
    #[inline(always)]
    pub(crate) fn fill<const CLAMP: bool>(
        &self,
        flow: &mut Flow,
        r: FlowRecord<&[u8; RECORD_LEN]>,
    ) -> (u32, u32) {
        let (packets, bytes) = (r.d_pkts(), r.d_octets());
        flow.src_addr = r.srcaddr().into();
        flow.dst_addr = r.dstaddr().into();
        flow.next_hop = r.nexthop().into();
        flow.in_if = r.input().into();
        flow.out_if = r.output().into();
        flow.packets = u64::from(packets) * u64::from(self.sampling);
        flow.bytes = u64::from(bytes) * u64::from(self.sampling);
        flow.first_ms = self.utc_ms::<CLAMP>(r.first());
        flow.last_ms = self.utc_ms::<CLAMP>(r.last());
        let prot = r.prot();
        (flow.src_port, flow.dst_port) = (r.srcport(), r.dstport());
        if prot == proto::ICMP || prot == proto::ICMPV6 {
            (flow.src_port, flow.dst_port) = icmp_ports(r.srcport(), r.dstport());
        }
        flow.protocol = prot;
        flow.tcp_flags = r.tcp_flags();
        flow.tos = r.tos();
        flow.src_as = r.src_as().into();
        flow.dst_as = r.dst_as().into();
        flow.src_mask = r.src_mask();
        flow.dst_mask = r.dst_mask();
        (packets, bytes)
    }
}

/// ICMP: no source port, type << 8 | code in the destination port (some
/// exporters put it in the source port instead). Out of line: it is rare.
/// Takes and returns values, not the flow, so the flow can stay in registers.
#[cold]
#[inline(never)]
fn icmp_ports(src_port: u16, dst_port: u16) -> (u16, u16) {
    (0, if dst_port == 0 { src_port } else { dst_port })
}

pub(crate) fn decode<E: Emit + ?Sized>(
    d: &[u8],
    ex: &mut Exporter,
    ctx: &Ctx,
    max_engines: usize,
    emit: &mut E,
) -> Result<DatagramOutcome, WireError> {
    let p = Packet::new_checked(d)?;
    let engine = u32::from(p.engine_type()) << 8 | u32::from(p.engine_id());
    // Engines (engine_type, engine_id pairs) are v5's domains, under the same cap.
    let di = ex.domain(engine, max_engines);
    let header_interval = u32::from(p.sampling_interval());
    let sampling = ctx.sampling_override.unwrap_or(header_interval).max(1);
    let header = Header {
        export_ms: p.export_ms() as i64,
        sys_uptime: p.sys_uptime(),
        sampling,
        exporter: ctx.exporter,
        source: ctx.source,
        received_ms: ctx.received_ms,
    };
    let records = p.record_bytes();
    // Raw counts are summed in 64 bits (count ≤ 65535 records × u32 cannot
    // overflow) and scaled once: the same as saturating sums of scaled counts.
    let (packets, bytes) = if header.needs_clamp() {
        emit.v5_records::<true>(&header, records)
    } else {
        emit.v5_records::<false>(&header, records)
    };
    let flows = records.len() as u64;
    let tally = Tally {
        flows,
        packets: packets.saturating_mul(u64::from(sampling)),
        bytes: bytes.saturating_mul(u64::from(sampling)),
        sampling: (flows > 0).then_some(sampling),
    };
    let mut out = DatagramOutcome {
        missing_flows: ex.domains[di].sequence.check(
            p.flow_sequence(),
            Some(u32::from(p.count())),
            Some(p.sys_uptime()),
        ),
        ..DatagramOutcome::default()
    };
    finish_outcome(ex, &mut out, &tally);
    Ok(out)
}
