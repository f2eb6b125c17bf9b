//! `wvnr gen`, the bundled flow generator: realistic traffic encoded by the
//! wire layer's encoders (`crate::wire::encoder`), sent with `sendmmsg` from
//! many exporter addresses at an exact rate, or written to a capture, or
//! backfilled straight into a data directory; it reports exactly what it sent.
//!
//! # Library API (what `wvnr demo` and the tests call)
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use wvnr::gen::{GenConfig, Generator, Rate};
//! use wvnr::flow::FlowSource;
//!
//! let cfg = GenConfig {
//!     target: "127.0.0.1:2055".parse().unwrap(),
//!     protocol: FlowSource::NetflowV9,
//!     rate: Some(Rate::Flows(5_000.0)),
//!     exporters: 3,
//!     ..GenConfig::default()
//! };
//! let stop = AtomicBool::new(false); // set it from another thread to stop
//! let totals = Generator::new(cfg)?.run(&stop, |t| eprintln!("{}", t.progress_line()))?;
//! println!("{}", serde_json::to_string(&totals)?);
//! # anyhow::Ok(())
//! ```
//!
//! - [`GenConfig`]: what to send (validated by [`GenConfig::validate`]: loopback
//!   only unless `allow_remote`, v5 carries no IPv6, ...).
//! - [`Generator::new`] binds one UDP socket per exporter (127.0.0.2, 127.0.0.3,
//!   ...) or creates the capture; [`Generator::run`] sends until the count, the
//!   duration or `stop`, calling `progress` about once a second, and returns the
//!   exact [`Totals`] (sampling-corrected packets and bytes, per exporter).
//! - [`traffic::Traffic`]: the flow model alone (scenarios mix, scan, ddos, steady).
//! - [`backfill::backfill`] / [`backfill::BackfillFlows`]: past traffic over a
//!   window with a daily curve, written through `crate::store::FlowWriter`.
//!
//! # Determinism
//! With a seed, the flows are a function of the seed and the export clock. A
//! capture (`pcap`) uses a virtual export clock starting at `start_ms` (default
//! 2026-01-01T00:00:00Z when seeded) and advancing by 1/rate per datagram, so
//! two captures with the same settings are byte-identical.

pub mod backfill;
mod generator;
pub mod hugepages;
pub mod pace;
pub mod pool;
pub mod replay;
pub mod rng;
pub mod send;
pub mod services;
pub mod totals;
pub mod traffic;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::flow::{Flow, FlowSource};

pub use generator::Generator;
pub use totals::{ExporterTotals, Totals};
pub use traffic::{Scenario, Traffic, TrafficConfig};

/// How fast to send.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Datagrams per second, over all exporters together.
    Datagrams(f64),
    /// Flow records per second, over all exporters together.
    Flows(f64),
}

/// Most exporters one run simulates (one socket each).
pub const MAX_EXPORTERS: u32 = 4096;
/// Export clock start of a seeded capture when none is given: 2026-01-01T00:00:00Z.
pub const DEFAULT_SEEDED_START_MS: u64 = 1_767_225_600_000;
/// Default size of the replayed flow pool (about 40 MB of flows).
pub const DEFAULT_POOL_FLOWS: usize = 262_144;
/// Datagrams per second the virtual clock of an unpaced capture assumes.
pub const NOMINAL_CAPTURE_RATE: f64 = 1_000.0;

#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Where the datagrams go (also the destination written into a capture).
    pub target: SocketAddr,
    pub protocol: FlowSource,
    /// None: as fast as the kernel takes them (captures: no pacing).
    pub rate: Option<Rate>,
    /// Stop after this many datagrams.
    pub count: Option<u64>,
    /// Stop after this long (of the export clock, for captures).
    pub duration: Option<Duration>,
    /// Simulated exporters, each with its own address, sequence numbers and templates.
    pub exporters: u32,
    /// v9/IPFIX: templates (and sampler options) every this many datagrams per exporter.
    pub template_every: u32,
    /// Sampling interval the exporters announce (1 = unsampled).
    pub sampling: u32,
    /// Share of IPv6 flows, 0.0–1.0.
    pub ipv6_fraction: f64,
    /// Same seed, same flows (and, for captures, the same bytes). None: seeded from the clock.
    pub seed: Option<u64>,
    pub scenario: Scenario,
    /// Write the datagrams to this capture instead of sending them.
    pub pcap: Option<PathBuf>,
    /// Pace a capture at `rate` too (by default a capture is written as fast as possible).
    pub pace_capture: bool,
    /// Export clock start for a capture, UTC ms (default: see the module docs).
    pub start_ms: Option<u64>,
    /// Allow a target outside 127.0.0.0/8 and ::1.
    pub allow_remote: bool,
    /// Datagrams per `sendmmsg` call (at most `send::MAX_BATCH`).
    pub batch: usize,
    /// Hand runs of equal-sized datagrams to the kernel as one UDP GSO message
    /// (see `send`); the receiver sees the same datagrams either way.
    pub gso: bool,
    /// How often `run` calls its progress callback.
    pub progress_every: Duration,
    /// Pre-drawn flows replayed with fresh times and client ports, over all
    /// exporters (at least 256 each); 0 draws every flow fresh from the model
    /// (endless variety, but the model then limits the speed).
    pub pool_flows: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            target: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2055),
            protocol: FlowSource::NetflowV9,
            rate: None,
            count: None,
            duration: None,
            exporters: 1,
            template_every: 20,
            sampling: 1,
            ipv6_fraction: 0.0,
            seed: None,
            scenario: Scenario::Mix,
            pcap: None,
            pace_capture: false,
            start_ms: None,
            allow_remote: false,
            batch: 32,
            gso: true,
            progress_every: Duration::from_secs(1),
            pool_flows: DEFAULT_POOL_FLOWS,
        }
    }
}

impl GenConfig {
    /// Checks the settings; every error is one line a person can act on.
    pub fn validate(&self) -> Result<()> {
        if self.pcap.is_none() {
            check_target(self.target, self.allow_remote)?;
        }
        if self.exporters == 0 || self.exporters > MAX_EXPORTERS {
            bail!("--exporters must be between 1 and {MAX_EXPORTERS} (got {})", self.exporters);
        }
        if self.sampling == 0 {
            bail!("--sampling must be at least 1 (1 = unsampled)");
        }
        if !(0.0..=1.0).contains(&self.ipv6_fraction) {
            bail!("--ipv6 is a fraction between 0 and 1 (got {})", self.ipv6_fraction);
        }
        if self.protocol == FlowSource::NetflowV5 && self.ipv6_fraction > 0.0 {
            bail!("NetFlow v5 carries IPv4 only: use --ipv6 0 with --protocol v5");
        }
        if let Some(Rate::Datagrams(r) | Rate::Flows(r)) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                bail!("the rate must be a positive number (got {r})");
            }
        }
        if self.batch == 0 || self.batch > send::MAX_BATCH {
            bail!("the batch size must be between 1 and {}", send::MAX_BATCH);
        }
        if self.template_every == 0 {
            bail!("--template-every must be at least 1");
        }
        Ok(())
    }

    /// The effective seed (the configured one, or one from the clock).
    pub fn seed_or_clock(&self) -> u64 {
        self.seed.unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            now.as_nanos() as u64 ^ (std::process::id() as u64) << 32
        })
    }

    /// The source address of exporter `i`: 127.0.0.2, 127.0.0.3, ... for an IPv4
    /// loopback target; ::1 for ::1 (one address: exporters differ by port and
    /// domain); the unspecified address for a remote target.
    pub fn exporter_ip(&self, i: u32) -> IpAddr {
        match self.target.ip() {
            IpAddr::V4(t) if t.is_loopback() => {
                IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + i))
            }
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(t) if t.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }
}

/// Load generators send only to loopback unless told otherwise.
pub fn check_target(target: SocketAddr, allow_remote: bool) -> Result<()> {
    if target.ip().is_loopback() || allow_remote {
        return Ok(());
    }
    bail!(
        "refusing to send to {target}: the generator sends only to loopback (127.0.0.0/8 or ::1) \
         unless --allow-remote is given"
    )
}

/// The command-line name of a protocol.
pub fn protocol_name(p: FlowSource) -> &'static str {
    match p {
        FlowSource::NetflowV5 => "v5",
        FlowSource::NetflowV9 => "v9",
        FlowSource::Ipfix => "ipfix",
        FlowSource::Sflow => "sflow",
    }
}

/// Parses "v5", "v9", "ipfix" (or "v10"), "sflow".
pub fn parse_protocol(s: &str) -> Result<FlowSource> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "v5" | "5" | "netflow-v5" => FlowSource::NetflowV5,
        "v9" | "9" | "netflow-v9" => FlowSource::NetflowV9,
        "ipfix" | "v10" | "10" => FlowSource::Ipfix,
        "sflow" | "sflow5" => FlowSource::Sflow,
        _ => bail!("unknown protocol {s:?}: use v5, v9, ipfix or sflow"),
    })
}

/// The flow as the protocol carries it: sFlow exports one sampled packet per
/// flow, so its packets and bytes are what that sample stands for; the other
/// protocols carry the flow as it is.
pub fn as_carried(protocol: FlowSource, flow: Flow, sampling: u32) -> Flow {
    match protocol {
        FlowSource::Sflow => crate::wire::sflow::as_sampled(&flow, sampling),
        _ => flow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_unless_allowed() {
        assert!(check_target("127.0.0.1:2055".parse().unwrap(), false).is_ok());
        assert!(check_target("127.9.8.7:2055".parse().unwrap(), false).is_ok());
        assert!(check_target("[::1]:2055".parse().unwrap(), false).is_ok());
        let err = check_target("192.0.2.1:2055".parse().unwrap(), false).unwrap_err().to_string();
        assert!(err.contains("loopback") && err.contains("--allow-remote"), "{err}");
        assert!(check_target("[2001:db8::1]:2055".parse().unwrap(), false).is_err());
        assert!(check_target("192.0.2.1:2055".parse().unwrap(), true).is_ok());
    }

    #[test]
    fn validate_rejects_bad_settings() {
        let ok = GenConfig::default();
        assert!(ok.validate().is_ok());
        let v5_v6 = GenConfig { protocol: FlowSource::NetflowV5, ipv6_fraction: 0.1, ..GenConfig::default() };
        assert!(v5_v6.validate().unwrap_err().to_string().contains("IPv4 only"));
        assert!(GenConfig { exporters: 0, ..GenConfig::default() }.validate().is_err());
        assert!(GenConfig { sampling: 0, ..GenConfig::default() }.validate().is_err());
        assert!(GenConfig { rate: Some(Rate::Flows(-1.0)), ..GenConfig::default() }.validate().is_err());
        let remote: SocketAddr = "192.0.2.1:2055".parse().unwrap();
        assert!(GenConfig { target: remote, ..GenConfig::default() }.validate().is_err());
        let capture = GenConfig { target: remote, pcap: Some("x.pcap".into()), ..GenConfig::default() };
        assert!(capture.validate().is_ok(), "a capture sends nothing");
    }

    #[test]
    fn exporter_addresses_count_up_from_127_0_0_2() {
        let cfg = GenConfig::default();
        assert_eq!(cfg.exporter_ip(0).to_string(), "127.0.0.2");
        assert_eq!(cfg.exporter_ip(300).to_string(), "127.0.1.46");
        let v6 = GenConfig { target: "[::1]:6343".parse().unwrap(), ..GenConfig::default() };
        assert_eq!(v6.exporter_ip(5).to_string(), "::1");
    }

    #[test]
    fn protocol_names_round_trip() {
        for p in [FlowSource::NetflowV5, FlowSource::NetflowV9, FlowSource::Ipfix, FlowSource::Sflow] {
            assert_eq!(parse_protocol(protocol_name(p)).unwrap(), p);
        }
        assert!(parse_protocol("v7").is_err());
    }
}
