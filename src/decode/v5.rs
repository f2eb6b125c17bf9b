//! NetFlow v5: fixed records, sampling from the header, flow sequence per engine.

use super::exporter::Exporter;
use super::stats::DatagramOutcome;
use super::template::{finish, Extra, Time, TimeBase};
use super::templated::{finish_outcome, Ctx, Tally};
use crate::flow::Flow;
use crate::wire::netflow_v5::Packet;
use crate::wire::WireError;

pub(crate) fn decode<S: FnMut(&Flow) + ?Sized>(
    d: &[u8],
    ex: &mut Exporter,
    ctx: &Ctx,
    max_engines: usize,
    sink: &mut S,
) -> Result<DatagramOutcome, WireError> {
    let p = Packet::new_checked(d)?;
    let engine = u32::from(p.engine_type()) << 8 | u32::from(p.engine_id());
    // Engines (engine_type, engine_id pairs) are v5's domains, under the same cap.
    let di = ex.domain(engine, max_engines);
    let header_interval = u32::from(p.sampling_interval());
    let sampling =
        ctx.sampling_override.unwrap_or(if header_interval > 1 { header_interval } else { 1 }).max(1);
    let base = TimeBase { export_ms: p.export_ms(), sys_uptime: Some(p.sys_uptime()), sys_init_ms: None };
    let export_ms = base.export_ms;
    let up = p.sys_uptime();
    let mut tally = Tally::default();
    for r in p.records() {
        let mut flow = Flow {
            exporter: ctx.exporter,
            source: ctx.source,
            received_ms: ctx.received_ms,
            src_addr: r.srcaddr().into(),
            dst_addr: r.dstaddr().into(),
            next_hop: r.nexthop().into(),
            in_if: r.input().into(),
            out_if: r.output().into(),
            packets: u64::from(r.d_pkts()) * u64::from(sampling),
            bytes: u64::from(r.d_octets()) * u64::from(sampling),
            src_port: r.srcport(),
            dst_port: r.dstport(),
            tcp_flags: r.tcp_flags(),
            protocol: r.prot(),
            tos: r.tos(),
            src_as: r.src_as().into(),
            dst_as: r.dst_as().into(),
            src_mask: r.src_mask(),
            dst_mask: r.dst_mask(),
            sampling,
            ..Flow::EMPTY
        };
        if flow.is_icmp() {
            // ICMP also needs the type/code convention: the general path.
            let x = Extra { start: Time::Uptime(r.first()), end: Time::Uptime(r.last()), ..Extra::default() };
            finish(&mut flow, &x, &base, false);
        } else {
            // Common case inlined: times relative to the header's sysUptime (signed, wrap-safe).
            let at = |t: u32| (export_ms as i64 - i64::from(up.wrapping_sub(t) as i32)).max(0) as u64;
            flow.first_ms = at(r.first());
            flow.last_ms = at(r.last());
        }
        tally.add(&flow);
        sink(&flow);
    }
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
