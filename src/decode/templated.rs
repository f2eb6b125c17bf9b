//! NetFlow v9 and IPFIX: the two template-based protocols share everything but
//! their headers and set ids — template cache, options (sampling, system init
//! time), data records, held data sets.

use std::net::IpAddr;

use super::exporter::{Domain, Exporter, Pending};
use super::stats::{DatagramOutcome, DecodeStats};
use super::template::{finish, Extra, Template, TimeBase};
use super::DecoderConfig;
use crate::flow::{Flow, FlowSource};
use crate::wire::sets::{parse_template, Dialect, SetIter};
use crate::wire::{ipfix, netflow_v9, WireError};

/// What every record decoded from one datagram shares.
#[derive(Clone, Copy)]
pub(crate) struct Ctx {
    pub exporter: IpAddr,
    pub source: FlowSource,
    pub received_ms: u64,
    pub sampling_override: Option<u32>,
}

/// Flows handed to the sink, for the exporter's counters.
#[derive(Clone, Copy, Default)]
pub(crate) struct Tally {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub sampling: Option<u32>,
}

impl Tally {
    #[inline]
    pub fn add(&mut self, f: &Flow) {
        self.flows += 1;
        self.packets = self.packets.saturating_add(f.packets);
        self.bytes = self.bytes.saturating_add(f.bytes);
        self.sampling = Some(f.sampling);
    }
}

/// Decodes every record of a data set with template `t`. Options records update
/// the domain's samplers / init time; flow records go to `sink`. Returns the
/// number of records, or the error that stopped the set with the records before it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_data<S: FnMut(&Flow) + ?Sized>(
    t: &Template,
    body: &[u8],
    domain: &mut Domain,
    domain_id: u32,
    base: &TimeBase,
    ctx: &Ctx,
    tally: &mut Tally,
    sink: &mut S,
) -> (u32, Option<WireError>) {
    let proto = Flow {
        exporter: ctx.exporter,
        domain: domain_id,
        source: ctx.source,
        received_ms: ctx.received_ms,
        ..Flow::EMPTY
    };
    let base = TimeBase { sys_init_ms: domain.sys_init_ms, ..*base };
    let min = t.min_len();
    let mut rest = body;
    let mut records = 0u32;
    while rest.len() >= min {
        let mut flow = proto;
        let mut x = Extra::default();
        let Some(used) = t.read(rest, &mut flow, &mut x) else {
            return (records, Some(WireError::Truncated));
        };
        rest = &rest[used..];
        records += 1;
        if t.options {
            if let Some(interval) = x.announced_interval() {
                domain.set_sampler(x.sampler_id.unwrap_or(0), interval);
            }
            if x.sys_init_ms.is_some() {
                domain.sys_init_ms = x.sys_init_ms;
            }
            continue;
        }
        finish(&mut flow, &x, &base, t.ipv6);
        let sampling = ctx
            .sampling_override
            .or_else(|| x.announced_interval())
            .or_else(|| domain.interval(x.sampler_id))
            .unwrap_or(1)
            .max(1);
        flow.sampling = sampling;
        flow.packets = flow.packets.saturating_mul(u64::from(sampling));
        flow.bytes = flow.bytes.saturating_mul(u64::from(sampling));
        tally.add(&flow);
        sink(&flow);
    }
    (records, None)
}

/// The header fields both protocols give us.
struct Header<'a> {
    domain: u32,
    sequence: u32,
    base: TimeBase,
    sets: SetIter<'a>,
    dialect: Dialect,
    template_set: u16,
    options_set: u16,
}

fn header(d: &[u8], source: FlowSource) -> Result<Header<'_>, WireError> {
    if source == FlowSource::NetflowV9 {
        let p = netflow_v9::Packet::new_checked(d)?;
        let base = TimeBase {
            export_ms: u64::from(p.unix_secs()) * 1000,
            sys_uptime: Some(p.sys_uptime()),
            sys_init_ms: None,
        };
        Ok(Header {
            domain: p.source_id(),
            sequence: p.package_sequence(),
            base,
            sets: SetIter::new(&d[netflow_v9::HEADER_LEN..]),
            dialect: Dialect::V9,
            template_set: netflow_v9::TEMPLATE_FLOWSET_ID,
            options_set: netflow_v9::OPTIONS_TEMPLATE_FLOWSET_ID,
        })
    } else {
        let p = ipfix::Packet::new_checked(d)?;
        let base =
            TimeBase { export_ms: u64::from(p.export_time()) * 1000, sys_uptime: None, sys_init_ms: None };
        Ok(Header {
            domain: p.observation_domain_id(),
            sequence: p.sequence_number(),
            base,
            sets: SetIter::new(&d[ipfix::HEADER_LEN..usize::from(p.length())]),
            dialect: Dialect::Ipfix,
            template_set: ipfix::TEMPLATE_SET_ID,
            options_set: ipfix::OPTIONS_TEMPLATE_SET_ID,
        })
    }
}

/// Decodes one v9 packet or IPFIX message from `ex`.
pub(crate) fn decode<S: FnMut(&Flow) + ?Sized>(
    d: &[u8],
    ex: &mut Exporter,
    cfg: &DecoderConfig,
    stats: &mut DecodeStats,
    ctx: &Ctx,
    sink: &mut S,
) -> DatagramOutcome {
    let mut out = DatagramOutcome::default();
    let h = match header(d, ctx.source) {
        Ok(h) => h,
        Err(e) => {
            note(&mut out, stats, e);
            return out;
        }
    };
    let di = ex.domain(h.domain, cfg.max_domains_per_exporter);
    let mut tally = Tally::default();
    // Records this message carried; None once a set could not be counted.
    let mut records: Option<u32> = Some(0);
    for set in h.sets.clone() {
        let set = match set {
            Ok(s) => s,
            Err(e) => {
                note(&mut out, stats, e);
                records = None;
                break;
            }
        };
        if set.id == h.template_set || set.id == h.options_set {
            let options = set.id == h.options_set;
            templates(
                set.body, h.dialect, options, h.domain, set.id, ex, cfg, stats, &mut out, &mut tally, sink,
            );
        } else if set.id >= 256 {
            ex.clock += 1;
            let clock = ex.clock;
            let Exporter { templates, domains, .. } = &mut *ex;
            if let Some(t) = templates.get_mut(&(h.domain, set.id)) {
                t.last_used = clock;
                let (n, err) =
                    decode_data(t, set.body, &mut domains[di], h.domain, &h.base, ctx, &mut tally, sink);
                records = records.map(|r| r.wrapping_add(n));
                if let Some(e) = err {
                    note(&mut out, stats, e);
                }
            } else {
                records = None;
                hold(ex, cfg, stats, h.domain, set.id, set.body, &h.base, ctx.received_ms);
            }
        } else {
            note(&mut out, stats, WireError::Unsupported);
        }
    }
    let domain = &mut ex.domains[di];
    if ctx.source == FlowSource::NetflowV9 {
        out.missing_datagrams = domain.sequence.check(h.sequence, Some(1), h.base.sys_uptime);
    } else {
        out.missing_flows = domain.sequence.check(h.sequence, records, None);
    }
    finish_outcome(ex, &mut out, &tally);
    out
}

/// Records an error for the outcome and the stats (the first error is the outcome's).
#[inline]
pub(crate) fn note(out: &mut DatagramOutcome, stats: &mut DecodeStats, e: WireError) {
    stats.error(e);
    out.error.get_or_insert(e);
}

pub(crate) fn finish_outcome(ex: &mut Exporter, out: &mut DatagramOutcome, tally: &Tally) {
    out.flows += tally.flows as usize;
    credit_exporter(ex, out, tally);
}

/// Adds a decoded datagram's flows, counters, sampling and sequence gaps to its exporter.
pub(crate) fn credit_exporter(ex: &mut Exporter, out: &DatagramOutcome, tally: &Tally) {
    ex.flows += tally.flows;
    ex.packets = ex.packets.saturating_add(tally.packets);
    ex.bytes = ex.bytes.saturating_add(tally.bytes);
    if tally.sampling.is_some() {
        ex.sampling = tally.sampling;
    }
    ex.missing_flows += out.missing_flows;
    ex.missing_datagrams += out.missing_datagrams;
}

/// Installs the template records of one (options) template set; decodes data sets
/// that were waiting for them.
#[allow(clippy::too_many_arguments)]
fn templates<S: FnMut(&Flow) + ?Sized>(
    body: &[u8],
    dialect: Dialect,
    options: bool,
    domain: u32,
    set_id: u16,
    ex: &mut Exporter,
    cfg: &DecoderConfig,
    stats: &mut DecodeStats,
    out: &mut DatagramOutcome,
    tally: &mut Tally,
    sink: &mut S,
) {
    let mut rest = body;
    while rest.len() >= 4 && !rest.iter().all(|&b| b == 0) {
        let (rec, used) = match parse_template(rest, dialect, options) {
            Ok(r) => r,
            Err(e) => {
                note(out, stats, e);
                return;
            }
        };
        let raw = &rest[..used];
        rest = &rest[used..];
        let key = (domain, rec.template_id);
        if rec.is_withdrawal() {
            if rec.template_id == set_id {
                ex.templates.retain(|k, _| k.0 != domain);
            } else {
                ex.templates.remove(&key);
            }
            continue;
        }
        stats.templates_received += 1;
        ex.clock += 1;
        let clock = ex.clock;
        if let Some(t) = ex.templates.get_mut(&key) {
            if t.same_as(raw) {
                t.last_used = clock;
                continue;
            }
        }
        let mut t = match Template::compile(&rec, raw) {
            Ok(t) => t,
            Err(e) => {
                note(out, stats, e);
                continue;
            }
        };
        t.last_used = clock;
        if !ex.templates.contains_key(&key)
            && ex.templates.len() >= cfg.max_templates_per_exporter.max(1)
            && ex.evict_lru_template()
        {
            stats.templates_evicted += 1;
            note(out, stats, WireError::CapacityExceeded);
        }
        ex.templates.insert(key, t);
        release_pending(ex, domain, rec.template_id, stats, out, tally, sink);
    }
}

/// Holds a data set whose template has not arrived, within the caps; older
/// held sets make room and are counted as dropped.
#[allow(clippy::too_many_arguments)]
fn hold(
    ex: &mut Exporter,
    cfg: &DecoderConfig,
    stats: &mut DecodeStats,
    domain: u32,
    template_id: u16,
    body: &[u8],
    base: &TimeBase,
    received_ms: u64,
) {
    let too_old = |p: &Pending| received_ms.saturating_sub(p.received_ms) > cfg.pending_max_age_ms;
    while ex.pending.front().is_some_and(too_old) {
        drop_front(ex, stats);
    }
    if cfg.max_pending_sets == 0 || body.len() > cfg.max_pending_bytes {
        stats.pending_dropped += 1;
        stats.error(WireError::UnknownTemplate);
        ex.errors += 1;
        return;
    }
    while ex.pending.len() >= cfg.max_pending_sets || ex.pending_bytes + body.len() > cfg.max_pending_bytes {
        drop_front(ex, stats);
    }
    ex.pending_bytes += body.len();
    ex.pending.push_back(Pending {
        domain,
        template_id,
        received_ms,
        export_ms: base.export_ms,
        sys_uptime: base.sys_uptime,
        data: body.to_vec(),
    });
}

fn drop_front(ex: &mut Exporter, stats: &mut DecodeStats) {
    if let Some(p) = ex.pending.pop_front() {
        ex.pending_bytes -= p.data.len();
        stats.pending_dropped += 1;
        stats.error(WireError::UnknownTemplate);
        ex.errors += 1;
    }
}

/// Drops every held data set (end of a capture), counting them.
pub(crate) fn drop_all_pending(ex: &mut Exporter, stats: &mut DecodeStats) {
    while !ex.pending.is_empty() {
        drop_front(ex, stats);
    }
}

fn release_pending<S: FnMut(&Flow) + ?Sized>(
    ex: &mut Exporter,
    domain: u32,
    template_id: u16,
    stats: &mut DecodeStats,
    out: &mut DatagramOutcome,
    tally: &mut Tally,
    sink: &mut S,
) {
    if ex.pending.is_empty() {
        return;
    }
    let di = match ex.domains.iter().position(|d| d.id == domain) {
        Some(i) => i,
        None => return,
    };
    let ctx_source = ex.protocol;
    let address = ex.address;
    let mut i = 0;
    while i < ex.pending.len() {
        if ex.pending[i].domain != domain || ex.pending[i].template_id != template_id {
            i += 1;
            continue;
        }
        let Some(p) = ex.pending.remove(i) else { break };
        ex.pending_bytes -= p.data.len();
        stats.pending_decoded += 1;
        let ctx = Ctx {
            exporter: address,
            source: ctx_source,
            received_ms: p.received_ms,
            sampling_override: None,
        };
        let base = TimeBase { export_ms: p.export_ms, sys_uptime: p.sys_uptime, sys_init_ms: None };
        let Exporter { templates, domains, sampling_override, .. } = &mut *ex;
        let ctx = Ctx { sampling_override: *sampling_override, ..ctx };
        if let Some(t) = templates.get(&(domain, template_id)) {
            let (_, err) = decode_data(t, &p.data, &mut domains[di], domain, &base, &ctx, tally, sink);
            if let Some(e) = err {
                note(out, stats, e);
            }
        }
    }
}
