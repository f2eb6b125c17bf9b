//! One file per subcommand: its clap `Args` and a `run` that does the work.

pub mod decode;
pub mod demo;
pub mod gen;
pub mod ingest;
pub mod profile;
pub mod query;
pub mod serve;
pub mod status;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "wvnr",
    version,
    about = "Webview Netflow Reporter: collect NetFlow v5/v9, IPFIX and sFlow, store it, report it",
    long_about = "wvnr receives flow export datagrams from routers and switches (NetFlow v5/v9, \
IPFIX, sFlow v5), decodes them on every core, keeps them in an embedded store, rolls them up \
every five minutes and shows them in a web report.\n\n\
Quick start:  wvnr demo            (collector + web + generator, open the printed URL)\n\
Decode:       wvnr decode export.pcap --summary\n\
Load test:    wvnr gen --target 127.0.0.1:2055 --protocol v9 --rate 10000 --duration 10"
)]
pub struct Cli {
    /// Log level filter (error, warn, info, debug, trace; or a tracing directive such as wvnr=debug).
    #[arg(long, global = true, env = "WVNR_LOG", default_value = "info")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Decode a pcap/pcapng of export traffic and print the flows or a summary.
    Decode(decode::Args),
    /// Generate NetFlow v5/v9, IPFIX or sFlow export traffic (load tests, demos).
    Gen(gen::Args),
    /// Query stored flows with nfdump filters, top-N statistics and aggregation.
    Query(query::Args),
    /// List, add and delete profiles and their channels.
    Profile(profile::Args),
    /// Run the collector and the web report.
    Serve(serve::Args),
    /// Collector + web report + generator feeding it, with backfilled history.
    Demo(demo::Args),
    /// Store a pcap of export traffic as if it had been received.
    Ingest(ingest::Args),
    /// Show sources, exporters, rates, drops and storage of a running or stopped collector.
    Status(status::Args),
    /// ClickHouse export: create the schema (`wvnr export init-schema`).
    Export(crate::export::cli::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Decode(args) => decode::run(args),
        Command::Gen(args) => gen::run(args),
        Command::Query(args) => query::run(args),
        Command::Profile(args) => profile::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Status(args) => status::run(args),
        Command::Export(args) => crate::export::cli::run(args),
    }
}
