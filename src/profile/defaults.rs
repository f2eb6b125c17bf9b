//! The default `live` profile: the well-known-port channels NfSen users keep.

use super::{Channel, Profile, Sign, LIVE};

/// (name, filter, colour): each channel its own colour, neighbours easy to tell apart.
const CHANNELS: [(&str, &str, &str); 21] = [
    ("icmp", "proto icmp or proto icmp6", "#4E79A7"),
    ("chargen", "port 19", "#F28E2B"),
    ("ftp", "port 21", "#E15759"),
    ("ssh", "port 22", "#76B7B2"),
    ("telnet", "port 23", "#59A14F"),
    ("dns", "port 53", "#EDC948"),
    ("http", "port 80", "#B07AA1"),
    ("pop3", "port 110", "#FF9DA7"),
    ("ntp", "port 123", "#9C755F"),
    ("loc-srv", "port 135", "#BAB0AC"),
    ("netbios-ns", "port 137", "#1F77B4"),
    ("snmp", "port 161", "#FF7F0E"),
    ("https", "port 443", "#2CA02C"),
    ("microsoft-ds", "port 445", "#D62728"),
    ("ms-sql-s", "port 1433", "#9467BD"),
    ("mysql", "port 3306", "#8C564B"),
    ("rdp", "port 3389", "#E377C2"),
    ("sip", "port 5060", "#17BECF"),
    ("p2p", "port 6681", "#BCBD22"),
    ("bittorrent", "port 6682", "#AEC7E8"),
    ("http-alt", "port 8080", "#FFBB78"),
];

pub(super) fn live_profile() -> Profile {
    Profile {
        name: LIVE.to_string(),
        description: "Well-known services (the NfSen default channels)".into(),
        channels: CHANNELS
            .iter()
            .enumerate()
            .map(|(i, &(name, filter, colour))| Channel {
                name: name.into(),
                filter: filter.into(),
                colour: colour.into(),
                sign: Sign::Plus,
                order: i as u32,
            })
            .collect(),
    }
}
