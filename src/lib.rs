//! wvnr — Webview Netflow Reporter: a NetFlow v5/v9, IPFIX and sFlow v5
//! collector with embedded storage, an nfdump-compatible query engine and a
//! web report. See docs/architecture.md for the data path.

pub mod cli;
pub mod decode;
pub mod flow;
pub mod pcap;
pub mod wire;
