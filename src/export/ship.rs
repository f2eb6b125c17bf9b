//! One shipping round: newly closed buckets' rollups and raw flows past the watermark,
//! each batch followed by a durable watermark update.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;

use super::clickhouse::{addr16, mac64, FlowRow, Sink, TopRow, TotalRow};
use super::config::ClickhouseConfig;
use super::segments::{count_rows, read_from, segment_worker, TailBuffers};
use super::watermark::{segment_key, SegmentMark, Watermark};
use super::ExportStatus;
use crate::flow::{bucket_start, Flow, BUCKET_SECONDS};
use crate::rollup::BucketRollup;
use crate::store::segment::FILE_HEADER_LEN;
use crate::store::Store;

/// Buckets shipped this long ago are forgotten (their `floor` passes them).
const ROLLUP_LOOKBACK_S: u64 = 3 * 3600;
/// Segments of buckets this recent stay listed even when shipped: a late writer (a flush
/// after the bucket closed, a backfill) appending to them is still seen.
const RAW_LOOKBACK_S: u64 = 3 * 3600;
/// A full rollup pass from the floor every this many seconds (catches rebuilt buckets).
const FULL_PASS_EVERY_S: u64 = 60;
/// The floor does not move during the first minutes after start: the collector may still
/// be rebuilding rollups of buckets a crash left without one.
const SETTLE_AFTER_START_S: u64 = 600;

pub struct Shipper {
    pub cfg: ClickhouseConfig,
    pub store: Arc<Store>,
    pub collector: String,
    pub site: String,
    pub wm: Watermark,
    pub wm_path: PathBuf,
    pub started_s: u64,
    last_full_pass_s: u64,
    /// Look back from the floor at the next plan (set after a failed round: during an outage
    /// the collector may have written or rebuilt rollups of older buckets).
    pub force_full_pass: bool,
    /// Per profile: closed buckets not shipped yet, with their rows.
    pending: BTreeMap<String, BTreeMap<u64, u64>>,
    /// Raw segments listed by the last plan.
    segs: Vec<(u64, PathBuf)>,
    /// Per raw segment key: rows counted from the block headers, for the backlog in rows.
    counted: HashMap<String, Counted>,
    bufs: TailBuffers,
    /// The watermark as last written (saves are skipped when nothing changed).
    saved: Watermark,
}

/// `rows` in the whole blocks of [from, to) of a segment; `from` is its mark's offset.
#[derive(Clone, Copy, Debug)]
struct Counted {
    from: u64,
    to: u64,
    rows: u64,
}

impl Shipper {
    pub fn new(
        cfg: ClickhouseConfig,
        store: Arc<Store>,
        collector: String,
        site: String,
        now_s: u64,
    ) -> Shipper {
        let wm_path = super::watermark::path_for(store.dir(), &cfg.endpoints()[0], &cfg.database);
        let wm = Watermark::load(&wm_path);
        Shipper {
            cfg,
            store,
            collector,
            site,
            wm,
            wm_path,
            started_s: now_s,
            last_full_pass_s: 0,
            force_full_pass: true,
            pending: Default::default(),
            segs: Vec::new(),
            counted: HashMap::new(),
            bufs: TailBuffers::default(),
            saved: Watermark::default(),
        }
    }

    /// Writes the watermark when it changed since the last write.
    fn save(&mut self) -> Result<()> {
        if self.wm != self.saved {
            self.wm.save(&self.wm_path)?;
            self.saved = self.wm.clone();
        }
        Ok(())
    }

    /// Buckets starting before this are closed (their end plus the grace time has passed).
    fn horizon(&self, now_ms: u64) -> u64 {
        bucket_start(now_ms.saturating_sub(self.cfg.close_grace_s * 1000))
    }

    /// Measures what is due from the store alone (no server needed), so the backlog is known
    /// while ClickHouse is down. `full` looks back from the floor instead of at recent buckets.
    pub fn plan(&mut self, now_ms: u64, full: bool, st: &mut ExportStatus) -> Result<()> {
        if self.cfg.rollups {
            self.plan_rollups(now_ms, full, st);
        }
        if self.cfg.raw_flows {
            self.plan_raw(now_ms, st)?;
        }
        Ok(())
    }

    fn plan_rollups(&mut self, now_ms: u64, full: bool, st: &mut ExportStatus) {
        let now_s = now_ms / 1000;
        let horizon = self.horizon(now_ms);
        let full = full || self.force_full_pass || now_s >= self.last_full_pass_s + FULL_PASS_EVERY_S;
        let profiles = self.store.rollup_profiles();
        for profile in &profiles {
            let mark = self.wm.rollups.entry(profile.clone()).or_default();
            let from =
                if full { mark.floor } else { mark.floor.max(horizon.saturating_sub(2 * BUCKET_SECONDS)) };
            let found: BTreeMap<u64, u64> = self
                .store
                .rollups(profile, from, horizon)
                .iter()
                .filter(|r| !mark.shipped.contains(&r.bucket))
                .map(|r| (r.bucket, rollup_row_count(r)))
                .collect();
            let pending = self.pending.entry(profile.clone()).or_default();
            if full {
                // Unshipped last pass, gone from the store now: retention deleted them first.
                count_vanished(pending, &found, st);
                *pending = found;
            } else {
                pending.extend(found);
            }
        }
        if full {
            // A profile deleted with buckets still unshipped.
            for (name, pending) in self.pending.iter_mut().filter(|(n, _)| !profiles.contains(n)) {
                count_vanished(pending, &BTreeMap::new(), st);
                pending.clear();
                tracing::debug!(profile = %name, "export: profile gone");
            }
            self.last_full_pass_s = now_s;
            self.force_full_pass = false;
        }
        self.rollup_backlog_status(now_s, st);
    }

    /// Ships every pending bucket (several per INSERT, then one watermark update), then
    /// moves the floor.
    pub async fn ship_rollups(&mut self, sink: &mut Sink, now_ms: u64, st: &mut ExportStatus) -> Result<()> {
        let now_s = now_ms / 1000;
        let horizon = self.horizon(now_ms);
        let settled = now_s >= self.started_s + SETTLE_AFTER_START_S;
        let profiles: Vec<String> = self.pending.keys().cloned().collect();
        for profile in profiles {
            let pending = &self.pending[&profile];
            let todo: Vec<BucketRollup> = match (pending.first_key_value(), pending.last_key_value()) {
                (Some((&first, _)), Some((&last, _))) => {
                    let mut todo = self.store.rollups(&profile, first, last + 1);
                    todo.retain(|r| pending.contains_key(&r.bucket));
                    todo
                }
                _ => Vec::new(),
            };
            let mut i = 0;
            while i < todo.len() {
                let (mut totals, mut tops) = (Vec::new(), Vec::new());
                let start = i;
                while i < todo.len() && (i == start || totals.len() + tops.len() < self.cfg.batch_size) {
                    let (t, p) = rollup_rows(&todo[i], &self.collector, &self.site, now_ms);
                    totals.extend(t);
                    tops.extend(p);
                    i += 1;
                }
                sink.insert::<TotalRow>(super::schema::ROLLUP_TOTALS, &totals).await?;
                sink.insert::<TopRow>(super::schema::ROLLUP_TOP, &tops).await?;
                let mark = self.wm.rollups.entry(profile.clone()).or_default();
                let pending = self.pending.get_mut(&profile).expect("listed above");
                for r in &todo[start..i] {
                    mark.shipped.insert(r.bucket);
                    pending.remove(&r.bucket);
                }
                self.save()?;
                st.rollup_buckets_shipped += (i - start) as u64;
                st.rollup_rows_shipped += (totals.len() + tops.len()) as u64;
                self.rollup_backlog_status(now_s, st);
            }
            if settled {
                // Never past an unshipped bucket: the floor only forgets what is done.
                let mark = self.wm.rollups.entry(profile.clone()).or_default();
                let lookback = horizon.saturating_sub(ROLLUP_LOOKBACK_S);
                let new_floor = self.pending[&profile].keys().next().map_or(lookback, |&b| b.min(lookback));
                if new_floor > mark.floor {
                    mark.floor = new_floor;
                    mark.shipped.retain(|&b| b >= new_floor);
                }
            }
        }
        self.save()
    }

    fn rollup_backlog_status(&self, now_s: u64, st: &mut ExportStatus) {
        st.rollup_backlog_buckets = self.pending.values().map(|p| p.len() as u64).sum();
        st.rollup_backlog_rows = self.pending.values().flat_map(|p| p.values()).sum();
        let oldest = self.pending.values().filter_map(|p| p.keys().next().copied()).min();
        st.oldest_rollup_backlog_age_s = oldest.map(|b| now_s.saturating_sub(b + BUCKET_SECONDS));
    }

    fn plan_raw(&mut self, now_ms: u64, st: &mut ExportStatus) -> Result<()> {
        let segs = crate::store::list_segments(self.store.dir(), self.wm.raw.floor, u64::MAX)?;
        let mut present = BTreeSet::new();
        for (bucket, path) in &segs {
            let Some(worker) = segment_worker(path) else { continue };
            let key = segment_key(*bucket, worker);
            present.insert(key.clone());
            let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let mark = self.wm.raw.segments.entry(key.clone()).or_insert(SegmentMark {
                bucket: *bucket,
                worker,
                offset: 0,
                seen_len: 0,
            });
            mark.seen_len = len;
            if len < mark.offset {
                // The file got shorter (a torn tail cut after a crash): re-read it; re-sent
                // rows replace themselves.
                mark.offset = 0;
                st.raw_rewinds += 1;
                self.counted.remove(&key);
            }
        }
        // Segments we knew that retention deleted before they were shipped to their end.
        let gone: Vec<String> =
            self.wm.raw.segments.keys().filter(|k| !present.contains(*k)).cloned().collect();
        for k in gone {
            let m = self.wm.raw.segments.remove(&k).expect("listed above");
            if m.offset < m.seen_len {
                st.dropped_raw_segments += 1;
                st.dropped_raw_bytes += m.seen_len - m.offset;
                st.dropped_raw_rows += self.counted_rows(&k, &m);
            }
            self.counted.remove(&k);
        }
        self.count_pending(&segs);
        self.cap_backlog(st);
        self.raw_backlog_status(now_ms / 1000, st);
        self.segs = segs;
        Ok(())
    }

    /// Brings the row counts of the pending segments up to their current length.
    fn count_pending(&mut self, segs: &[(u64, PathBuf)]) {
        for (bucket, path) in segs {
            let Some(worker) = segment_worker(path) else { continue };
            let key = segment_key(*bucket, worker);
            let Some(m) = self.wm.raw.segments.get(&key) else { continue };
            if !is_pending(m) {
                self.counted.remove(&key);
                continue;
            }
            let c = self.counted.entry(key).or_insert(Counted { from: m.offset, to: m.offset, rows: 0 });
            if c.from != m.offset || c.to > m.seen_len.max(FILE_HEADER_LEN as u64) {
                *c = Counted { from: m.offset, to: m.offset, rows: 0 };
            }
            if c.to < m.seen_len {
                // Unreadable now (deleted under us): counted again next plan.
                if let Ok((rows, end)) = count_rows(path, c.to, m.seen_len) {
                    c.rows += rows;
                    c.to = end;
                }
            }
        }
    }

    fn counted_rows(&self, key: &str, m: &SegmentMark) -> u64 {
        self.counted.get(key).filter(|c| c.from == m.offset).map_or(0, |c| c.rows)
    }

    /// Ships the segments the last plan listed, from their marks to their last whole block.
    pub async fn ship_raw(&mut self, sink: &mut Sink, now_ms: u64, st: &mut ExportStatus) -> Result<()> {
        let now_s = now_ms / 1000;
        let horizon = self.horizon(now_ms);
        let segs = std::mem::take(&mut self.segs);
        for (bucket, path) in &segs {
            let Some(worker) = segment_worker(path) else { continue };
            let key = segment_key(*bucket, worker);
            while let Some(&mark) = self.wm.raw.segments.get(&key) {
                if mark.offset != 0 && mark.offset >= mark.seen_len {
                    break;
                }
                let (collector, site) = (self.collector.as_str(), self.site.as_str());
                let mut rows: Vec<FlowRow> = Vec::new();
                let res =
                    read_from(path, mark.offset, self.cfg.batch_size, &mut self.bufs, &mut |off, flows| {
                        rows.extend(
                            flows
                                .iter()
                                .enumerate()
                                .map(|(i, f)| flow_row(f, collector, site, worker, off, i)),
                        )
                    });
                let read = match res {
                    Ok(r) => r,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) => {
                        return Err(anyhow::Error::from(e).context(format!("cannot read {}", path.display())))
                    }
                };
                sink.insert::<FlowRow<'static>>(super::schema::FLOWS, &rows).await?;
                let m = self.wm.raw.segments.get_mut(&key).expect("entry made by the plan");
                let stuck = read.rows == 0;
                m.offset = read.next_offset;
                // The file grew since the plan: the next plan looks at it again.
                m.seen_len = m.seen_len.max(read.next_offset);
                if stuck && *bucket < horizon {
                    // A closed segment ends in a torn or corrupt block: the store ignores it too.
                    if read.corrupt || read.next_offset < read.len {
                        st.corrupt_tails_skipped += 1;
                    }
                    m.offset = read.len.max(m.offset).max(FILE_HEADER_LEN as u64);
                }
                st.raw_rows_shipped += read.rows;
                if read.rows > 0 {
                    st.raw_bytes_shipped +=
                        read.next_offset.saturating_sub(mark.offset.max(FILE_HEADER_LEN as u64));
                }
                let new_offset = m.offset;
                match self.counted.get_mut(&key) {
                    Some(c) if c.from == mark.offset && new_offset <= c.to => {
                        c.from = new_offset;
                        c.rows = c.rows.saturating_sub(read.rows);
                    }
                    _ => {
                        self.counted.remove(&key);
                    }
                }
                if read.rows > 0 || new_offset != mark.offset {
                    self.save()?;
                    self.raw_backlog_status(now_s, st);
                }
                if stuck {
                    break;
                }
            }
        }
        // Advance the floor past buckets that are closed and shipped to their end.
        let open_or_pending = self
            .wm
            .raw
            .segments
            .values()
            .filter(|m| m.bucket >= horizon || is_pending(m))
            .map(|m| m.bucket)
            .min();
        let new_floor = open_or_pending.unwrap_or(horizon).min(horizon.saturating_sub(RAW_LOOKBACK_S));
        if new_floor > self.wm.raw.floor {
            self.wm.raw.floor = new_floor;
            self.wm.raw.segments.retain(|_, m| m.bucket >= new_floor);
        }
        self.raw_backlog_status(now_s, st);
        self.save()
    }

    fn raw_backlog_status(&self, now_s: u64, st: &mut ExportStatus) {
        let pending: Vec<(&String, &SegmentMark)> =
            self.wm.raw.segments.iter().filter(|(_, m)| is_pending(m)).collect();
        st.raw_backlog_segments = pending.len() as u64;
        st.raw_backlog_bytes = pending.iter().map(|(_, m)| m.seen_len.saturating_sub(m.offset)).sum();
        st.raw_backlog_rows = pending.iter().map(|(k, m)| self.counted_rows(k, m)).sum();
        st.oldest_raw_backlog_age_s =
            pending.iter().map(|(_, m)| m.bucket).min().map(|b| now_s.saturating_sub(b));
    }

    /// `spool_max_bytes`: skip the oldest unshipped segments until the backlog fits.
    fn cap_backlog(&mut self, st: &mut ExportStatus) {
        let Some(max) = self.cfg.spool_max_bytes else { return };
        let mut total: u64 = self.wm.raw.segments.values().map(|m| m.seen_len.saturating_sub(m.offset)).sum();
        let mut by_age: Vec<(u64, String)> =
            self.wm.raw.segments.iter().map(|(k, m)| (m.bucket, k.clone())).collect();
        by_age.sort();
        for (_, k) in by_age {
            if total <= max {
                break;
            }
            let m = self.wm.raw.segments[&k];
            let left = m.seen_len.saturating_sub(m.offset);
            if left > 0 {
                st.dropped_raw_segments += 1;
                st.dropped_raw_bytes += left;
                st.dropped_raw_rows += self.counted_rows(&k, &m);
                total -= left;
                self.wm.raw.segments.get_mut(&k).expect("key from the map").offset = m.seen_len;
                self.counted.remove(&k);
            }
        }
    }
}

/// Nothing read yet, or data past the mark.
fn is_pending(m: &SegmentMark) -> bool {
    m.offset == 0 || m.offset < m.seen_len
}

/// Buckets of `pending` that a full pass no longer finds: retention deleted them unshipped.
fn count_vanished(pending: &BTreeMap<u64, u64>, found: &BTreeMap<u64, u64>, st: &mut ExportStatus) {
    for (bucket, rows) in pending {
        if !found.contains_key(bucket) {
            st.dropped_rollup_buckets += 1;
            st.dropped_rollup_rows += rows;
        }
    }
}

/// Rows `rollup_rows` makes of a bucket's rollup.
pub fn rollup_row_count(r: &BucketRollup) -> u64 {
    (1 + r.channels.len() + r.sources.len() + r.top.iter().map(|t| t.entries.len() + 1).sum::<usize>()) as u64
}

/// The rows of one bucket's rollup: total, channels and sources; every top-N entry plus "other".
pub fn rollup_rows(
    r: &BucketRollup,
    collector: &str,
    site: &str,
    version: u64,
) -> (Vec<TotalRow>, Vec<TopRow>) {
    let total = |kind: &'static str, name: &str, c: &crate::flow::Counters| TotalRow {
        collector: collector.to_string(),
        site: site.to_string(),
        profile: r.profile.clone(),
        bucket: r.bucket as u32,
        kind,
        name: name.to_string(),
        flows: c.flows,
        packets: c.packets,
        bytes: c.bytes,
        version,
    };
    let mut totals = vec![total("total", "", &r.total)];
    totals.extend(r.channels.iter().map(|c| total("channel", &c.channel, &c.counters)));
    totals.extend(r.sources.iter().map(|s| total("source", &s.source, &s.counters)));
    let mut tops = Vec::new();
    for t in &r.top {
        let top = |rank: u16, key: &str, c: &crate::flow::Counters| TopRow {
            collector: collector.to_string(),
            site: site.to_string(),
            profile: r.profile.clone(),
            bucket: r.bucket as u32,
            dimension: t.dimension.as_str(),
            rank,
            key: key.to_string(),
            flows: c.flows,
            packets: c.packets,
            bytes: c.bytes,
            version,
        };
        tops.extend(
            t.entries.iter().enumerate().map(|(i, e)| top((i + 1).min(65_535) as u16, &e.key, &e.counters)),
        );
        tops.push(top(0, "(other)", &t.other));
    }
    (totals, tops)
}

#[inline]
fn flow_row<'a>(
    f: &Flow,
    collector: &'a str,
    site: &'a str,
    worker: u32,
    block: u64,
    row: usize,
) -> FlowRow<'a> {
    FlowRow {
        collector,
        site,
        received: (f.received_ms / 1000).min(u64::from(u32::MAX)) as u32,
        received_ms: f.received_ms,
        worker,
        seq: block << 16 | row as u64,
        first_ms: f.first_ms,
        last_ms: f.last_ms,
        exporter: addr16(f.exporter),
        domain: f.domain,
        source: f.source as u8,
        src_addr: addr16(f.src_addr),
        dst_addr: addr16(f.dst_addr),
        next_hop: addr16(f.next_hop),
        src_port: f.src_port,
        dst_port: f.dst_port,
        protocol: f.protocol,
        tcp_flags: f.tcp_flags,
        tos: f.tos,
        src_mask: f.src_mask,
        dst_mask: f.dst_mask,
        in_if: f.in_if,
        out_if: f.out_if,
        src_as: f.src_as,
        dst_as: f.dst_as,
        src_vlan: f.src_vlan,
        dst_vlan: f.dst_vlan,
        src_mac: mac64(f.src_mac),
        dst_mac: mac64(f.dst_mac),
        packets: f.packets,
        bytes: f.bytes,
        sampling: f.sampling,
    }
}
