//! SCAFFOLD: profiles and channels (the filter helper replaces this file).
//! Only the shape the collector uses is fixed here.

use crate::filter::Filter;
use crate::flow::Flow;

#[derive(Clone, Debug)]
pub struct Channel {
    pub name: String,
    pub filter: String,
}

#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub channels: Vec<Channel>,
}

#[derive(Clone, Debug)]
pub struct Profiles {
    pub profiles: Vec<Profile>,
}

impl Default for Profiles {
    fn default() -> Self {
        Profiles { profiles: vec![Profile { name: "live".into(), channels: Vec::new() }] }
    }
}

impl Profiles {
    pub fn load(_data_dir: &std::path::Path) -> anyhow::Result<Profiles> {
        Ok(Profiles::default())
    }
}

pub struct CompiledProfile {
    names: Vec<String>,
    filters: Vec<Filter>,
}

impl CompiledProfile {
    pub fn new(p: &Profile) -> anyhow::Result<CompiledProfile> {
        let filters = p.channels.iter().map(|c| Filter::compile(&c.filter)).collect::<Result<Vec<_>, _>>()?;
        Ok(CompiledProfile { names: p.channels.iter().map(|c| c.name.clone()).collect(), filters })
    }

    pub fn channel_names(&self) -> &[String] {
        &self.names
    }

    pub fn classify(&self, flow: &Flow, mut hit: impl FnMut(usize)) {
        for (i, f) in self.filters.iter().enumerate() {
            if f.matches(flow) {
                hit(i)
            }
        }
    }
}
