//! `wvnr export init-schema`: create the ClickHouse database and tables ahead of the
//! collectors (idempotent), reading `[export.clickhouse]` from the collector's config.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use super::config::ClickhouseConfig;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: ExportCommand,
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Create the database and tables (IF NOT EXISTS; safe to run again).
    InitSchema {
        /// Collector config with an [export.clickhouse] section.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// ClickHouse HTTP url, overriding the config's url/urls (repeat for every node of a cluster).
        #[arg(long)]
        url: Vec<String>,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        ExportCommand::InitSchema { config, url } => {
            let mut cfg = match &config {
                Some(p) => load_section(p)?,
                None => ClickhouseConfig::default(),
            };
            if !url.is_empty() {
                cfg.url = None;
                cfg.urls = url;
            }
            let f = super::init_schema(&cfg)?;
            println!(
                "schema {} ready on {} (server {}.{}{})",
                cfg.database,
                cfg.endpoints().join(", "),
                f.major,
                f.minor,
                cfg.cluster.as_deref().map(|c| format!(", cluster {c}")).unwrap_or_default()
            );
            Ok(())
        }
    }
}

/// `[export.clickhouse]` of a config file (the rest of the file is the collector's business).
pub fn load_section(path: &Path) -> Result<ClickhouseConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
    section_from_str(&text).with_context(|| format!("config {}", path.display()))
}

pub fn section_from_str(text: &str) -> Result<ClickhouseConfig> {
    let doc: toml::Table =
        toml::from_str(text).map_err(|e| anyhow::anyhow!(e.to_string().replace('\n', " ")))?;
    let section = doc
        .get("export")
        .and_then(|e| e.get("clickhouse"))
        .context("no [export.clickhouse] section")?
        .clone();
    let cfg: ClickhouseConfig = section.try_into().map_err(|e: toml::de::Error| {
        anyhow::anyhow!("[export.clickhouse]: {}", e.to_string().replace('\n', " "))
    })?;
    cfg.validate()?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_is_read_from_a_full_config() {
        let c = section_from_str(
            "[store]\ndir = \"x\"\n[export.clickhouse]\nurl = \"http://h:1\"\nraw_flows = true\n",
        )
        .unwrap();
        assert_eq!(c.endpoints(), vec!["http://h:1"]);
        assert!(c.raw_flows);
        assert!(section_from_str("[store]\n").is_err());
        assert!(section_from_str("[export.clickhouse]\nnope = 1\n").is_err());
    }
}
