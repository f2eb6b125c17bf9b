//! TEMPORARY stand-in for `crate::profile` (being written by another helper):
//! the shape the web codes against until the real module lands on main.
//! Only `channels.rs` touches these types, so the switch is local.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sign {
    Plus,
    Minus,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Channel {
    pub name: String,
    pub filter: String,
    pub colour: String,
    pub sign: Sign,
    pub order: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub channels: Vec<Channel>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Profiles {
    pub profiles: Vec<Profile>,
}

impl Profiles {
    pub fn load(data_dir: &Path) -> Result<Profiles> {
        let path = data_dir.join("profiles.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Profiles::default()),
            Err(e) => Err(e).with_context(|| format!("{}", path.display())),
        }
    }

    pub fn save(&self, data_dir: &Path) -> Result<()> {
        let tmp = data_dir.join("profiles.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, data_dir.join("profiles.json"))?;
        Ok(())
    }
}
