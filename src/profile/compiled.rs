//! A profile compiled for counting: one filter per channel, evaluated per flow.

use anyhow::{Context, Result};

use super::Profile;
use crate::filter::Filter;
use crate::flow::Flow;

/// The collector's view of a profile: which channels a flow counts in.
#[derive(Clone, Debug)]
pub struct CompiledProfile {
    name: String,
    names: Vec<String>,
    filters: Vec<Filter>,
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
        Ok(CompiledProfile {
            name: profile.name.clone(),
            names: profile.channels.iter().map(|c| c.name.clone()).collect(),
            filters,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Channel names, by index (the index `classify` reports).
    pub fn channel_names(&self) -> &[String] {
        &self.names
    }

    /// Calls `hit(i)` for every channel `i` whose filter matches (channels may overlap).
    #[inline]
    pub fn classify(&self, flow: &Flow, mut hit: impl FnMut(usize)) {
        for (i, f) in self.filters.iter().enumerate() {
            if f.matches(flow) {
                hit(i);
            }
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
    }
}
