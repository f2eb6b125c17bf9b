//! `wvnr profile`: list, show, add and delete profiles and their channels
//! (kept in DATA/profiles.toml). A channel added later is backfilled from the
//! raw flows already stored.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};

use crate::profile::{backfill_channel, Channel, Profile, Profiles, Sign};
use crate::store::{Store, StoreConfig};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  wvnr profile list\n  wvnr profile add web\n  \
wvnr profile channel add web/https --filter 'proto tcp and port 443' --colour '#2CA02C'\n  \
wvnr profile channel add web/dns-out --filter 'dst port 53' --colour '#EDC948' --sign -\n  \
wvnr profile show web -o json")]
pub struct Args {
    /// Data directory (profiles.toml and the store).
    #[arg(long, global = true, default_value = "data", env = "WVNR_DATA")]
    pub data: PathBuf,
    #[command(subcommand)]
    pub command: ProfileCommand,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// List the profiles.
    List {
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: Output,
    },
    /// Show one profile and its channels.
    Show {
        name: String,
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: Output,
    },
    /// Add an empty profile.
    Add {
        name: String,
        /// A line describing the profile.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a profile (its stored rollups stay until retention removes them).
    Delete { name: String },
    /// Add or delete channels.
    #[command(subcommand)]
    Channel(ChannelCommand),
}

#[derive(Subcommand, Debug)]
pub enum ChannelCommand {
    /// Add a channel PROFILE/NAME and count it over the flows already stored.
    Add {
        /// PROFILE/CHANNEL
        target: String,
        /// nfdump filter selecting the channel's flows.
        #[arg(long)]
        filter: String,
        /// Colour, #RRGGBB.
        #[arg(long, alias = "color")]
        colour: String,
        /// '+' draws above the axis, '-' below.
        #[arg(long, default_value = "+", allow_hyphen_values = true)]
        sign: Sign,
        /// Drawing order (lowest first); default: after the last channel.
        #[arg(long)]
        order: Option<u32>,
        /// Do not count the channel over stored flows.
        #[arg(long)]
        no_backfill: bool,
    },
    /// Delete the channel PROFILE/NAME.
    Delete { target: String },
}

fn split_target(target: &str) -> Result<(&str, &str)> {
    target
        .split_once('/')
        .filter(|(p, c)| !p.is_empty() && !c.is_empty())
        .with_context(|| format!("'{target}' is not PROFILE/CHANNEL (for example live/ssh)"))
}

fn profile_mut<'a>(all: &'a mut Profiles, name: &str) -> Result<&'a mut Profile> {
    let known = all.profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
    all.get_mut(name).with_context(|| format!("no profile '{name}' (profiles: {known})"))
}

pub fn run(args: Args) -> Result<()> {
    let data = args.data;
    let mut all = Profiles::load(&data)?;
    match args.command {
        ProfileCommand::List { output } => list(&all, output),
        ProfileCommand::Show { name, output } => {
            let p = all.get(&name).with_context(|| format!("no profile '{name}'"))?;
            show(p, output)
        }
        ProfileCommand::Add { name, description } => {
            all.add(&name)?.description = description;
            all.save(&data)?;
            println!("added profile '{name}'");
            Ok(())
        }
        ProfileCommand::Delete { name } => {
            all.remove(&name)?;
            all.save(&data)?;
            println!("deleted profile '{name}'");
            Ok(())
        }
        ProfileCommand::Channel(ChannelCommand::Add { target, filter, colour, sign, order, no_backfill }) => {
            let (pname, cname) = split_target(&target)?;
            non_empty(&filter)?;
            let profile = profile_mut(&mut all, pname)?;
            let order =
                order.unwrap_or_else(|| profile.channels.iter().map(|c| c.order + 1).max().unwrap_or(0));
            let channel = Channel { name: cname.to_string(), filter, colour, sign, order };
            let index = profile.add_channel(channel).with_context(|| format!("cannot add {target}"))?;
            let profile = profile.clone();
            all.save(&data)?;
            println!("added channel '{target}'");
            if !no_backfill {
                backfill(&data, &profile, index, &target)?;
            }
            Ok(())
        }
        ProfileCommand::Channel(ChannelCommand::Delete { target }) => {
            let (pname, cname) = split_target(&target)?;
            profile_mut(&mut all, pname)?.remove_channel(cname)?;
            all.save(&data)?;
            println!("deleted channel '{target}'");
            Ok(())
        }
    }
}

fn backfill(data: &std::path::Path, profile: &Profile, index: usize, target: &str) -> Result<()> {
    let store = Store::open(data, StoreConfig::default())
        .with_context(|| format!("cannot open the store in {} to backfill {target}", data.display()))?;
    let mut last_percent = u64::MAX;
    let written = backfill_channel(&store, profile, index, &mut |p| {
        let percent = p.buckets_done * 100 / p.buckets_total.max(1);
        if percent != last_percent && (percent.is_multiple_of(10) || p.buckets_done == p.buckets_total) {
            last_percent = percent;
            eprintln!(
                "backfilling {target}: {}/{} buckets ({percent}%), {} flows matched",
                p.buckets_done, p.buckets_total, p.flows_matched
            );
        }
    })?;
    println!("backfilled {target}: {written} buckets updated from stored flows");
    Ok(())
}

fn list(all: &Profiles, output: Output) -> Result<()> {
    match output {
        Output::Json => {
            let rows: Vec<_> = all
                .profiles
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "name": p.name, "description": p.description, "channels": p.channels.len()
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        Output::Text => {
            let width = all.profiles.iter().map(|p| p.name.len()).max().unwrap_or(0).max(7);
            println!("{:width$}  {:>8}  DESCRIPTION", "PROFILE", "CHANNELS");
            for p in &all.profiles {
                println!("{:width$}  {:>8}  {}", p.name, p.channels.len(), p.description);
            }
        }
    }
    Ok(())
}

fn show(p: &Profile, output: Output) -> Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(p)?),
        Output::Text => {
            println!(
                "profile {}{}",
                p.name,
                if p.description.is_empty() { String::new() } else { format!(": {}", p.description) }
            );
            if p.channels.is_empty() {
                println!("(no channels: add one with `wvnr profile channel add {}/NAME --filter ... --colour ...`)", p.name);
                return Ok(());
            }
            let width = p.channels.iter().map(|c| c.name.len()).max().unwrap_or(0).max(7);
            println!("ORDER  SIGN  {:7}  {:width$}  FILTER", "COLOUR", "CHANNEL");
            for c in &p.channels {
                println!(
                    "{:>5}  {:>4}  {:7}  {:width$}  {}",
                    c.order,
                    c.sign.as_str(),
                    c.colour,
                    c.name,
                    c.filter
                );
            }
        }
    }
    Ok(())
}

/// Refuses an empty channel filter on the command line (it would match everything by accident).
fn non_empty(filter: &str) -> Result<()> {
    if filter.trim().is_empty() {
        bail!("--filter is empty: write 'any' to count every flow");
    }
    Ok(())
}
