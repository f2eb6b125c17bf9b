//! The traffic model: flows that look like a network's, per scenario.
//!
//! - `mix`: clients in 10.0.0.0/12 (and 2001:db8:10::/48) talking to servers
//!   in the documentation ranges, the service mix of `services.rs`, both
//!   directions of each conversation, heavy-tailed sizes (Pareto packet
//!   counts, log-normal packet sizes), a few heavy hitters, TCP flags that
//!   match the flow's shape, ICMP type/code in `dst_port`.
//! - `scan`: one source probing one host's ports (SYN, RST|ACK answers) over a
//!   background mix.
//! - `ddos`: spoofed random sources (private, CGNAT and benchmark ranges)
//!   flooding one target with SYNs, UDP and ICMP, over a background mix.
//! - `steady`: a fixed set of flows, repeated with fresh timestamps (totals are
//!   easy to predict).
//!
//! Packet and byte counts are multiples of the sampling interval: the encoders
//! write `packets / sampling`, and the totals must match what a collector
//! multiplies back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::rng::Dice;
use super::services::{self, Service, Shape, ICMPV6_TYPES, ICMP_TYPES, SERVICES};
use crate::flow::{proto, Flow, FlowSource};

/// What kind of traffic to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// A realistic protocol and port mix.
    Mix,
    /// One source scanning one host's ports.
    Scan,
    /// Spoofed random sources flooding one target.
    Ddos,
    /// A fixed small set of flows, repeated.
    Steady,
}

impl Scenario {
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Mix => "mix",
            Scenario::Scan => "scan",
            Scenario::Ddos => "ddos",
            Scenario::Steady => "steady",
        }
    }
}

/// Settings of one exporter's traffic.
#[derive(Clone, Debug)]
pub struct TrafficConfig {
    pub scenario: Scenario,
    /// Share of flows that are IPv6 (0.0–1.0); must be 0 for NetFlow v5.
    pub ipv6_fraction: f64,
    /// Sampling interval (1 = none); packets and bytes come out as multiples of it.
    pub sampling: u32,
    pub seed: u64,
    /// Written into `Flow::exporter`, `domain`, `source` (what a collector would see).
    pub exporter: IpAddr,
    pub domain: u32,
    pub source: FlowSource,
}

/// Largest packet count of one generated flow before sampling (an active-timeout slice).
const MAX_PACKETS: f64 = 4_000_000.0;
/// Flows longer than this are cut by the exporter's active timeout.
const ACTIVE_TIMEOUT_MS: u64 = 120_000;
/// How many flows the `steady` scenario repeats.
const STEADY_FLOWS: usize = 16;
/// Share of flows that come from a heavy hitter in `mix`.
const HEAVY_SHARE: f64 = 0.002;

/// The scan scenario's attacker and victim, the DDoS target (documentation ranges).
const SCANNER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);
const SCAN_VICTIM: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 17);
const DDOS_TARGET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// A heavy hitter: one long-lived conversation that carries a large share of the bytes.
#[derive(Clone, Copy, Debug)]
struct Heavy {
    client: IpAddr,
    server: IpAddr,
    client_port: u16,
    service: usize,
}

/// Yields flows for one exporter. Deterministic for a given config and sequence of `now_ms`.
pub struct Traffic {
    cfg: TrafficConfig,
    dice: Dice,
    weights: Vec<u32>,
    heavy: Vec<Heavy>,
    steady: Vec<Flow>,
    steady_next: usize,
    scan_count: u32,
    scan_src_port: u16,
}

impl Traffic {
    pub fn new(cfg: TrafficConfig) -> Traffic {
        let mut dice = Dice::new(cfg.seed);
        let sampling = cfg.sampling.max(1);
        let cfg = TrafficConfig { sampling, ipv6_fraction: cfg.ipv6_fraction.clamp(0.0, 1.0), ..cfg };
        let mut t = Traffic {
            weights: services::weights(),
            heavy: Vec::new(),
            steady: Vec::new(),
            steady_next: 0,
            scan_count: 0,
            scan_src_port: 40_000 + dice.below(20_000) as u16,
            cfg,
            dice,
        };
        let bulk: Vec<usize> =
            SERVICES.iter().enumerate().filter(|(_, s)| s.shape == Shape::Bulk).map(|(i, _)| i).collect();
        for _ in 0..4 {
            let v6 = t.pick_v6();
            let heavy = Heavy {
                client: t.client_addr(v6),
                server: t.server_addr(v6),
                client_port: t.ephemeral_port(),
                service: bulk[t.dice.below(bulk.len() as u32) as usize],
            };
            t.heavy.push(heavy);
        }
        if t.cfg.scenario == Scenario::Steady {
            // Built at a time far from 0 so that their durations survive; `steady_flow` re-times them.
            t.steady = (0..STEADY_FLOWS).map(|_| t.mix_flow(10 * ACTIVE_TIMEOUT_MS)).collect();
        }
        t
    }

    pub fn config(&self) -> &TrafficConfig {
        &self.cfg
    }

    /// The next flow, exported at `now_ms` (its last packet a little before that).
    pub fn next_flow(&mut self, now_ms: u64) -> Flow {
        match self.cfg.scenario {
            Scenario::Mix => self.mix_flow(now_ms),
            Scenario::Scan if self.dice.chance(0.8) => self.scan_flow(now_ms),
            Scenario::Ddos if self.dice.chance(0.8) => self.ddos_flow(now_ms),
            Scenario::Scan | Scenario::Ddos => self.mix_flow(now_ms),
            Scenario::Steady => self.steady_flow(now_ms),
        }
    }

    fn base(&self) -> Flow {
        Flow {
            exporter: self.cfg.exporter,
            domain: self.cfg.domain,
            source: self.cfg.source,
            sampling: self.cfg.sampling,
            ..Flow::EMPTY
        }
    }

    fn pick_v6(&mut self) -> bool {
        self.cfg.ipv6_fraction > 0.0 && self.dice.chance(self.cfg.ipv6_fraction)
    }

    /// A client: 10.0.0.0/12 (sixteen /16 sites), or 2001:db8:10:SITE::/64.
    fn client_addr(&mut self, v6: bool) -> IpAddr {
        let site = self.dice.below(16);
        let host = self.dice.range(2, 65_000);
        if v6 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x10, site as u16, 0, 0, 0, host as u16))
        } else {
            IpAddr::V4(Ipv4Addr::new(10, site as u8, (host >> 8) as u8, host as u8 | 1))
        }
    }

    /// A server, skewed so that a few are popular (top talkers look like top talkers).
    fn server_addr(&mut self, v6: bool) -> IpAddr {
        let rank = (self.dice.pareto(1.0, 0.9) as u32 - 1).min(767);
        if v6 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, (rank >> 8) as u16, 0, 0, 0, rank as u16 + 1))
        } else {
            let net = [[192, 0, 2], [198, 51, 100], [203, 0, 113]][(rank / 256) as usize % 3];
            IpAddr::V4(Ipv4Addr::new(net[0], net[1], net[2], (rank % 254) as u8 + 1))
        }
    }

    fn ephemeral_port(&mut self) -> u16 {
        if self.dice.chance(0.6) {
            self.dice.range(49_152, 65_535) as u16
        } else {
            self.dice.range(32_768, 60_999) as u16
        }
    }

    /// Packets before sampling, by the service's shape (heavy-tailed for bulk).
    fn packets_for(&mut self, shape: Shape) -> u64 {
        let p = match shape {
            Shape::Transaction => self.dice.pareto(1.0, 3.0),
            Shape::Session => self.dice.pareto(4.0, 1.5),
            Shape::Bulk => self.dice.pareto(2.0, 1.1),
        };
        p.min(MAX_PACKETS) as u64
    }

    /// Layer-3 bytes of `packets` packets around a median size, at least a bare header each.
    fn bytes_for(&mut self, packets: u64, median_size: u16, protocol: u8, v6: bool) -> u64 {
        let header = match (protocol, v6) {
            (proto::TCP, false) => 40,
            (proto::TCP, true) => 60,
            (_, false) => 28,
            (_, true) => 48,
        };
        let size = self.dice.lognormal(median_size as f64, 0.3).clamp(header as f64, 1500.0) as u64;
        packets * size
    }

    /// Fills the fields every flow has (times, interfaces, AS, masks, sampling) and scales counts.
    fn finish(&mut self, mut f: Flow, now_ms: u64, outbound: bool, packets: u64, bytes: u64) -> Flow {
        let s = self.cfg.sampling as u64;
        f.packets = packets.max(1) * s;
        f.bytes = bytes.max(packets.max(1) * 20) * s;
        let wanted = if packets <= 1 {
            0
        } else {
            (self.dice.lognormal(250.0 * (packets as f64).sqrt(), 1.0) as u64).min(ACTIVE_TIMEOUT_MS)
        };
        f.last_ms = now_ms.saturating_sub(self.dice.below(2_000) as u64);
        f.first_ms = f.last_ms.saturating_sub(wanted);
        f.received_ms = now_ms;
        let lan_if = 1 + self.dice.below(4);
        let wan_if = 10 + self.dice.below(2);
        (f.in_if, f.out_if) = if outbound { (lan_if, wan_if) } else { (wan_if, lan_if) };
        let (local_as, remote_as) = (64_500, 64_496 + self.dice.below(16));
        (f.src_as, f.dst_as) = if outbound { (local_as, remote_as) } else { (remote_as, local_as) };
        let v6 = f.is_ipv6();
        (f.src_mask, f.dst_mask) = match (v6, outbound) {
            (false, true) => (16, 24),
            (false, false) => (24, 16),
            (true, true) => (64, 48),
            (true, false) => (48, 64),
        };
        f.next_hop = match (v6, outbound) {
            (false, true) => IpAddr::V4(Ipv4Addr::new(10, 255, 255, 1)),
            (false, false) => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            (true, _) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0xfffe, 0, 0, 0, 1)),
        };
        f.src_vlan = if outbound { 100 + (lan_if as u16) } else { 0 };
        f.dst_vlan = if outbound { 0 } else { 100 + (lan_if as u16) };
        let router = [0x02, 0x00, 0x5e, 0x00, 0x00, wan_if as u8];
        let host = [0x02, 0x10, 0x00, 0x00, (lan_if as u8), self.dice.below(256) as u8];
        (f.src_mac, f.dst_mac) = if outbound { (host, router) } else { (router, host) };
        if f.tos == 0 && self.dice.chance(0.05) {
            f.tos = (self.dice.below(8) as u8) << 5;
        }
        if f.duration_ms() >= ACTIVE_TIMEOUT_MS && f.protocol == proto::TCP {
            // A slice of a longer connection: no SYN or FIN seen in this interval.
            f.tcp_flags = TCP_ACK | TCP_PSH;
        }
        f
    }

    fn mix_flow(&mut self, now_ms: u64) -> Flow {
        if self.dice.chance(HEAVY_SHARE) {
            return self.heavy_flow(now_ms);
        }
        let svc = SERVICES[self.dice.weighted(&self.weights)];
        let v6 = self.pick_v6();
        let (client, server) = (self.client_addr(v6), self.server_addr(v6));
        if svc.protocol == proto::ICMP {
            return self.icmp_flow(now_ms, client, server, v6);
        }
        let client_port = self.ephemeral_port();
        let outbound = self.dice.chance(0.5);
        let packets = self.packets_for(svc.shape);
        self.conversation(now_ms, &svc, client, server, client_port, outbound, packets)
    }

    /// One direction of a client/server conversation.
    #[allow(clippy::too_many_arguments)]
    fn conversation(
        &mut self,
        now_ms: u64,
        svc: &Service,
        client: IpAddr,
        server: IpAddr,
        client_port: u16,
        outbound: bool,
        packets: u64,
    ) -> Flow {
        let mut f = self.base();
        f.protocol = svc.protocol;
        if outbound {
            (f.src_addr, f.dst_addr, f.src_port, f.dst_port) = (client, server, client_port, svc.port);
        } else {
            (f.src_addr, f.dst_addr, f.src_port, f.dst_port) = (server, client, svc.port, client_port);
        }
        if svc.name == "sip" {
            f.tos = 0xb8; // EF, as phones mark their signalling and media.
        }
        let size = if outbound { svc.request_size } else { svc.response_size };
        let bytes = self.bytes_for(packets, size, svc.protocol, client.is_ipv6());
        if svc.protocol == proto::TCP {
            f.tcp_flags = self.tcp_flags(packets, outbound);
        }
        self.finish(f, now_ms, outbound, packets, bytes)
    }

    /// Flags that fit a flow of `packets` packets in one direction.
    fn tcp_flags(&mut self, packets: u64, outbound: bool) -> u8 {
        match packets {
            // A lone SYN (client) or a refusal (server).
            1 if outbound => TCP_SYN,
            1 => TCP_RST | TCP_ACK,
            2..=3 => TCP_SYN | TCP_ACK | if self.dice.chance(0.5) { TCP_FIN } else { 0 },
            _ if self.dice.chance(0.04) => TCP_SYN | TCP_ACK | TCP_PSH | TCP_RST,
            _ => TCP_SYN | TCP_ACK | TCP_PSH | TCP_FIN,
        }
    }

    fn heavy_flow(&mut self, now_ms: u64) -> Flow {
        let h = self.heavy[self.dice.below(self.heavy.len() as u32) as usize];
        let svc = SERVICES[h.service];
        let packets = (self.dice.lognormal(30_000.0, 0.7) as u64).clamp(5_000, MAX_PACKETS as u64);
        // Heavy hitters are downloads: mostly the server → client direction.
        let outbound = self.dice.chance(0.2);
        let mut f = self.conversation(now_ms, &svc, h.client, h.server, h.client_port, outbound, packets);
        if f.protocol == proto::TCP {
            f.tcp_flags = TCP_ACK | TCP_PSH;
        }
        f
    }

    fn icmp_flow(&mut self, now_ms: u64, client: IpAddr, server: IpAddr, v6: bool) -> Flow {
        let table = if v6 { ICMPV6_TYPES } else { ICMP_TYPES };
        let weights: Vec<u32> = table.iter().map(|t| t.2).collect();
        let (ty, code, _) = table[self.dice.weighted(&weights)];
        let mut f = self.base();
        f.protocol = if v6 { proto::ICMPV6 } else { proto::ICMP };
        // Requests go out, replies and errors come back.
        let outbound = matches!(ty, 8 | 128 | 135);
        (f.src_addr, f.dst_addr) = if outbound { (client, server) } else { (server, client) };
        f.dst_port = (ty as u16) << 8 | code as u16;
        let packets = self.dice.pareto(1.0, 2.0).min(64.0) as u64;
        let size = if v6 { 104 } else { 84 };
        self.finish(f, now_ms, outbound, packets, packets * size)
    }

    fn scan_flow(&mut self, now_ms: u64) -> Flow {
        // 7919 is prime and does not divide 65535: the probes visit every port once per round.
        let port = (self.scan_count.wrapping_mul(7919) % 65_535) as u16 + 1;
        self.scan_count = self.scan_count.wrapping_add(1);
        let mut f = self.base();
        f.protocol = proto::TCP;
        let answered = self.dice.chance(0.15);
        if answered {
            // A closed port answers the probe with RST|ACK.
            (f.src_addr, f.dst_addr) = (IpAddr::V4(SCAN_VICTIM), IpAddr::V4(SCANNER));
            (f.src_port, f.dst_port, f.tcp_flags) = (port, self.scan_src_port, TCP_RST | TCP_ACK);
            self.finish(f, now_ms, true, 1, 40)
        } else {
            (f.src_addr, f.dst_addr) = (IpAddr::V4(SCANNER), IpAddr::V4(SCAN_VICTIM));
            (f.src_port, f.dst_port, f.tcp_flags) = (self.scan_src_port, port, TCP_SYN);
            self.finish(f, now_ms, false, 1, 44)
        }
    }

    /// A spoofed source: uniformly from 10/8, 100.64/10 and 198.18/15 (never a real host).
    fn spoofed(&mut self) -> IpAddr {
        let r = self.dice.u32();
        let a = match self.dice.below(3) {
            0 => 0x0a00_0000 | (r & 0x00ff_ffff),
            1 => 0x6440_0000 | (r & 0x003f_ffff),
            _ => 0xc612_0000 | (r & 0x0001_ffff),
        };
        IpAddr::V4(Ipv4Addr::from(a))
    }

    fn ddos_flow(&mut self, now_ms: u64) -> Flow {
        let mut f = self.base();
        f.src_addr = self.spoofed();
        f.dst_addr = IpAddr::V4(DDOS_TARGET);
        f.src_port = self.dice.range(1_024, 65_535) as u16;
        let (packets, size) = match self.dice.below(10) {
            0..=4 => {
                f.protocol = proto::TCP;
                f.dst_port = if self.dice.chance(0.5) { 80 } else { 443 };
                f.tcp_flags = TCP_SYN;
                (self.dice.range(1, 3) as u64, 60)
            }
            5..=8 => {
                f.protocol = proto::UDP;
                f.dst_port = self.dice.range(1, 65_535) as u16;
                (self.dice.pareto(2.0, 1.5).min(5_000.0) as u64, 540)
            }
            _ => {
                f.protocol = proto::ICMP;
                f.src_port = 0;
                f.dst_port = 8 << 8;
                (self.dice.range(1, 20) as u64, 1_028)
            }
        };
        self.finish(f, now_ms, false, packets, packets * size)
    }

    fn steady_flow(&mut self, now_ms: u64) -> Flow {
        let mut f = self.steady[self.steady_next];
        self.steady_next = (self.steady_next + 1) % self.steady.len();
        // Same key and counts every time; times move with the export clock.
        let duration = f.duration_ms();
        f.last_ms = now_ms.saturating_sub(500);
        f.first_ms = f.last_ms.saturating_sub(duration);
        f.received_ms = now_ms;
        f
    }
}

#[cfg(test)]
#[path = "traffic_tests.rs"]
mod tests;
