//! NfSen-style profiles and channels.
//!
//! A profile is a named set of channels; a channel is a name, an nfdump filter,
//! a colour, a sign (drawn above `+` or below `-` the axis) and an order. The
//! collector counts every flow into each channel whose filter matches
//! (`CompiledProfile::classify`; channels may overlap, as in NfSen). All
//! profiles live in `DATA/profiles.toml` (`Profiles::load` / `save`).

mod backfill;
mod compiled;
mod defaults;
mod file;

pub use backfill::{backfill_channel, BackfillProgress};
pub use compiled::CompiledProfile;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::filter::Filter;

/// The profile the collector always has (NfSen's `live`).
pub const LIVE: &str = "live";

/// Longest profile or channel name.
pub const MAX_NAME_LEN: usize = 64;

/// Whether a channel is drawn above (`+`) or below (`-`) the time axis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sign {
    #[default]
    #[serde(rename = "+")]
    Plus,
    #[serde(rename = "-")]
    Minus,
}

impl Sign {
    pub fn as_str(self) -> &'static str {
        match self {
            Sign::Plus => "+",
            Sign::Minus => "-",
        }
    }
}

impl std::str::FromStr for Sign {
    type Err = String;
    fn from_str(s: &str) -> Result<Sign, String> {
        match s {
            "+" | "plus" => Ok(Sign::Plus),
            "-" | "−" | "minus" => Ok(Sign::Minus),
            other => Err(format!("sign must be '+' or '-', not '{other}'")),
        }
    }
}

/// One channel of a profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub name: String,
    /// nfdump filter text.
    pub filter: String,
    /// `#RRGGBB`.
    pub colour: String,
    #[serde(default)]
    pub sign: Sign,
    /// Drawing order (stacking), lowest first; ties keep insertion order.
    #[serde(default)]
    pub order: u32,
}

/// A named set of channels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Channels in drawing order (sorted by `order`).
    #[serde(default, rename = "channel")]
    pub channels: Vec<Channel>,
}

/// Every profile (the contents of `profiles.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    #[serde(default, rename = "profile")]
    pub profiles: Vec<Profile>,
}

/// `[A-Za-z0-9_-]+`, at most `MAX_NAME_LEN` long.
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        bail!("{kind} name '{name}' must be 1 to {MAX_NAME_LEN} characters long");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        bail!("{kind} name '{name}' may only contain letters, digits, '_' and '-'");
    }
    Ok(())
}

/// `#RRGGBB`.
pub fn check_colour(colour: &str) -> Result<()> {
    let ok =
        colour.len() == 7 && colour.starts_with('#') && colour.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
    if !ok {
        bail!("colour '{colour}' is not of the form #RRGGBB");
    }
    Ok(())
}

impl Channel {
    /// Checks the name, colour and that the filter compiles.
    pub fn validate(&self) -> Result<()> {
        check_name("channel", &self.name)?;
        check_colour(&self.colour).with_context(|| format!("channel '{}'", self.name))?;
        Filter::compile(&self.filter)
            .with_context(|| format!("channel '{}': filter '{}'", self.name, self.filter))?;
        Ok(())
    }
}

impl Profile {
    /// An empty profile.
    pub fn new(name: &str) -> Profile {
        Profile { name: name.to_string(), description: String::new(), channels: Vec::new() }
    }

    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// Index of the channel in `channels` (the index `classify` reports).
    pub fn channel_index(&self, name: &str) -> Option<usize> {
        self.channels.iter().position(|c| c.name == name)
    }

    /// Validates and inserts `channel` after every channel of lower or equal order; returns its index.
    pub fn add_channel(&mut self, channel: Channel) -> Result<usize> {
        channel.validate()?;
        if self.channel(&channel.name).is_some() {
            bail!("profile '{}' already has a channel '{}'", self.name, channel.name);
        }
        let at = self.channels.iter().position(|c| c.order > channel.order).unwrap_or(self.channels.len());
        self.channels.insert(at, channel);
        Ok(at)
    }

    /// Removes the channel `name`, returning it.
    pub fn remove_channel(&mut self, name: &str) -> Result<Channel> {
        match self.channel_index(name) {
            Some(i) => Ok(self.channels.remove(i)),
            None => bail!("profile '{}' has no channel '{name}'", self.name),
        }
    }

    pub fn validate(&self) -> Result<()> {
        check_name("profile", &self.name)?;
        let mut seen = std::collections::HashSet::new();
        for c in &self.channels {
            c.validate().with_context(|| format!("profile '{}'", self.name))?;
            if !seen.insert(c.name.as_str()) {
                bail!("profile '{}': channel '{}' appears twice", self.name, c.name);
            }
        }
        Ok(())
    }
}

impl Default for Profiles {
    /// The `live` profile with NfSen's well-known-port channels.
    fn default() -> Profiles {
        Profiles { profiles: vec![defaults::live_profile()] }
    }
}

impl Profiles {
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Profile> {
        self.profiles.iter_mut().find(|p| p.name == name)
    }

    /// Adds an empty profile.
    pub fn add(&mut self, name: &str) -> Result<&mut Profile> {
        check_name("profile", name)?;
        if self.get(name).is_some() {
            bail!("profile '{name}' already exists");
        }
        self.profiles.push(Profile::new(name));
        Ok(self.profiles.last_mut().expect("just pushed"))
    }

    /// Deletes a profile (not `live`: the collector always keeps it).
    pub fn remove(&mut self, name: &str) -> Result<Profile> {
        if name == LIVE {
            bail!("profile '{LIVE}' cannot be deleted: the collector always keeps it (delete its channels instead)");
        }
        match self.profiles.iter().position(|p| p.name == name) {
            Some(i) => Ok(self.profiles.remove(i)),
            None => bail!("no profile '{name}'"),
        }
    }

    /// Names valid and unique, every filter compiles, colours valid.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for p in &self.profiles {
            p.validate()?;
            if !seen.insert(p.name.as_str()) {
                bail!("profile '{}' appears twice", p.name);
            }
        }
        Ok(())
    }

    /// Every profile compiled for counting.
    pub fn compile(&self) -> Result<Vec<CompiledProfile>> {
        self.profiles.iter().map(CompiledProfile::new).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(name: &str, filter: &str, order: u32) -> Channel {
        Channel {
            name: name.into(),
            filter: filter.into(),
            colour: "#112233".into(),
            sign: Sign::Plus,
            order,
        }
    }

    #[test]
    fn default_is_live_with_the_well_known_ports() {
        let p = Profiles::default();
        p.validate().unwrap();
        let live = p.get(LIVE).unwrap();
        assert_eq!(live.channels.len(), 21);
        assert_eq!(live.channel("ssh").unwrap().filter, "port 22");
        assert_eq!(live.channel("icmp").unwrap().filter, "proto icmp or proto icmp6");
        let colours: std::collections::HashSet<_> = live.channels.iter().map(|c| &c.colour).collect();
        assert_eq!(colours.len(), 21, "every channel has its own colour");
    }

    #[test]
    fn channels_are_kept_in_order() {
        let mut p = Profile::new("x");
        assert_eq!(p.add_channel(ch("b", "any", 5)).unwrap(), 0);
        assert_eq!(p.add_channel(ch("a", "any", 1)).unwrap(), 0);
        assert_eq!(p.add_channel(ch("c", "any", 5)).unwrap(), 2);
        let names: Vec<_> = p.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(p.add_channel(ch("a", "any", 0)).unwrap_err().to_string().contains("already has"));
        p.remove_channel("b").unwrap();
        assert!(p.remove_channel("b").is_err());
    }

    #[test]
    fn validation_names_the_culprit() {
        let mut p = Profile::new("web");
        p.channels.push(ch("ok", "port 80", 0));
        p.channels.push(ch("bad", "port x", 0));
        let e = format!("{:#}", p.validate().unwrap_err());
        assert!(e.contains("profile 'web'") && e.contains("channel 'bad'") && e.contains("column 6"), "{e}");
        assert!(check_name("profile", "a b").is_err());
        assert!(check_name("profile", "").is_err());
        assert!(check_name("profile", "ok_-9").is_ok());
        assert!(check_colour("#12345G").is_err());
        assert!(check_colour("123456").is_err());
        assert!(Channel { colour: "red".into(), ..ch("c", "any", 0) }.validate().is_err());
        let mut all = Profiles::default();
        assert!(all.add("live").is_err());
        assert!(all.remove(LIVE).is_err());
        all.add("other").unwrap();
        all.profiles.push(Profile::new("other"));
        assert!(all.validate().unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn sign_parses() {
        assert_eq!("-".parse::<Sign>().unwrap(), Sign::Minus);
        assert_eq!("+".parse::<Sign>().unwrap(), Sign::Plus);
        assert!("x".parse::<Sign>().is_err());
    }
}
