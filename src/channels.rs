//! The profiles the collector counts live, compiled once and swapped whole
//! when they change (web edit, `wvnr profile`, SIGHUP). Workers check one
//! atomic per batch and pick up the new set between batches: no lock on the
//! hot path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};

use crate::aggregate::Shape;
use crate::config::SourceConfig;
use crate::profile::{CompiledProfile, Profiles};

/// One generation of compiled profiles and the names behind their indexes.
pub struct ProfileSet {
    pub generation: u64,
    pub compiled: Vec<CompiledProfile>,
    pub shape: Arc<Shape>,
}

impl ProfileSet {
    pub fn compile(profiles: &Profiles, sources: &[SourceConfig], generation: u64) -> Result<ProfileSet> {
        let mut compiled = Vec::with_capacity(profiles.profiles.len());
        let mut names = Vec::with_capacity(profiles.profiles.len());
        for p in &profiles.profiles {
            let c = CompiledProfile::new(p).with_context(|| format!("profile {:?}", p.name))?;
            names.push((p.name.clone(), c.channel_names().to_vec()));
            compiled.push(c);
        }
        let shape = Shape { sources: sources.iter().map(|s| s.name.clone()).collect(), profiles: names };
        Ok(ProfileSet { generation, compiled, shape: Arc::new(shape) })
    }
}

/// Shared by the workers, the merge and whoever edits profiles.
pub struct ProfileRegistry {
    current: RwLock<Arc<ProfileSet>>,
    generation: AtomicU64,
    sources: Vec<SourceConfig>,
}

impl ProfileRegistry {
    pub fn new(profiles: &Profiles, sources: Vec<SourceConfig>) -> Result<ProfileRegistry> {
        let set = ProfileSet::compile(profiles, &sources, 1)?;
        Ok(ProfileRegistry { current: RwLock::new(Arc::new(set)), generation: AtomicU64::new(1), sources })
    }

    /// Cheap: one atomic load. Workers compare it with the generation they hold.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn current(&self) -> Arc<ProfileSet> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Compiles `profiles` and makes them current; a profile that does not compile
    /// leaves the old set in force and says why.
    pub fn replace(&self, profiles: &Profiles) -> Result<()> {
        let next = self.generation() + 1;
        let set = ProfileSet::compile(profiles, &self.sources, next)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        self.generation.store(next, Ordering::Release);
        Ok(())
    }
}
