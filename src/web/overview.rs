//! The overview graph's data: a profile's rollups (closed buckets from the
//! store, the open one from the live status) summed into at most
//! `MAX_POINTS` steps per channel and turned into rates.

use std::collections::HashMap;

use serde::Serialize;

use crate::flow::{Counters, BUCKET_SECONDS};
use crate::rollup::BucketRollup;

use super::params::Unit;

/// Most points one series carries: 30 days land on 2-hour steps (360 points).
pub const MAX_POINTS: u64 = 600;

/// Step lengths the graph uses, shortest first: all divide a day, so steps align to UTC midnight.
const STEPS: [u64; 10] = [300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];

/// The shortest step that keeps `[from, to)` within `MAX_POINTS` points.
pub fn step_for(from_s: u64, to_s: u64) -> u64 {
    let span = to_s.saturating_sub(from_s);
    STEPS.into_iter().find(|step| span.div_ceil(*step) < MAX_POINTS).unwrap_or(86_400)
}

/// What the graph needs to know about one channel of the profile.
#[derive(Clone, Debug, Serialize)]
pub struct ChannelMeta {
    pub name: String,
    pub filter: String,
    pub colour: String,
    /// +1 above the axis, -1 below it.
    pub sign: i8,
    pub order: i64,
}

#[derive(Debug, Serialize)]
pub struct Series {
    #[serde(flatten)]
    pub meta: ChannelMeta,
    /// One rate per point, in the overview's unit per second.
    pub values: Vec<f64>,
    /// Totals over the whole window.
    pub sum: Counters,
}

#[derive(Debug, Serialize)]
pub struct TotalSeries {
    pub values: Vec<f64>,
    pub sum: Counters,
}

#[derive(Debug, Serialize)]
pub struct Overview {
    pub profile: String,
    pub unit: Unit,
    /// The requested window, UTC seconds.
    pub from: u64,
    pub to: u64,
    /// Seconds per point; point i covers [points[i], points[i] + step).
    pub step: u64,
    pub points: Vec<u64>,
    /// Seconds of data each point holds (step, or less for the last point while it is still open).
    pub seconds: Vec<u64>,
    /// Data ends here (now, or `to`): the last point is partial when it ends after this.
    pub end: u64,
    /// Whether the open bucket from the live collector is included.
    pub live: bool,
    pub channels: Vec<Series>,
    pub total: TotalSeries,
}

/// Inputs of `build`: `rollups` are the stored (closed) buckets, `open` the live partial bucket
/// with the time it was published, `now_s` the wall clock.
pub struct OverviewInput<'a> {
    pub profile: &'a str,
    pub channels: Vec<ChannelMeta>,
    /// Shared handles straight from the store's index (no copies of 30 days of rollups).
    pub rollups: &'a [std::sync::Arc<BucketRollup>],
    pub open: Option<(&'a BucketRollup, u64)>,
    pub from_s: u64,
    pub to_s: u64,
    pub now_s: u64,
    pub unit: Unit,
}

/// The window as aligned to its step: `(step, first point, end of the last point)`.
pub fn aligned(from_s: u64, to_s: u64) -> (u64, u64, u64) {
    let step = step_for(from_s, to_s);
    (step, from_s - from_s % step, to_s.div_ceil(step) * step)
}

pub fn build(input: OverviewInput<'_>) -> Overview {
    let (step, start, stop) = aligned(input.from_s, input.to_s);
    // The live bucket is used only where the store has not got that bucket yet.
    let open = input
        .open
        .filter(|(r, _)| r.bucket >= start && r.bucket < stop)
        .filter(|(r, _)| !input.rollups.iter().any(|s| s.bucket == r.bucket));
    let now = match open {
        Some((r, published_s)) => published_s.clamp(r.bucket + 1, r.bucket + BUCKET_SECONDS),
        None => input.now_s,
    };
    let end = stop.min(now).max(start + 1);
    let n = (end - start).div_ceil(step) as usize;
    let points: Vec<u64> = (0..n as u64).map(|i| start + i * step).collect();
    let seconds: Vec<u64> = points.iter().map(|t| (t + step).min(end) - t).collect();

    let mut channels = input.channels;
    channels.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.name.cmp(&b.name)));
    let mut sums = vec![vec![Counters::default(); n]; channels.len()];
    let mut totals = vec![Counters::default(); n];
    let index: HashMap<&str, usize> =
        channels.iter().enumerate().map(|(i, c)| (c.name.as_str(), i)).collect();
    let buckets = input.rollups.iter().map(|r| r.as_ref()).chain(open.map(|(r, _)| r));
    for rollup in buckets.filter(|r| r.bucket >= start && r.bucket < end) {
        let i = ((rollup.bucket - start) / step) as usize;
        totals[i].add(&rollup.total);
        // Channels deleted since the bucket was written are not drawn.
        for cc in &rollup.channels {
            if let Some(&c) = index.get(cc.channel.as_str()) {
                sums[c][i].add(&cc.counters);
            }
        }
    }
    let rate = |c: &Counters, secs: u64| -> f64 {
        let v = match input.unit {
            Unit::Bits => c.bytes as f64 * 8.0,
            Unit::Packets => c.packets as f64,
            Unit::Flows => c.flows as f64,
        };
        round_sig(v / secs.max(1) as f64)
    };
    let total_of = |per_point: &[Counters]| {
        let mut sum = Counters::default();
        per_point.iter().for_each(|c| sum.add(c));
        sum
    };
    let series = channels
        .into_iter()
        .zip(sums)
        .map(|(meta, per_point)| Series {
            meta,
            values: per_point.iter().zip(&seconds).map(|(c, s)| rate(c, *s)).collect(),
            sum: total_of(&per_point),
        })
        .collect();
    Overview {
        profile: input.profile.to_string(),
        unit: input.unit,
        from: input.from_s,
        to: input.to_s,
        step,
        end,
        live: open.is_some(),
        total: TotalSeries {
            values: totals.iter().zip(&seconds).map(|(c, s)| rate(c, *s)).collect(),
            sum: total_of(&totals),
        },
        points,
        seconds,
        channels: series,
    }
}

/// Six significant digits: plenty for a graph, and it keeps the JSON short.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(5 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::ChannelCounters;

    fn meta(name: &str, sign: i8, order: i64) -> ChannelMeta {
        ChannelMeta { name: name.into(), filter: "any".into(), colour: "#112233".into(), sign, order }
    }

    fn rollup(bucket: u64, http: u64, dns: u64) -> BucketRollup {
        let c = |n: u64| Counters { flows: n, packets: n * 10, bytes: n * 1000 };
        BucketRollup {
            bucket,
            profile: "live".into(),
            total: c(http + dns + 1),
            channels: vec![
                ChannelCounters { channel: "http".into(), counters: c(http) },
                ChannelCounters { channel: "dns".into(), counters: c(dns) },
            ],
            sources: vec![],
            top: vec![],
        }
    }

    #[test]
    fn steps_keep_points_bounded() {
        assert_eq!(step_for(0, 3600), 300);
        assert_eq!(step_for(0, 24 * 3600), 300);
        assert_eq!(step_for(0, 7 * 86_400), 1800);
        assert_eq!(step_for(0, 30 * 86_400), 7200);
        for span in [1, 299, 3600, 86_400 * 3, 86_400 * 30, 86_400 * 400] {
            let (step, a, b) = aligned(1_000_000_000, 1_000_000_000 + span);
            assert!((b - a) / step <= MAX_POINTS, "{span}");
        }
    }

    #[test]
    fn sums_buckets_into_steps_and_divides_by_the_step() {
        let day = 1_800_028_800; // a UTC midnight
        let rollups: Vec<std::sync::Arc<BucketRollup>> =
            (0..288).map(|i| std::sync::Arc::new(rollup(day + i * 300, 3, 1))).collect();
        let out = build(OverviewInput {
            profile: "live",
            channels: vec![meta("dns", -1, 2), meta("http", 1, 1)],
            rollups: &rollups,
            open: None,
            from_s: day,
            to_s: day + 7 * 86_400,
            now_s: day + 86_400,
            unit: Unit::Flows,
        });
        assert_eq!(out.step, 1800);
        assert_eq!(out.points.len(), 48);
        assert_eq!(out.channels[0].meta.name, "http");
        assert_eq!(out.channels[1].meta.sign, -1);
        // 6 buckets of 3 flows per 1800 s.
        assert!(out.channels[0].values.iter().all(|v| (*v - 18.0 / 1800.0).abs() < 1e-3));
        assert_eq!(out.channels[0].sum.flows, 288 * 3);
        assert_eq!(out.total.sum.flows, 288 * 5);
    }

    #[test]
    fn open_bucket_is_a_partial_point() {
        let b = 1_800_000_000; // a bucket start (a multiple of 300)
        let stored = [std::sync::Arc::new(rollup(b - 300, 2, 0))];
        let open = rollup(b, 6, 0);
        let out = build(OverviewInput {
            profile: "live",
            channels: vec![meta("http", 1, 0)],
            rollups: &stored,
            open: Some((&open, b + 60)),
            from_s: b - 3600,
            to_s: b + 100,
            now_s: b + 90,
            unit: Unit::Bits,
        });
        assert!(out.live);
        assert_eq!(out.end, b + 60);
        assert_eq!(*out.seconds.last().unwrap(), 60);
        let v = &out.channels[0].values;
        assert_eq!(v[v.len() - 1], 6.0 * 1000.0 * 8.0 / 60.0);
        assert!((v[v.len() - 2] - 2.0 * 1000.0 * 8.0 / 300.0).abs() < 1e-3);
        // A stored bucket wins over a stale live one.
        let out = build(OverviewInput {
            profile: "live",
            channels: vec![meta("http", 1, 0)],
            rollups: &stored,
            open: Some((&rollup(b - 300, 9, 0), b - 10)),
            from_s: b - 3600,
            to_s: b,
            now_s: b + 5,
            unit: Unit::Flows,
        });
        assert!(!out.live);
        assert_eq!(out.channels[0].sum.flows, 2);
    }
}
