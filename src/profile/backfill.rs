//! Counting a channel added later over the raw flows already stored, so its
//! graph has history (NfSen rebuilt a new profile from nfcapd files the same way).

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use super::Profile;
use crate::filter::Filter;
use crate::flow::{bucket_start, Counters, BUCKET_SECONDS};
use crate::rollup::{BucketRollup, ChannelCounters};
use crate::store::Store;

/// Buckets scanned per pass (one day): one progress report each, bounded memory.
const CHUNK_BUCKETS: u64 = 288;

/// Where a backfill is, reported after each pass over a day of buckets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackfillProgress {
    /// Start of the last bucket covered so far (UTC seconds).
    pub bucket: u64,
    pub buckets_done: u64,
    pub buckets_total: u64,
    /// Rollups written so far.
    pub buckets_written: u64,
    /// Flows of the channel counted so far.
    pub flows_matched: u64,
}

/// Per bucket: (all flows, flows of the channel).
type BucketCounts = BTreeMap<u64, (Counters, Counters)>;

/// Scans every stored bucket's raw flows and writes channel `channel_index` of
/// `profile` into that bucket's rollup (replacing the channel's counters if the
/// rollup has them, creating the rollup if the bucket has none). Buckets without
/// stored flows are left alone: their raw flows may have expired, so nothing is
/// known about them. Returns the number of rollups written.
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
    let mut from = oldest - oldest % BUCKET_SECONDS;
    while from <= newest {
        let to = (from + CHUNK_BUCKETS * BUCKET_SECONDS).min(newest + BUCKET_SECONDS);
        let counts = Mutex::new(BucketCounts::new());
        store
            .scan(from * 1000, to * 1000, |block| {
                // Count the block locally; take the lock once per block, not per flow.
                let mut local = BucketCounts::new();
                for flow in block {
                    let entry = local.entry(bucket_start(flow.received_ms)).or_default();
                    entry.0.add_flow(flow);
                    if filter.matches(flow) {
                        entry.1.add_flow(flow);
                    }
                }
                let mut all = counts.lock().unwrap_or_else(|e| e.into_inner());
                for (bucket, (t, m)) in local {
                    let entry = all.entry(bucket).or_default();
                    entry.0.add(&t);
                    entry.1.add(&m);
                }
            })
            .with_context(|| format!("cannot scan stored flows from {from} to {to}"))?;
        let counts = counts.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut rollups: BTreeMap<u64, BucketRollup> =
            store.rollups(&profile.name, from, to).into_iter().map(|r| (r.bucket, r)).collect();
        for (bucket, (total, matched)) in counts {
            let mut rollup = rollups.remove(&bucket).unwrap_or_else(|| BucketRollup {
                bucket,
                profile: profile.name.clone(),
                total,
                channels: Vec::new(),
                sources: Vec::new(),
                top: Vec::new(),
            });
            set_channel(&mut rollup, profile, &channel.name, matched);
            store
                .write_rollup(&rollup)
                .with_context(|| format!("cannot write the rollup of bucket {bucket}"))?;
            state.buckets_written += 1;
            state.flows_matched += matched.flows;
        }
        state.bucket = to - BUCKET_SECONDS;
        state.buckets_done += (to - from) / BUCKET_SECONDS;
        progress(&state);
        from = to;
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
