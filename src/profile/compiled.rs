//! A profile compiled for counting: one filter per channel, evaluated per flow.

use anyhow::{Context, Result};

use super::Profile;
use crate::filter::Filter;
use crate::flow::Flow;

/// The collector's view of a profile: which channels a flow counts in.
///
/// Channels whose filter is exactly `port N` (most of NfSen's, and all but one
/// of the default profile's) are found by looking the flow's two ports up in a
/// sorted table, behind a 64 Ki-bit map of the ports that have a channel (most
/// flows have an ephemeral port, which then costs one bit test); channels that
/// only test the protocol (`proto icmp or proto icmp6`) come from a per-protocol
/// mask; the others are evaluated one by one.
#[derive(Clone, Debug)]
pub struct CompiledProfile {
    name: String,
    names: Vec<String>,
    filters: Vec<Filter>,
    /// (port, channel) for `port N` channels, sorted; used when there are at most 64 channels.
    by_port: Box<[(u16, u8)]>,
    /// Bit p on when some `port p` channel exists.
    port_bits: Box<[u64]>,
    /// Per protocol number, the channels whose filter only tests the protocol and accepts it.
    by_proto: Box<[u64]>,
    /// Indices of the channels neither table covers.
    others: Box<[u8]>,
    /// At most 64 channels: the port table and a hit bitmask apply.
    fast: bool,
}

impl CompiledProfile {
    pub fn new(profile: &Profile) -> Result<CompiledProfile> {
        let filters = profile
            .channels
            .iter()
            .map(|c| {
                Filter::compile(&c.filter)
                    .with_context(|| format!("profile '{}' channel '{}'", profile.name, c.name))
            })
            .collect::<Result<Vec<_>>>()?;
        let fast = filters.len() <= 64;
        let mut by_port = Vec::new();
        let mut others = Vec::new();
        let mut port_bits = vec![0u64; if fast { 1024 } else { 0 }];
        let mut by_proto = vec![0u64; if fast { 256 } else { 0 }];
        if fast {
            for (i, f) in filters.iter().enumerate() {
                if let Some(port) = f.as_port() {
                    by_port.push((port, i as u8));
                    port_bits[(port >> 6) as usize] |= 1 << (port & 63);
                } else if let Some(set) = f.as_protocols() {
                    for (p, channels) in by_proto.iter_mut().enumerate() {
                        if set[p >> 6] & (1 << (p & 63)) != 0 {
                            *channels |= 1 << i;
                        }
                    }
                } else {
                    others.push(i as u8);
                }
            }
            by_port.sort_unstable();
        }
        Ok(CompiledProfile {
            name: profile.name.clone(),
            names: profile.channels.iter().map(|c| c.name.clone()).collect(),
            filters,
            by_port: by_port.into_boxed_slice(),
            port_bits: port_bits.into_boxed_slice(),
            by_proto: by_proto.into_boxed_slice(),
            others: others.into_boxed_slice(),
            fast,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Channel names, by index (the index `classify` reports).
    pub fn channel_names(&self) -> &[String] {
        &self.names
    }

    /// Calls `hit(i)` once for every channel `i` whose filter matches (channels may
    /// overlap), in increasing `i`.
    #[inline]
    pub fn classify(&self, flow: &Flow, mut hit: impl FnMut(usize)) {
        if !self.fast {
            for (i, f) in self.filters.iter().enumerate() {
                if f.matches(flow) {
                    hit(i);
                }
            }
            return;
        }
        let mut mask = self.by_proto[flow.protocol as usize];
        for port in [flow.src_port, flow.dst_port] {
            if self.port_bits[(port >> 6) as usize] & (1 << (port & 63)) == 0 {
                continue;
            }
            let mut at = self.by_port.partition_point(|&(p, _)| p < port);
            while let Some(&(p, channel)) = self.by_port.get(at) {
                if p != port {
                    break;
                }
                mask |= 1 << channel;
                at += 1;
            }
        }
        for &i in self.others.iter() {
            if self.filters[i as usize].matches(flow) {
                mask |= 1 << i;
            }
        }
        while mask != 0 {
            hit(mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profiles;

    #[test]
    fn classify_reports_every_matching_channel() {
        let live = Profiles::default();
        let c = CompiledProfile::new(live.get("live").unwrap()).unwrap();
        let names = c.channel_names();
        let hits = |flow: Flow| {
            let mut v = Vec::new();
            c.classify(&flow, |i| v.push(names[i].as_str()));
            v
        };
        assert_eq!(hits(Flow { protocol: 6, src_port: 22, dst_port: 80, ..Flow::EMPTY }), ["ssh", "http"]);
        assert_eq!(hits(Flow { protocol: 1, dst_port: 8 << 8, ..Flow::EMPTY }), ["icmp"]);
        assert!(hits(Flow { protocol: 17, src_port: 40000, dst_port: 40001, ..Flow::EMPTY }).is_empty());
        assert_eq!(c.name(), "live");
        // Every default channel is a port or protocol lookup: no filter is evaluated per flow.
        assert!(c.others.is_empty());
    }

    /// The port table and bitmask give exactly what evaluating every filter gives.
    #[test]
    fn fast_path_agrees_with_plain_evaluation() {
        use crate::profile::{Channel, Profile, Sign};
        use rand::{Rng, SeedableRng};
        let filters = [
            "port 22",
            "port 80",
            "proto udp",
            "port 22",
            "src port 53",
            "port 443 and proto tcp",
            "any",
            "proto icmp or proto icmp6",
            "not proto tcp",
        ];
        for count in [7, 70] {
            let mut p = Profile::new("p");
            for i in 0..count {
                p.channels.push(Channel {
                    name: format!("c{i}"),
                    filter: filters[i % filters.len()].into(),
                    colour: "#000000".into(),
                    sign: Sign::Plus,
                    order: i as u32,
                });
            }
            let c = CompiledProfile::new(&p).unwrap();
            assert_eq!(c.fast, count <= 64);
            let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
            for _ in 0..5000 {
                let ports = [22u16, 53, 80, 443, 1000];
                let flow = Flow {
                    protocol: [6, 17, 1, 58][rng.gen_range(0..4)],
                    src_port: ports[rng.gen_range(0..5)],
                    dst_port: ports[rng.gen_range(0..5)],
                    ..Flow::EMPTY
                };
                let mut got = Vec::new();
                c.classify(&flow, |i| got.push(i));
                let want: Vec<usize> = (0..count).filter(|&i| c.filters[i].matches(&flow)).collect();
                assert_eq!(got, want, "{flow:?}");
            }
        }
    }
}
