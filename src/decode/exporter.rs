//! What the decoder remembers per exporter: counters, per-domain sequence and
//! sampling state, the template cache and data sets held for a template.
//! Every table here is capped; what a cap drops is counted.

use std::collections::VecDeque;
use std::net::IpAddr;

use hashbrown::HashMap;

use super::template::Template;
use crate::flow::FlowSource;

/// Sequence numbers of one (exporter, domain).
///
/// Rule: a forward jump of less than `MAX_GAP` units is loss; a small step back
/// (a late or duplicated datagram, or an exporter whose counter runs behind what
/// it sent, as softflowd's IPFIX one does) is ignored and keeps the expected
/// value; anything else is a restart and resynchronizes without counting loss.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sequence {
    expected: Option<u32>,
    /// v5/v9: the last header sysUptime; going backwards means the exporter rebooted.
    last_uptime: Option<u32>,
    pub resets: u64,
}

/// Forward gaps at least this big are treated as a restart, not loss.
const MAX_GAP: u32 = 1 << 24;
/// Backward steps at most this big are late / duplicate datagrams.
const MAX_LATE: u32 = 1 << 16;

impl Sequence {
    /// Checks `seq` against what we expected and returns the units missing.
    /// `advance` is how many units this datagram covers; `None` when we could
    /// not count them (held data sets), which skips the next check.
    pub fn check(&mut self, seq: u32, advance: Option<u32>, uptime: Option<u32>) -> u64 {
        if let (Some(up), Some(last)) = (uptime, self.last_uptime) {
            if up < last {
                self.expected = None;
                self.resets += 1;
            }
        }
        if uptime.is_some() {
            self.last_uptime = uptime;
        }
        let mut missing = 0;
        if let Some(exp) = self.expected {
            let ahead = seq.wrapping_sub(exp);
            let behind = exp.wrapping_sub(seq);
            if ahead == 0 {
            } else if ahead < MAX_GAP {
                missing = u64::from(ahead);
            } else if behind <= MAX_LATE {
                // Late or duplicate: keep expecting what we expected.
                return 0;
            } else {
                self.resets += 1;
            }
        }
        self.expected = advance.map(|a| seq.wrapping_add(a));
        missing
    }
}

/// Most samplers remembered per domain.
pub(crate) const MAX_SAMPLERS: usize = 16;

/// State of one observation domain / source id / v5 engine.
#[derive(Clone, Debug)]
pub(crate) struct Domain {
    pub id: u32,
    pub sequence: Sequence,
    /// (sampler id, interval); id 0 = the domain-wide sampler.
    pub samplers: Vec<(u32, u32)>,
    /// IPFIX systemInitTimeMilliseconds from options data.
    pub sys_init_ms: Option<u64>,
}

impl Domain {
    fn new(id: u32) -> Domain {
        Domain { id, sequence: Sequence::default(), samplers: Vec::new(), sys_init_ms: None }
    }

    /// The interval for a record with `sampler_id` (falls back to the domain-wide one).
    #[inline]
    pub fn interval(&self, sampler_id: Option<u32>) -> Option<u32> {
        let find = |id: u32| self.samplers.iter().find(|s| s.0 == id).map(|s| s.1);
        sampler_id.and_then(find).or_else(|| find(0))
    }

    pub fn set_sampler(&mut self, id: u32, interval: u32) {
        if let Some(s) = self.samplers.iter_mut().find(|s| s.0 == id) {
            s.1 = interval;
        } else if self.samplers.len() < MAX_SAMPLERS {
            self.samplers.push((id, interval));
        }
    }
}

/// A data set that arrived before its template.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub domain: u32,
    pub template_id: u16,
    pub received_ms: u64,
    pub export_ms: u64,
    pub sys_uptime: Option<u32>,
    pub data: Vec<u8>,
}

/// Everything known about one exporter (address + protocol).
#[derive(Debug)]
pub(crate) struct Exporter {
    pub address: IpAddr,
    pub protocol: FlowSource,
    pub datagrams: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub missing_flows: u64,
    pub missing_datagrams: u64,
    pub errors: u64,
    pub last_seen_ms: u64,
    /// Last sampling interval applied to a flow.
    pub sampling: Option<u32>,
    /// Configured interval that replaces what the exporter announces.
    pub sampling_override: Option<u32>,
    pub domains: Vec<Domain>,
    pub templates: HashMap<(u32, u16), Template>,
    /// LRU clock for templates.
    pub clock: u64,
    pub pending: VecDeque<Pending>,
    pub pending_bytes: usize,
}

impl Exporter {
    pub fn new(address: IpAddr, protocol: FlowSource) -> Exporter {
        Exporter {
            address,
            protocol,
            datagrams: 0,
            flows: 0,
            packets: 0,
            bytes: 0,
            missing_flows: 0,
            missing_datagrams: 0,
            errors: 0,
            last_seen_ms: 0,
            sampling: None,
            sampling_override: None,
            domains: Vec::new(),
            templates: HashMap::new(),
            clock: 0,
            pending: VecDeque::new(),
            pending_bytes: 0,
        }
    }

    /// The domain's state, created on first sight. When `max` domains exist the
    /// least useful one (the last) is replaced, so a spoofed flood of domain ids
    /// cannot grow the table. Returns the index.
    pub fn domain(&mut self, id: u32, max: usize) -> usize {
        if let Some(i) = self.domains.iter().position(|d| d.id == id) {
            return i;
        }
        if self.domains.len() >= max.max(1) {
            let last = self.domains.len() - 1;
            self.domains[last] = Domain::new(id);
            return last;
        }
        self.domains.push(Domain::new(id));
        self.domains.len() - 1
    }

    /// Evicts the least recently used template; returns whether one was evicted.
    pub fn evict_lru_template(&mut self) -> bool {
        let victim = self.templates.iter().min_by_key(|(_, t)| t.last_used).map(|(k, _)| *k);
        match victim {
            Some(k) => {
                self.templates.remove(&k);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_gaps_late_and_restarts() {
        let mut s = Sequence::default();
        assert_eq!(s.check(100, Some(10), None), 0);
        assert_eq!(s.check(110, Some(10), None), 0);
        assert_eq!(s.check(125, Some(5), None), 5); // 120..125 lost
        assert_eq!(s.check(115, Some(5), None), 0); // late: keep expecting 130
        assert_eq!(s.check(130, Some(1), None), 0);
        assert_eq!(s.check(0, Some(1), None), 0); // 131 back: inside the late window
        assert_eq!(s.check(131, Some(1), None), 0);
        assert_eq!(s.check(3_000_000_000, Some(1), None), 0); // huge jump: restart
        assert_eq!(s.resets, 1);
        assert_eq!(s.check(3_000_000_001, None, None), 0);
        assert_eq!(s.check(3_000_000_500, Some(1), None), 0); // unknown advance: no check
    }

    #[test]
    fn sequence_reboot_by_uptime() {
        let mut s = Sequence::default();
        s.check(500, Some(1), Some(10_000));
        assert_eq!(s.check(0, Some(1), Some(50)), 0);
        assert_eq!(s.resets, 1);
        assert_eq!(s.check(3, Some(1), Some(60)), 2);
    }

    #[test]
    fn samplers_by_id_with_domain_default() {
        let mut d = Domain::new(1);
        assert_eq!(d.interval(None), None);
        d.set_sampler(0, 100);
        d.set_sampler(7, 10);
        assert_eq!(d.interval(Some(7)), Some(10));
        assert_eq!(d.interval(Some(8)), Some(100));
        assert_eq!(d.interval(None), Some(100));
        for i in 0..100 {
            d.set_sampler(1000 + i, 2);
        }
        assert_eq!(d.samplers.len(), MAX_SAMPLERS);
    }
}
