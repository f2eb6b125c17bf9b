//! Group tables for `-s` statistics and `-A` aggregations, keyed as compactly as the
//! field allows: dense arrays for ports and protocols (no hashing at all), `u32` maps for
//! AS numbers and interfaces, address maps for IPs, and the wide `GroupKey` only for
//! records and aggregations. Small keys keep the tables in cache on big scans.

use std::net::IpAddr;

use hashbrown::HashMap;

use crate::flow::{Counters, Flow};
use crate::store::Columns;

use super::key::{agg_key, stat_keys, GroupKey};
use super::v4_table::V4Table;
use super::{rates, AggField, OrderBy, StatField};

/// A group's totals and time span.
#[derive(Clone, Copy, Debug)]
pub struct Group {
    pub c: Counters,
    pub first_ms: u64,
    pub last_ms: u64,
}

impl Default for Group {
    fn default() -> Self {
        Group::EMPTY
    }
}

impl Group {
    /// No flow yet.
    pub const EMPTY: Group =
        Group { c: Counters { flows: 0, packets: 0, bytes: 0 }, first_ms: u64::MAX, last_ms: 0 };

    #[inline]
    pub fn add_flow(&mut self, f: &Flow) {
        self.c.add_flow(f);
        self.first_ms = self.first_ms.min(f.first_ms);
        self.last_ms = self.last_ms.max(f.last_ms);
    }

    pub fn merge(&mut self, o: &Group) {
        self.c.add(&o.c);
        self.first_ms = self.first_ms.min(o.first_ms);
        self.last_ms = self.last_ms.max(o.last_ms);
    }

    pub fn metric(&self, order: OrderBy) -> f64 {
        let (pps, bps, bpp) = rates(&self.c, self.last_ms.saturating_sub(self.first_ms));
        match order {
            OrderBy::Flows => self.c.flows as f64,
            OrderBy::Packets => self.c.packets as f64,
            OrderBy::Bytes => self.c.bytes as f64,
            OrderBy::Pps => pps as f64,
            OrderBy::Bps => bps as f64,
            OrderBy::Bpp => bpp as f64,
        }
    }
}

/// Address groups: IPv4 keys as `u32` (48-byte entries, where a 32-byte key that could hold
/// either family made them 80): on ~1 M distinct addresses the table's size in cache is
/// what a statistic costs.
#[derive(Default)]
pub struct AddrGroups {
    v4: V4Table,
    v6: HashMap<u128, Group>,
}

impl AddrGroups {
    #[inline]
    fn add(&mut self, a: &IpAddr, f: &Flow) {
        match a {
            IpAddr::V4(v) => self.v4.group(u32::from(*v)).add_flow(f),
            IpAddr::V6(v) => self.v6.entry(u128::from(*v)).or_default().add_flow(f),
        }
    }

    /// Counts every flow of `flows` under its address `addr(f)`: IPv4 addresses through
    /// `V4Table::add_all`, which overlaps the table's cache misses.
    #[inline]
    fn add_block(&mut self, flows: &[Flow], addr: impl Fn(&Flow) -> &IpAddr) {
        if flows.iter().any(|f| addr(f).is_ipv6()) {
            flows.iter().for_each(|f| self.add(addr(f), f));
            return;
        }
        let key = |i: usize| match addr(&flows[i]) {
            IpAddr::V4(v) => u32::from(*v),
            IpAddr::V6(_) => 0, // not reached: checked above
        };
        self.v4.add_all(flows.len(), key, |i, g| g.add_flow(&flows[i]));
    }

    fn merge(&mut self, o: AddrGroups) {
        self.v4.merge(o.v4);
        merge_maps(&mut self.v6, o.v6);
    }

    fn into_keyed(self) -> impl Iterator<Item = (GroupKey, Group)> {
        let key = |bits: u128, v6: bool| GroupKey { addr: [bits, 0, 0], v6: u8::from(v6), num: [0; 6] };
        let v4 = self.v4.into_groups().map(move |(k, g)| (key(u128::from(k), false), g));
        v4.chain(self.v6.into_iter().map(move |(k, g)| (key(k, true), g)))
    }
}

/// What a table groups by.
#[derive(Clone, Debug)]
pub enum Grouping {
    Stat(StatField),
    Aggregate(Vec<AggField>),
}

impl Grouping {
    /// The stored columns the keys come from.
    pub fn columns(&self) -> Columns {
        match self {
            Grouping::Stat(field) => match field {
                StatField::SrcIp => Columns::SRC_ADDR,
                StatField::DstIp => Columns::DST_ADDR,
                StatField::Ip => Columns::SRC_ADDR | Columns::DST_ADDR,
                StatField::SrcPort => Columns::SRC_PORT,
                StatField::DstPort => Columns::DST_PORT,
                StatField::Port => Columns::SRC_PORT | Columns::DST_PORT,
                StatField::Proto => Columns::PROTOCOL,
                StatField::SrcAs => Columns::SRC_AS,
                StatField::DstAs => Columns::DST_AS,
                StatField::As => Columns::SRC_AS | Columns::DST_AS,
                StatField::If => Columns::IN_IF | Columns::OUT_IF,
                StatField::InIf => Columns::IN_IF,
                StatField::OutIf => Columns::OUT_IF,
                StatField::Exporter => Columns::EXPORTER,
                StatField::Record => {
                    Columns::SRC_ADDR
                        | Columns::DST_ADDR
                        | Columns::PROTOCOL
                        | Columns::SRC_PORT
                        | Columns::DST_PORT
                }
            },
            Grouping::Aggregate(keys) => keys.iter().fold(Columns::NONE, |c, k| {
                c | match k {
                    AggField::SrcIp { .. } => Columns::SRC_ADDR,
                    AggField::DstIp { .. } => Columns::DST_ADDR,
                    AggField::SrcPort => Columns::SRC_PORT,
                    AggField::DstPort => Columns::DST_PORT,
                    AggField::Proto => Columns::PROTOCOL,
                    AggField::SrcAs => Columns::SRC_AS,
                    AggField::DstAs => Columns::DST_AS,
                    AggField::InIf => Columns::IN_IF,
                    AggField::OutIf => Columns::OUT_IF,
                    AggField::Exporter => Columns::EXPORTER,
                }
            }),
        }
    }
}

/// One table's groups.
pub enum Groups {
    /// Indexed by the value itself (ports: 65 536 slots, protocols: 256).
    Dense(Vec<Group>),
    Num(HashMap<u32, Group>),
    Addr(AddrGroups),
    Wide(HashMap<GroupKey, Group>),
}

impl Groups {
    pub fn new(g: &Grouping) -> Groups {
        match g {
            Grouping::Stat(StatField::SrcPort | StatField::DstPort | StatField::Port) => {
                Groups::Dense(vec![Group::default(); 1 << 16])
            }
            Grouping::Stat(StatField::Proto) => Groups::Dense(vec![Group::default(); 256]),
            Grouping::Stat(
                StatField::SrcAs
                | StatField::DstAs
                | StatField::As
                | StatField::If
                | StatField::InIf
                | StatField::OutIf,
            ) => Groups::Num(HashMap::new()),
            Grouping::Stat(StatField::SrcIp | StatField::DstIp | StatField::Ip | StatField::Exporter) => {
                Groups::Addr(AddrGroups::default())
            }
            Grouping::Stat(StatField::Record) | Grouping::Aggregate(_) => Groups::Wide(HashMap::new()),
        }
    }

    /// Counts `f` in its group(s): two for the two-sided fields (ip, port, as, if), as nfdump does.
    #[inline]
    pub fn add(&mut self, g: &Grouping, f: &Flow) {
        match (self, g) {
            (Groups::Dense(v), Grouping::Stat(field)) => {
                let mut at = |i: usize| {
                    if let Some(slot) = v.get_mut(i) {
                        slot.add_flow(f)
                    }
                };
                match field {
                    StatField::SrcPort => at(f.src_port.into()),
                    StatField::DstPort => at(f.dst_port.into()),
                    StatField::Port => {
                        at(f.src_port.into());
                        at(f.dst_port.into());
                    }
                    _ => at(f.protocol.into()),
                }
            }
            (Groups::Num(m), Grouping::Stat(field)) => {
                let mut at = |k: u32| m.entry(k).or_default().add_flow(f);
                match field {
                    StatField::SrcAs => at(f.src_as),
                    StatField::DstAs => at(f.dst_as),
                    StatField::As => {
                        at(f.src_as);
                        at(f.dst_as);
                    }
                    StatField::InIf => at(f.in_if),
                    StatField::OutIf => at(f.out_if),
                    _ => {
                        at(f.in_if);
                        at(f.out_if);
                    }
                }
            }
            (Groups::Addr(m), Grouping::Stat(field)) => {
                let mut at = |a: &IpAddr| m.add(a, f);
                match field {
                    StatField::SrcIp => at(&f.src_addr),
                    StatField::DstIp => at(&f.dst_addr),
                    StatField::Exporter => at(&f.exporter),
                    _ => {
                        at(&f.src_addr);
                        at(&f.dst_addr);
                    }
                }
            }
            (Groups::Wide(m), Grouping::Stat(field)) => {
                stat_keys(*field, f, |k| m.entry(k).or_default().add_flow(f))
            }
            (Groups::Wide(m), Grouping::Aggregate(keys)) => {
                m.entry(agg_key(keys, f)).or_default().add_flow(f)
            }
            // `new` pairs every grouping with its kind of table.
            _ => debug_assert!(false, "table kind does not match its grouping"),
        }
    }

    /// `add` for every flow of a block (address tables overlap their cache misses).
    pub fn add_block(&mut self, g: &Grouping, flows: &[Flow]) {
        match (self, g) {
            (Groups::Addr(m), Grouping::Stat(StatField::SrcIp)) => m.add_block(flows, |f| &f.src_addr),
            (Groups::Addr(m), Grouping::Stat(StatField::DstIp)) => m.add_block(flows, |f| &f.dst_addr),
            (Groups::Addr(m), Grouping::Stat(StatField::Ip)) => {
                m.add_block(flows, |f| &f.src_addr);
                m.add_block(flows, |f| &f.dst_addr);
            }
            (Groups::Addr(m), Grouping::Stat(StatField::Exporter)) => m.add_block(flows, |f| &f.exporter),
            // Ports and protocols: one tight loop per block instead of a dispatch per flow.
            (Groups::Dense(v), Grouping::Stat(StatField::DstPort)) if v.len() > usize::from(u16::MAX) => {
                flows.iter().for_each(|f| v[usize::from(f.dst_port)].add_flow(f))
            }
            (Groups::Dense(v), Grouping::Stat(StatField::SrcPort)) if v.len() > usize::from(u16::MAX) => {
                flows.iter().for_each(|f| v[usize::from(f.src_port)].add_flow(f))
            }
            (Groups::Dense(v), Grouping::Stat(StatField::Proto)) if v.len() > usize::from(u8::MAX) => {
                flows.iter().for_each(|f| v[usize::from(f.protocol)].add_flow(f))
            }
            (table, g) => flows.iter().for_each(|f| table.add(g, f)),
        }
    }

    pub fn merge(&mut self, other: Groups) {
        match (self, other) {
            (Groups::Dense(a), Groups::Dense(b)) => a.iter_mut().zip(&b).for_each(|(x, y)| x.merge(y)),
            (Groups::Num(a), Groups::Num(b)) => merge_maps(a, b),
            (Groups::Addr(a), Groups::Addr(b)) => a.merge(b),
            (Groups::Wide(a), Groups::Wide(b)) => merge_maps(a, b),
            _ => debug_assert!(false, "merging tables of different kinds"),
        }
    }

    /// Groups that counted at least one flow, with their keys in `GroupKey` form.
    #[cfg(test)]
    pub fn into_keyed(self) -> Vec<(GroupKey, Group)> {
        let mut v = Vec::new();
        self.for_each_keyed(|k, g| v.push((k, g)));
        v
    }

    fn for_each_keyed(self, mut f: impl FnMut(GroupKey, Group)) {
        let num = |v: u32| GroupKey { num: [v, 0, 0, 0, 0, 0], ..GroupKey::default() };
        match self {
            Groups::Dense(v) => v
                .into_iter()
                .enumerate()
                .filter(|(_, g)| g.c.flows > 0)
                .for_each(|(i, g)| f(num(i as u32), g)),
            Groups::Num(m) => m.into_iter().for_each(|(k, g)| f(num(k), g)),
            Groups::Addr(m) => m.into_keyed().for_each(|(k, g)| f(k, g)),
            Groups::Wide(m) => m.into_iter().for_each(|(k, g)| f(k, g)),
        }
    }

    /// How many groups there are, and the `limit` first by `order`, in that order (largest
    /// first; among equals, the smaller key first, so output is stable). Streams through the groups keeping at most 2 × `limit`, so a
    /// million addresses are not copied into a list to pick ten.
    pub fn top(self, order: OrderBy, limit: usize) -> (u64, Vec<(GroupKey, Group)>) {
        let mut kept: Vec<(f64, GroupKey, Group)> = Vec::new();
        let mut count = 0u64;
        let cap = limit.saturating_mul(2).max(64);
        // Once `limit` groups are kept, one lighter than all of them cannot get in: most of
        // a million addresses are turned away by this one comparison.
        let mut floor = f64::NEG_INFINITY;
        self.for_each_keyed(|k, g| {
            count += 1;
            let metric = g.metric(order);
            if metric < floor {
                return;
            }
            kept.push((metric, k, g));
            if kept.len() >= cap {
                cut_to_top(&mut kept, limit);
                floor = kept.iter().map(|e| e.0).fold(f64::INFINITY, f64::min);
            }
        });
        cut_to_top(&mut kept, limit);
        kept.sort_unstable_by(heavier_first);
        (count, kept.into_iter().map(|(_, k, g)| (k, g)).collect())
    }
}

fn heavier_first(a: &(f64, GroupKey, Group), b: &(f64, GroupKey, Group)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

fn cut_to_top(v: &mut Vec<(f64, GroupKey, Group)>, limit: usize) {
    if limit < v.len() {
        v.select_nth_unstable_by(limit, heavier_first);
        v.truncate(limit);
    }
}

fn merge_maps<K: std::hash::Hash + Eq>(a: &mut HashMap<K, Group>, b: HashMap<K, Group>) {
    if a.len() < b.len() {
        let small = std::mem::replace(a, b);
        return merge_maps(a, small);
    }
    for (k, g) in b {
        a.entry(k).or_default().merge(&g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(src: &str, sport: u16, dport: u16, proto: u8, bytes: u64) -> Flow {
        Flow {
            src_addr: src.parse().unwrap(),
            dst_addr: "10.9.9.9".parse().unwrap(),
            src_port: sport,
            dst_port: dport,
            protocol: proto,
            packets: 1,
            bytes,
            first_ms: 1000,
            last_ms: 2000,
            ..Flow::EMPTY
        }
    }

    /// Every kind of table gives the same groups as the generic `stat_keys` + `GroupKey` map.
    #[test]
    fn compact_tables_equal_the_generic_grouping() {
        let flows: Vec<Flow> = (0..500u64)
            .map(|i| {
                let src =
                    if i % 7 == 0 { format!("2001:db8::{:x}", i % 13) } else { format!("10.0.0.{}", i % 11) };
                let mut f =
                    flow(&src, (i * 7919 % 65536) as u16, (i % 5) as u16 * 1000, (i % 3) as u8 + 1, i);
                f.src_as = (i % 4) as u32;
                f.dst_as = (i % 5) as u32;
                f.in_if = (i % 6) as u32;
                f.out_if = (i % 2) as u32;
                f.dst_addr = format!("10.9.9.{}", i % 3).parse().unwrap();
                f.exporter = format!("192.0.2.{}", i % 2).parse().unwrap();
                f
            })
            .collect();
        for field in StatField::ALL {
            let g = Grouping::Stat(field);
            // Two halves merged, as two scan threads would.
            let (mut a, mut b) = (Groups::new(&g), Groups::new(&g));
            flows[..250].iter().for_each(|f| a.add(&g, f));
            b.add_block(&g, &flows[250..400]);
            b.add_block(
                &g,
                &flows[400..].iter().filter(|f| f.src_addr.is_ipv4()).copied().collect::<Vec<_>>(),
            );
            flows[400..].iter().filter(|f| f.src_addr.is_ipv6()).for_each(|f| b.add(&g, f));
            a.merge(b);
            let mut got: Vec<(GroupKey, u64, u64)> =
                a.into_keyed().into_iter().map(|(k, g)| (k, g.c.flows, g.c.bytes)).collect();
            let mut want: HashMap<GroupKey, Group> = HashMap::new();
            for f in &flows {
                stat_keys(field, f, |k| want.entry(k).or_default().add_flow(f));
            }
            let mut want: Vec<(GroupKey, u64, u64)> =
                want.into_iter().map(|(k, g)| (k, g.c.flows, g.c.bytes)).collect();
            got.sort();
            want.sort();
            assert!(want.len() > 1, "{field:?}");
            assert_eq!(got, want, "{field:?}");
        }
    }
}
