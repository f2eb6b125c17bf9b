//! wvnr — Webview Netflow Reporter: a NetFlow v5/v9, IPFIX and sFlow v5
//! collector with embedded storage, an nfdump-compatible query engine and a
//! web report. See docs/architecture.md for the data path.

pub mod aggregate;
pub mod channels;
pub mod cli;
pub mod collector;
pub mod config;
pub mod decode;
pub mod export;
pub mod filter;
pub mod flow;
pub mod gen;
pub mod ingest;
pub mod live;
pub mod merge;
pub mod pcap;
pub mod pipeline;
pub mod prefetch;
pub mod profile;
pub mod query;
pub mod rollup;
pub mod sources;
pub mod store;
pub mod web;
pub mod wire;
pub mod worker;
