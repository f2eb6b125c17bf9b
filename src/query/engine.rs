//! Running a query: one parallel scan, per-thread accumulators (no locks while
//! scanning), merged at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::Result;
use hashbrown::HashMap;

use crate::flow::{Counters, Flow};
use crate::store::{ScanHint, Store};

use super::key::{agg_key, agg_key_parts, stat_key_text, stat_keys, GroupKey};
use super::{rates, Mode, OrderBy, Query, QueryOutput, StatRow};

/// A group's totals and time span.
#[derive(Clone, Copy, Debug)]
struct Group {
    c: Counters,
    first_ms: u64,
    last_ms: u64,
}

impl Default for Group {
    fn default() -> Self {
        Group { c: Counters::default(), first_ms: u64::MAX, last_ms: 0 }
    }
}

impl Group {
    #[inline]
    fn add_flow(&mut self, f: &Flow) {
        self.c.add_flow(f);
        self.first_ms = self.first_ms.min(f.first_ms);
        self.last_ms = self.last_ms.max(f.last_ms);
    }

    fn merge(&mut self, o: &Group) {
        self.c.add(&o.c);
        self.first_ms = self.first_ms.min(o.first_ms);
        self.last_ms = self.last_ms.max(o.last_ms);
    }

    fn metric(&self, order: OrderBy) -> f64 {
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

/// Per-thread state of one scan.
#[derive(Default)]
struct Partial {
    total: Group,
    scanned: u64,
    groups: HashMap<GroupKey, Group>,
    flows: Vec<Flow>,
}

/// Keeps only the newest `limit` flows of `v` (by received time), oldest first.
fn keep_newest(v: &mut Vec<Flow>, limit: usize) {
    v.sort_by_key(|f| (f.received_ms, f.first_ms));
    let cut = v.len().saturating_sub(limit);
    v.drain(..cut);
}

/// `execute`, adding the number of flows scanned so far to `progress` as it goes
/// (for a progress line on a terminal).
pub fn execute_with_progress(store: &Store, q: &Query, progress: Option<&AtomicU64>) -> Result<QueryOutput> {
    let partials: Mutex<Vec<Partial>> = Mutex::new(Vec::new());
    let filter = &q.filter;
    let mode = &q.mode;
    struct Slot<'a> {
        p: Partial,
        sink: &'a Mutex<Vec<Partial>>,
    }
    impl Drop for Slot<'_> {
        fn drop(&mut self) {
            let p = std::mem::take(&mut self.p);
            self.sink.lock().unwrap_or_else(|e| e.into_inner()).push(p);
        }
    }
    let stats = store.scan_with_state(
        q.from_ms,
        q.to_ms,
        &ScanHint::default(),
        || Slot { p: Partial::default(), sink: &partials },
        |slot, block| {
            let p = &mut slot.p;
            p.scanned += block.len() as u64;
            if let Some(pr) = progress {
                pr.fetch_add(block.len() as u64, Ordering::Relaxed);
            }
            for f in block.iter().filter(|f| filter.matches(f)) {
                p.total.add_flow(f);
                match mode {
                    Mode::Summary => {}
                    Mode::Stat { field, .. } => {
                        stat_keys(*field, f, |k| p.groups.entry(k).or_default().add_flow(f));
                    }
                    Mode::Aggregate { keys, .. } => p.groups.entry(agg_key(keys, f)).or_default().add_flow(f),
                    Mode::List { limit } => {
                        p.flows.push(*f);
                        if p.flows.len() >= limit.saturating_mul(2).max(2048) {
                            keep_newest(&mut p.flows, *limit);
                        }
                    }
                }
            }
        },
    )?;
    // rayon's per-thread states are dropped when the scan returns: every Slot has reported.
    let parts = partials.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut total = Group::default();
    let mut scanned = 0;
    let mut groups: HashMap<GroupKey, Group> = HashMap::new();
    let mut flows = Vec::new();
    for p in parts {
        total.merge(&p.total);
        scanned += p.scanned;
        if groups.is_empty() {
            groups = p.groups;
        } else {
            for (k, g) in p.groups {
                groups.entry(k).or_default().merge(&g);
            }
        }
        flows.extend(p.flows);
    }
    let mut out = QueryOutput {
        total: total.c,
        first_ms: if total.c.flows == 0 { 0 } else { total.first_ms },
        last_ms: total.last_ms,
        flows_scanned: scanned.max(stats.flows_read),
        torn_blocks: stats.torn_blocks,
        groups: groups.len() as u64,
        ..QueryOutput::default()
    };
    match mode {
        Mode::Summary => {}
        Mode::List { limit } => {
            keep_newest(&mut flows, *limit);
            out.flows = flows;
        }
        Mode::Stat { field, order, limit } => {
            out.rows = top_rows(groups, *order, *limit, |k| (stat_key_text(*field, k), Vec::new()));
        }
        Mode::Aggregate { keys, order, limit } => {
            out.rows = top_rows(groups, *order, *limit, |k| {
                let parts = agg_key_parts(keys, k);
                (parts.join(" "), parts)
            });
        }
    }
    Ok(out)
}

/// The `limit` largest groups by `order` (ties: the smaller key first, so output is stable).
fn top_rows(
    groups: HashMap<GroupKey, Group>,
    order: OrderBy,
    limit: usize,
    text: impl Fn(&GroupKey) -> (String, Vec<String>),
) -> Vec<StatRow> {
    let mut v: Vec<(f64, GroupKey, Group)> =
        groups.into_iter().map(|(k, g)| (g.metric(order), k, g)).collect();
    let cmp =
        |a: &(f64, GroupKey, Group), b: &(f64, GroupKey, Group)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if limit < v.len() {
        v.select_nth_unstable_by(limit, cmp);
        v.truncate(limit);
    }
    v.sort_unstable_by(cmp);
    v.into_iter()
        .map(|(_, k, g)| {
            let (key, parts) = text(&k);
            StatRow { key, counters: g.c, first_ms: g.first_ms, last_ms: g.last_ms, parts }
        })
        .collect()
}
