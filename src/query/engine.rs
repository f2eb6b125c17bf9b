//! Running a query: one parallel scan, per-thread accumulators (no locks while
//! scanning), merged at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::Result;

use crate::flow::Flow;
use crate::store::{Columns, Store};

use super::groups::{Group, Grouping, Groups};
use super::key::{agg_key_parts, stat_key_text, GroupKey};
use super::{Mode, Query, QueryOutput, StatRow, StatTable};

/// Per-thread state of one scan.
#[derive(Default)]
struct Partial {
    total: Group,
    scanned: u64,
    /// One table per grouping of the query (empty for summaries and listings).
    tables: Vec<Groups>,
    flows: Vec<Flow>,
}

/// Keeps only the newest `limit` flows of `v` (by received time), oldest first.
fn keep_newest(v: &mut Vec<Flow>, limit: usize) {
    v.sort_by_key(|f| (f.received_ms, f.first_ms));
    let cut = v.len().saturating_sub(limit);
    v.drain(..cut);
}

/// The tables a mode fills, in output order.
fn groupings(mode: &Mode) -> Vec<Grouping> {
    match mode {
        Mode::Summary | Mode::List { .. } => Vec::new(),
        Mode::Stat { field, .. } => vec![Grouping::Stat(*field)],
        Mode::Stats { stats, .. } => stats.iter().map(|(f, _)| Grouping::Stat(*f)).collect(),
        Mode::Aggregate { keys, .. } => vec![Grouping::Aggregate(keys.clone())],
    }
}

/// The columns a mode reads besides the filter's: counters, and what its tables group by.
fn columns_needed(mode: &Mode, groupings: &[Grouping]) -> Columns {
    if matches!(mode, Mode::List { .. }) {
        return Columns::ALL;
    }
    groupings.iter().fold(Columns::PACKETS | Columns::BYTES, |c, g| c | g.columns())
}

impl Partial {
    fn new(groupings: &[Grouping]) -> Partial {
        Partial { tables: groupings.iter().map(Groups::new).collect(), ..Partial::default() }
    }

    /// Counts the selected flows of a block: table by table, so one table at a time is hot in cache.
    fn consume(&mut self, groupings: &[Grouping], mode: &Mode, flows: &[Flow]) {
        for f in flows {
            self.total.add_flow(f);
        }
        for (table, g) in self.tables.iter_mut().zip(groupings) {
            table.add_block(g, flows);
        }
        if let Mode::List { limit } = mode {
            for f in flows {
                self.flows.push(*f);
                if self.flows.len() >= limit.saturating_mul(2).max(2048) {
                    keep_newest(&mut self.flows, *limit);
                }
            }
        }
    }

    fn merge(&mut self, o: Partial) {
        self.total.merge(&o.total);
        self.scanned += o.scanned;
        for (a, b) in self.tables.iter_mut().zip(o.tables) {
            a.merge(b);
        }
        self.flows.extend(o.flows);
    }
}

/// `execute`, adding the number of flows scanned so far to `progress` as it goes
/// (for a progress line on a terminal).
pub fn execute_with_progress(store: &Store, q: &Query, progress: Option<&AtomicU64>) -> Result<QueryOutput> {
    let partials: Mutex<Vec<Partial>> = Mutex::new(Vec::new());
    let filter = &q.filter;
    let mode = &q.mode;
    let groupings = groupings(mode);
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
    // Blocks whose statistics rule out the filter's required protocol or ports are not read,
    // and only the columns the filter and the tables use are decoded: the filter's first, the
    // others only for the flows it keeps.
    let mut hint = filter.scan_hint();
    hint.columns = columns_needed(mode, &groupings) | filter.columns();
    let stats = filter.stages().row_filter(|select| {
        store.scan_selected(
            q.from_ms,
            q.to_ms,
            &hint,
            (!filter.is_any()).then_some(select),
            || Slot { p: Partial::new(&groupings), sink: &partials },
            |slot, kept, in_window| {
                let p = &mut slot.p;
                p.scanned += in_window;
                if let Some(pr) = progress {
                    pr.fetch_add(in_window, Ordering::Relaxed);
                }
                p.consume(&groupings, mode, kept);
            },
        )
    })?;
    // rayon's per-thread states are dropped when the scan returns: every Slot has reported.
    let mut parts = partials.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter();
    let mut all = parts.next().unwrap_or_else(|| Partial::new(&groupings));
    for p in parts {
        all.merge(p);
    }
    let total = all.total;
    let mut out = QueryOutput {
        total: total.c,
        first_ms: if total.c.flows == 0 { 0 } else { total.first_ms },
        last_ms: total.last_ms,
        flows_scanned: all.scanned.max(stats.flows_read),
        torn_blocks: stats.torn_blocks,
        ..QueryOutput::default()
    };
    let mut tables = all.tables.into_iter();
    match mode {
        Mode::Summary => {}
        Mode::List { limit } => {
            keep_newest(&mut all.flows, *limit);
            out.flows = all.flows;
        }
        Mode::Stat { field, order, limit } => {
            let (n, groups) = tables.next().map(|t| t.top(*order, *limit)).unwrap_or_default();
            out.groups = n;
            out.rows = top_rows(groups, |k| (stat_key_text(*field, k), Vec::new()));
        }
        Mode::Stats { stats, limit } => {
            for ((field, order), table) in stats.iter().zip(tables) {
                let (n, groups) = table.top(*order, *limit);
                out.groups += n;
                let rows = top_rows(groups, |k| (stat_key_text(*field, k), Vec::new()));
                out.tables.push(StatTable { field: *field, order: *order, groups: n, rows });
            }
        }
        Mode::Aggregate { keys, order, limit } => {
            let (n, groups) = tables.next().map(|t| t.top(*order, *limit)).unwrap_or_default();
            out.groups = n;
            out.rows = top_rows(groups, |k| {
                let parts = agg_key_parts(keys, k);
                (parts.join(" "), parts)
            });
        }
    }
    Ok(out)
}

/// Output rows of groups already selected and ordered (`Groups::top`).
fn top_rows(
    groups: Vec<(GroupKey, Group)>,
    text: impl Fn(&GroupKey) -> (String, Vec<String>),
) -> Vec<StatRow> {
    groups
        .into_iter()
        .map(|(k, g)| {
            let (key, parts) = text(&k);
            StatRow { key, counters: g.c, first_ms: g.first_ms, last_ms: g.last_ms, parts }
        })
        .collect()
}
