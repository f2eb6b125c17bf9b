//! The sFlow decoder's state, every table capped: datagram sequence numbers per
//! (agent, sub-agent), sample sequence numbers per data source, and the last
//! generic interface counters per (agent, ifIndex).
//!
//! Loss accounting:
//! - a forward jump in an agent's datagram sequence counts the datagrams in
//!   between as missing;
//! - a forward jump in a data source's flow-sample sequence counts the samples
//!   in between as missing flows (each flow sample becomes one `Flow`), and so
//!   does a rise of the source's `drops` counter (samples the agent itself
//!   could not take);
//! - a restart is not loss: uptime going back, or a sequence going back by more
//!   than `REORDER_WINDOW`, re-baselines the agent and all its sources. A
//!   sequence a little behind is a late or duplicate datagram: ignored.

use std::hash::Hash;
use std::net::IpAddr;

use hashbrown::HashMap;

use crate::wire::sflow::InterfaceCounters;

/// A sequence number at most this far behind the last one is a late datagram, not a restart.
const REORDER_WINDOW: u32 = 64;
/// Uptime going back by more than this (ms) is a restart, not a late datagram.
const UPTIME_SLACK_MS: u32 = 10_000;
/// Data sources and interfaces kept per allowed agent.
pub const ENTRIES_PER_AGENT: usize = 64;
/// Entries looked at to pick the stalest one to evict (approximate LRU, O(1)).
const EVICTION_SAMPLE: usize = 8;

#[derive(Clone, Copy)]
struct AgentState {
    sequence: u32,
    uptime_ms: u32,
    /// Changes whenever this agent's sequence restarts; sources from another epoch re-baseline.
    epoch: u64,
    last_seen: u64,
}

#[derive(Clone, Copy)]
struct SourceState {
    sequence: u32,
    drops: u32,
    epoch: u64,
    last_seen: u64,
}

#[derive(Clone, Copy)]
struct InterfaceEntry {
    counters: InterfaceCounters,
    last_seen: u64,
}

/// (agent address, sub-agent id).
type AgentKey = (IpAddr, u32);
/// (agent address, sub-agent id, source id type << 32 | source id index).
type SourceKey = (IpAddr, u32, u64);

/// What tracking one sequence number found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tracked {
    pub missing: u64,
    /// An entry was evicted to make room (count it as `CapacityExceeded`).
    pub evicted: bool,
}

pub struct Tables {
    max_agents: usize,
    max_entries: usize,
    agents: HashMap<AgentKey, AgentState>,
    sources: HashMap<SourceKey, SourceState>,
    interfaces: HashMap<(IpAddr, u32), InterfaceEntry>,
    /// Logical clock: one tick per datagram, for eviction order.
    tick: u64,
    next_epoch: u64,
}

/// Wrapping distance from `last` to `now`: `Some(d)` forward, `None` when `now` is
/// behind `last` by more than the reorder window (a restart).
enum Step {
    Duplicate,
    Forward(u32),
    Late,
    Restart,
}

fn step(last: u32, now: u32) -> Step {
    let d = now.wrapping_sub(last);
    if d == 0 {
        Step::Duplicate
    } else if d < 1 << 31 {
        Step::Forward(d)
    } else if last.wrapping_sub(now) <= REORDER_WINDOW {
        Step::Late
    } else {
        Step::Restart
    }
}

/// Removes the stalest of a few entries; true when one was removed.
fn evict_one<K: Clone + Eq + Hash, V>(map: &mut HashMap<K, V>, last_seen: impl Fn(&V) -> u64) -> bool {
    let victim = map.iter().take(EVICTION_SAMPLE).min_by_key(|(_, v)| last_seen(v)).map(|(k, _)| k.clone());
    match victim {
        Some(k) => map.remove(&k).is_some(),
        None => false,
    }
}

impl Tables {
    pub fn new(max_agents: usize) -> Self {
        let max_agents = max_agents.max(1);
        Tables {
            max_agents,
            max_entries: max_agents.saturating_mul(ENTRIES_PER_AGENT),
            agents: HashMap::new(),
            sources: HashMap::new(),
            interfaces: HashMap::new(),
            tick: 0,
            next_epoch: 0,
        }
    }

    /// Tracks one datagram's sequence number; returns missing datagrams and the agent's epoch.
    pub fn datagram(
        &mut self,
        agent: IpAddr,
        sub_agent: u32,
        sequence: u32,
        uptime_ms: u32,
    ) -> (Tracked, u64) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(a) = self.agents.get_mut(&(agent, sub_agent)) {
            // A late datagram's uptime is a little behind, a rebooted agent's far behind; the
            // u32 of ms also wraps after 49.7 days, which is a step forward, not back.
            let back = a.uptime_ms.wrapping_sub(uptime_ms);
            let uptime_back = back > UPTIME_SLACK_MS && back < 1 << 31;
            let mut missing = 0;
            match step(a.sequence, sequence) {
                Step::Duplicate | Step::Late if !uptime_back => return (Tracked::default(), a.epoch),
                Step::Forward(d) if !uptime_back => missing = u64::from(d - 1),
                _ => {
                    self.next_epoch += 1;
                    a.epoch = self.next_epoch;
                }
            }
            a.sequence = sequence;
            a.uptime_ms = uptime_ms;
            a.last_seen = tick;
            return (Tracked { missing, evicted: false }, a.epoch);
        }
        let evicted = self.agents.len() >= self.max_agents && evict_one(&mut self.agents, |a| a.last_seen);
        self.next_epoch += 1;
        let epoch = self.next_epoch;
        self.agents.insert((agent, sub_agent), AgentState { sequence, uptime_ms, epoch, last_seen: tick });
        (Tracked { missing: 0, evicted }, epoch)
    }

    /// Tracks one flow sample's sequence number and drops counter for its data source.
    pub fn flow_sample(
        &mut self,
        agent: IpAddr,
        sub_agent: u32,
        epoch: u64,
        source_id: u64,
        sequence: u32,
        drops: u32,
    ) -> Tracked {
        let tick = self.tick;
        if let Some(s) = self.sources.get_mut(&(agent, sub_agent, source_id)) {
            s.last_seen = tick;
            let mut missing = 0;
            if s.epoch == epoch {
                match step(s.sequence, sequence) {
                    Step::Duplicate | Step::Late => return Tracked::default(),
                    Step::Forward(d) => {
                        missing = u64::from(d - 1);
                        let more_drops = drops.wrapping_sub(s.drops);
                        if more_drops < 1 << 31 {
                            missing += u64::from(more_drops);
                        }
                    }
                    Step::Restart => {}
                }
            }
            *s = SourceState { sequence, drops, epoch, last_seen: tick };
            return Tracked { missing, evicted: false };
        }
        let evicted = self.sources.len() >= self.max_entries && evict_one(&mut self.sources, |s| s.last_seen);
        self.sources
            .insert((agent, sub_agent, source_id), SourceState { sequence, drops, epoch, last_seen: tick });
        Tracked { missing: 0, evicted }
    }

    /// Keeps the latest generic interface counters of `agent`'s interface; true when an entry was evicted.
    pub fn interface(&mut self, agent: IpAddr, counters: InterfaceCounters) -> bool {
        let key = (agent, counters.if_index);
        let entry = InterfaceEntry { counters, last_seen: self.tick };
        if let Some(e) = self.interfaces.get_mut(&key) {
            *e = entry;
            return false;
        }
        let evicted =
            self.interfaces.len() >= self.max_entries && evict_one(&mut self.interfaces, |e| e.last_seen);
        self.interfaces.insert(key, entry);
        evicted
    }

    pub fn interface_counters(&self, agent: IpAddr, if_index: u32) -> Option<&InterfaceCounters> {
        self.interfaces.get(&(agent, if_index)).map(|e| &e.counters)
    }

    pub fn interfaces(&self) -> impl Iterator<Item = (IpAddr, &InterfaceCounters)> {
        self.interfaces.iter().map(|(k, e)| (k.0, &e.counters))
    }

    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    pub fn source_count(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 9));

    #[test]
    fn gaps_count_restarts_do_not() {
        let mut t = Tables::new(4);
        assert_eq!(t.datagram(A, 0, 10, 1_000_000).0.missing, 0);
        assert_eq!(t.datagram(A, 0, 11, 1_000_100).0.missing, 0);
        assert_eq!(t.datagram(A, 0, 15, 1_000_200).0.missing, 3);
        // Late datagram: ignored, baseline kept.
        assert_eq!(t.datagram(A, 0, 13, 1_000_150).0.missing, 0);
        assert_eq!(t.datagram(A, 0, 16, 1_000_300).0.missing, 0);
        // Reboot: uptime far back; the new sequence happens to be near the old one.
        let (r, e1) = t.datagram(A, 0, 14, 50);
        assert_eq!(r.missing, 0);
        assert_eq!(t.datagram(A, 0, 16, 60).0.missing, 1);
        // Sequence far behind with uptime forward (agent process restart): not loss either.
        let (r, e2) = t.datagram(A, 0, 16u32.wrapping_sub(1000), 70);
        assert_eq!(r.missing, 0);
        assert_ne!(e1, e2);
        // Uptime wrapping past u32::MAX is not a restart.
        t.datagram(A, 1, 100, 0xffff_ff00);
        assert_eq!(t.datagram(A, 1, 101, 0xffff_fe00).0.missing, 0); // a little jitter
        assert_eq!(t.datagram(A, 1, 103, 0x100).0.missing, 1);
    }

    #[test]
    fn sample_gaps_and_drops_are_missing_flows() {
        let mut t = Tables::new(4);
        assert_eq!(t.flow_sample(A, 0, 1, 7, 100, 0).missing, 0);
        assert_eq!(t.flow_sample(A, 0, 1, 7, 101, 0).missing, 0);
        assert_eq!(t.flow_sample(A, 0, 1, 7, 105, 2).missing, 3 + 2);
        // Other source: its own sequence.
        assert_eq!(t.flow_sample(A, 0, 1, 8, 1, 0).missing, 0);
        // New epoch (agent restarted): re-baseline.
        assert_eq!(t.flow_sample(A, 0, 2, 7, 1, 0).missing, 0);
        assert_eq!(t.flow_sample(A, 0, 2, 7, 2, 0).missing, 0);
    }

    #[test]
    fn tables_are_capped_and_eviction_reported() {
        let mut t = Tables::new(2);
        let addr = |i: u8| IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1, i));
        assert!(!t.datagram(addr(1), 0, 1, 1).0.evicted);
        assert!(!t.datagram(addr(2), 0, 1, 1).0.evicted);
        for i in 3..50 {
            assert!(t.datagram(addr(i), 0, 1, 1).0.evicted);
            assert_eq!(t.agent_count(), 2);
        }
        for i in 0..1000u64 {
            t.flow_sample(A, 0, 1, i, 1, 0);
        }
        assert_eq!(t.source_count(), 2 * ENTRIES_PER_AGENT);
        for i in 0..1000u32 {
            t.interface(A, InterfaceCounters { if_index: i, ..Default::default() });
        }
        assert_eq!(t.interfaces().count(), 2 * ENTRIES_PER_AGENT);
        assert!(t.interface_counters(A, 999).is_some());
    }
}
