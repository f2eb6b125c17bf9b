//! The service mix of `--scenario mix`: which protocol and port a flow uses,
//! how often, and how big its packets and flows tend to be. Weights are flow
//! counts at a typical enterprise edge (web and DNS dominate; the NfSen
//! well-known-port channels from DESIGN.md all appear).

use crate::flow::proto;

/// How a service's flow sizes are distributed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Request/response: mostly 1–2 packets (DNS, NTP, SNMP).
    Transaction,
    /// Interactive sessions: tens to hundreds of packets (SSH, RDP, SIP, databases).
    Session,
    /// Transfers: heavy-tailed, a few flows carry most bytes (web, file sharing).
    Bulk,
}

#[derive(Clone, Copy, Debug)]
pub struct Service {
    pub name: &'static str,
    pub protocol: u8,
    pub port: u16,
    /// Relative share of flows.
    pub weight: u32,
    pub shape: Shape,
    /// Median packet size (layer 3 bytes) client → server.
    pub request_size: u16,
    /// Median packet size server → client.
    pub response_size: u16,
}

const fn svc(
    name: &'static str,
    protocol: u8,
    port: u16,
    weight: u32,
    shape: Shape,
    request_size: u16,
    response_size: u16,
) -> Service {
    Service { name, protocol, port, weight, shape, request_size, response_size }
}

use proto::{ICMP, TCP, UDP};
use Shape::{Bulk, Session, Transaction};

/// The mix. ICMP is one entry here; its type/code is chosen separately.
pub const SERVICES: &[Service] = &[
    svc("https", TCP, 443, 300, Bulk, 120, 1100),
    svc("quic", UDP, 443, 70, Bulk, 200, 1250),
    svc("http", TCP, 80, 90, Bulk, 110, 1000),
    svc("dns", UDP, 53, 160, Transaction, 75, 180),
    svc("ntp", UDP, 123, 25, Transaction, 76, 76),
    svc("ssh", TCP, 22, 15, Session, 110, 160),
    svc("smtp", TCP, 25, 10, Bulk, 600, 90),
    svc("imaps", TCP, 993, 10, Session, 150, 700),
    svc("microsoft-ds", TCP, 445, 12, Bulk, 300, 1200),
    svc("netbios-ns", UDP, 137, 8, Transaction, 78, 90),
    svc("loc-srv", TCP, 135, 5, Session, 150, 200),
    svc("snmp", UDP, 161, 10, Transaction, 90, 300),
    svc("rdp", TCP, 3389, 6, Session, 120, 900),
    svc("mysql", TCP, 3306, 6, Session, 200, 800),
    svc("ms-sql-s", TCP, 1433, 4, Session, 250, 900),
    svc("sip", UDP, 5060, 6, Session, 500, 450),
    svc("http-alt", TCP, 8080, 12, Bulk, 120, 1000),
    svc("pop3", TCP, 110, 3, Session, 80, 600),
    svc("ftp", TCP, 21, 3, Session, 70, 90),
    svc("telnet", TCP, 23, 2, Session, 60, 90),
    svc("chargen", UDP, 19, 1, Transaction, 60, 1000),
    svc("p2p", TCP, 6681, 4, Bulk, 200, 1200),
    svc("bittorrent", TCP, 6682, 6, Bulk, 400, 1300),
    svc("icmp", ICMP, 0, 25, Transaction, 84, 84),
];

/// Flow weights of `SERVICES`, in the same order (for `Dice::weighted`).
pub fn weights() -> Vec<u32> {
    SERVICES.iter().map(|s| s.weight).collect()
}

/// ICMP (type, code) with weights: echo request/reply dominate, then unreachables.
pub const ICMP_TYPES: &[(u8, u8, u32)] =
    &[(8, 0, 35), (0, 0, 35), (3, 3, 12), (3, 1, 5), (3, 13, 5), (11, 0, 8)];

/// ICMPv6 (type, code) with weights: echo, neighbour discovery, unreachables.
pub const ICMPV6_TYPES: &[(u8, u8, u32)] =
    &[(128, 0, 30), (129, 0, 30), (135, 0, 15), (136, 0, 15), (1, 4, 6), (3, 0, 4)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nfsen_channel_port_is_in_the_mix() {
        for port in [19u16, 21, 22, 23, 53, 80, 110, 123, 135, 137, 161, 443, 445, 1433, 3306, 3389, 5060] {
            assert!(SERVICES.iter().any(|s| s.port == port), "port {port} missing");
        }
        for port in [6681u16, 6682, 8080] {
            assert!(SERVICES.iter().any(|s| s.port == port), "port {port} missing");
        }
        assert!(SERVICES.iter().any(|s| s.protocol == ICMP));
        assert!(SERVICES.iter().all(|s| s.request_size >= 40 && s.response_size <= 1500));
    }
}
