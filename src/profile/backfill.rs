//! Counting a channel added later over the raw flows already stored, so its
//! graph has history (NfSen rebuilt a new profile from nfcapd files the same way).

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};

use super::Profile;
use crate::filter::Filter;
use crate::flow::{Counters, BUCKET_SECONDS};
use crate::rollup::{BucketRollup, ChannelCounters};
use crate::store::Store;

/// Where a backfill is, reported after each bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackfillProgress {
    /// Bucket just finished (start, UTC seconds).
    pub bucket: u64,
    pub buckets_done: u64,
    pub buckets_total: u64,
    /// Rollups written so far.
    pub buckets_written: u64,
    /// Flows of the channel counted so far.
    pub flows_matched: u64,
}

#[derive(Default)]
struct AtomicCounters {
    flows: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl AtomicCounters {
    fn add(&self, c: &Counters) {
        self.flows.fetch_add(c.flows, Ordering::Relaxed);
        self.packets.fetch_add(c.packets, Ordering::Relaxed);
        self.bytes.fetch_add(c.bytes, Ordering::Relaxed);
    }

    fn get(&self) -> Counters {
        Counters {
            flows: self.flows.load(Ordering::Relaxed),
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// Scans every stored bucket's raw flows and writes channel `channel_index` of
/// `profile` into that bucket's rollup (replacing the channel's counters if the
/// rollup has them, creating the rollup if the bucket has none). Buckets with
/// neither flows nor a rollup are skipped. Returns the number of rollups written.
pub fn backfill_channel(
    store: &Store,
    profile: &Profile,
    channel_index: usize,
    progress: &mut dyn FnMut(&BackfillProgress),
) -> Result<u64> {
    let Some(channel) = profile.channels.get(channel_index) else {
        bail!("profile '{}' has no channel #{channel_index}", profile.name);
    };
    let filter = Filter::compile(&channel.filter)
        .with_context(|| format!("profile '{}' channel '{}'", profile.name, channel.name))?;
    let usage = store.usage();
    let (Some(oldest), Some(newest)) = (usage.oldest_bucket, usage.newest_bucket) else {
        return Ok(0);
    };
    let mut state = BackfillProgress {
        buckets_total: newest.saturating_sub(oldest) / BUCKET_SECONDS + 1,
        ..BackfillProgress::default()
    };
    let mut bucket = oldest - oldest % BUCKET_SECONDS;
    while bucket <= newest {
        let total = AtomicCounters::default();
        let matched = AtomicCounters::default();
        let stats = store
            .scan(bucket * 1000, (bucket + BUCKET_SECONDS) * 1000, |block| {
                let (mut t, mut m) = (Counters::default(), Counters::default());
                for flow in block {
                    t.add_flow(flow);
                    if filter.matches(flow) {
                        m.add_flow(flow);
                    }
                }
                total.add(&t);
                matched.add(&m);
            })
            .with_context(|| format!("cannot scan bucket {bucket}"))?;
        let existing = store
            .rollups(&profile.name, bucket, bucket + BUCKET_SECONDS)
            .into_iter()
            .find(|r| r.bucket == bucket);
        if stats.flows_read > 0 || existing.is_some() {
            let mut rollup = existing.unwrap_or_else(|| BucketRollup {
                bucket,
                profile: profile.name.clone(),
                total: total.get(),
                channels: Vec::new(),
                sources: Vec::new(),
                top: Vec::new(),
            });
            set_channel(&mut rollup, profile, &channel.name, matched.get());
            store
                .write_rollup(&rollup)
                .with_context(|| format!("cannot write the rollup of bucket {bucket}"))?;
            state.buckets_written += 1;
            state.flows_matched += matched.get().flows;
        }
        state.bucket = bucket;
        state.buckets_done += 1;
        progress(&state);
        bucket += BUCKET_SECONDS;
    }
    Ok(state.buckets_written)
}

/// Adds or replaces `channel`'s counters, keeping the rollup's channels in the profile's order.
fn set_channel(rollup: &mut BucketRollup, profile: &Profile, channel: &str, counters: Counters) {
    match rollup.channels.iter_mut().find(|c| c.channel == channel) {
        Some(c) => c.counters = counters,
        None => rollup.channels.push(ChannelCounters { channel: channel.to_string(), counters }),
    }
    let rank = |name: &str| profile.channel_index(name).unwrap_or(usize::MAX);
    rollup.channels.sort_by_key(|c| rank(&c.channel));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Channel, Sign};

    #[test]
    fn set_channel_replaces_and_orders() {
        let mut p = Profile::new("p");
        for (i, n) in ["a", "b"].iter().enumerate() {
            p.add_channel(Channel {
                name: n.to_string(),
                filter: "any".into(),
                colour: "#000000".into(),
                sign: Sign::Plus,
                order: i as u32,
            })
            .unwrap();
        }
        let mut r = BucketRollup {
            bucket: 300,
            profile: "p".into(),
            total: Counters::default(),
            channels: vec![ChannelCounters { channel: "b".into(), counters: Counters::default() }],
            sources: vec![],
            top: vec![],
        };
        let c = Counters { flows: 1, packets: 2, bytes: 3 };
        set_channel(&mut r, &p, "a", c);
        set_channel(&mut r, &p, "b", c);
        assert_eq!(r.channels.len(), 2);
        assert_eq!(r.channels[0].channel, "a");
        assert!(r.channels.iter().all(|x| x.counters == c));
    }
}
