//! Group keys: what `-s FIELD` and `-A KEYS` group flows by, extracted without allocation
//! (a fixed-size `GroupKey`) and rendered to text only for the rows that are printed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{bail, Result};

use crate::flow::Flow;

use super::{AggField, StatField};

/// A fixed-size key: up to 5 address slots and 6 number slots, filled by position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub addr: [u128; 3],
    /// Bit i set: addr[i] is IPv6.
    pub v6: u8,
    pub num: [u32; 6],
}

#[inline]
fn addr_bits(a: &IpAddr) -> (u128, bool) {
    match a {
        IpAddr::V4(v) => (u128::from(u32::from(*v)), false),
        IpAddr::V6(v) => (u128::from(*v), true),
    }
}

#[inline]
fn masked(a: &IpAddr, v4_mask: u8, v6_mask: u8) -> (u128, bool) {
    let (bits, v6) = addr_bits(a);
    let (width, mask) = if v6 { (128u32, v6_mask) } else { (32, v4_mask) };
    let keep = u32::from(mask).min(width);
    if keep == width {
        return (bits, v6);
    }
    let drop = width - keep;
    // Shifting by 128 overflows, so keep == 0 is handled apart.
    let m = if keep == 0 { 0 } else { (u128::MAX >> drop) << drop };
    (bits & m & if v6 { u128::MAX } else { u128::from(u32::MAX) }, v6)
}

#[inline]
fn set_addr(k: &mut GroupKey, slot: usize, (bits, v6): (u128, bool)) {
    k.addr[slot] = bits;
    if v6 {
        k.v6 |= 1 << slot;
    }
}

/// Calls `emit` once per key the flow counts for: twice for the two-sided fields
/// (`ip`, `port`, `if`, `as`: nfdump counts a flow for its source and its destination).
#[inline]
pub fn stat_keys(field: StatField, f: &Flow, mut emit: impl FnMut(GroupKey)) {
    let mut k = GroupKey::default();
    let num = |v: u32| GroupKey { num: [v, 0, 0, 0, 0, 0], ..GroupKey::default() };
    let addr = |a: &IpAddr| {
        let mut k = GroupKey::default();
        set_addr(&mut k, 0, addr_bits(a));
        k
    };
    match field {
        StatField::SrcIp => emit(addr(&f.src_addr)),
        StatField::DstIp => emit(addr(&f.dst_addr)),
        StatField::Ip => {
            emit(addr(&f.src_addr));
            emit(addr(&f.dst_addr));
        }
        StatField::Exporter => emit(addr(&f.exporter)),
        StatField::SrcPort => emit(num(f.src_port.into())),
        StatField::DstPort => emit(num(f.dst_port.into())),
        StatField::Port => {
            emit(num(f.src_port.into()));
            emit(num(f.dst_port.into()));
        }
        StatField::Proto => emit(num(f.protocol.into())),
        StatField::SrcAs => emit(num(f.src_as)),
        StatField::DstAs => emit(num(f.dst_as)),
        StatField::As => {
            emit(num(f.src_as));
            emit(num(f.dst_as));
        }
        StatField::InIf => emit(num(f.in_if)),
        StatField::OutIf => emit(num(f.out_if)),
        StatField::If => {
            emit(num(f.in_if));
            emit(num(f.out_if));
        }
        StatField::Record => {
            set_addr(&mut k, 0, addr_bits(&f.src_addr));
            set_addr(&mut k, 1, addr_bits(&f.dst_addr));
            k.num = [f.protocol.into(), f.src_port.into(), f.dst_port.into(), 0, 0, 0];
            emit(k)
        }
    }
}

/// The key of `f` under an `-A` aggregation (fields in order fill the slots in order).
#[inline]
pub fn agg_key(fields: &[AggField], f: &Flow) -> GroupKey {
    let mut k = GroupKey::default();
    let (mut a, mut n) = (0usize, 0usize);
    for field in fields {
        match *field {
            AggField::SrcIp { v4_mask, v6_mask } => {
                set_addr(&mut k, a, masked(&f.src_addr, v4_mask, v6_mask));
                a += 1;
            }
            AggField::DstIp { v4_mask, v6_mask } => {
                set_addr(&mut k, a, masked(&f.dst_addr, v4_mask, v6_mask));
                a += 1;
            }
            AggField::Exporter => {
                set_addr(&mut k, a, addr_bits(&f.exporter));
                a += 1;
            }
            _ => {
                k.num[n] = agg_num(*field, f);
                n += 1;
            }
        }
    }
    k
}

#[inline]
fn agg_num(field: AggField, f: &Flow) -> u32 {
    match field {
        AggField::SrcPort => f.src_port.into(),
        AggField::DstPort => f.dst_port.into(),
        AggField::Proto => f.protocol.into(),
        AggField::SrcAs => f.src_as,
        AggField::DstAs => f.dst_as,
        AggField::InIf => f.in_if,
        AggField::OutIf => f.out_if,
        AggField::SrcIp { .. } | AggField::DstIp { .. } | AggField::Exporter => 0,
    }
}

fn addr_text(k: &GroupKey, slot: usize) -> String {
    if k.v6 & (1 << slot) != 0 {
        Ipv6Addr::from(k.addr[slot]).to_string()
    } else {
        Ipv4Addr::from(k.addr[slot] as u32).to_string()
    }
}

/// Protocol name as nfdump prints it (TCP, UDP, ICMP...), the number otherwise.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        2 => "IGMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        41 => "IPv6".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        51 => "AH".into(),
        58 => "ICMP6".into(),
        89 => "OSPF".into(),
        132 => "SCTP".into(),
        _ => p.to_string(),
    }
}

/// The printed value of a stat key (the `val` column).
pub fn stat_key_text(field: StatField, k: &GroupKey) -> String {
    match field {
        StatField::SrcIp | StatField::DstIp | StatField::Ip | StatField::Exporter => addr_text(k, 0),
        StatField::Record => {
            let (s, d) = (addr_text(k, 0), addr_text(k, 1));
            let (sp, dp) = (k.num[1], k.num[2]);
            let join =
                |a: &str, p: u32| if a.contains(':') { format!("[{a}]:{p}") } else { format!("{a}:{p}") };
            format!("{} {} -> {}", proto_name(k.num[0] as u8), join(&s, sp), join(&d, dp))
        }
        _ => k.num[0].to_string(),
    }
}

/// The printed values of an aggregation key, one per field.
pub fn agg_key_parts(fields: &[AggField], k: &GroupKey) -> Vec<String> {
    let (mut a, mut n) = (0usize, 0usize);
    fields
        .iter()
        .map(|field| match field {
            AggField::SrcIp { .. } | AggField::DstIp { .. } | AggField::Exporter => {
                a += 1;
                addr_text(k, a - 1)
            }
            AggField::Proto => {
                n += 1;
                proto_name(k.num[n - 1] as u8)
            }
            _ => {
                n += 1;
                k.num[n - 1].to_string()
            }
        })
        .collect()
}

/// Parses `-A srcip4/24,dstport,proto` (nfdump's aggregation keys).
pub fn parse_aggregate(s: &str) -> Result<Vec<AggField>> {
    let mut out: Vec<AggField> = Vec::new();
    for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let (name, mask) = match word.split_once('/') {
            Some((n, m)) => match m.parse::<u8>() {
                Ok(m) => (n, Some(m)),
                Err(_) => bail!("bad aggregation mask in {word:?}: expected a prefix length like srcip4/24"),
            },
            None => (word, None),
        };
        let ip = |v4: Option<u8>, v6: Option<u8>| -> Result<(u8, u8)> {
            if v4.is_some_and(|m| m > 32) || v6.is_some_and(|m| m > 128) {
                bail!("bad aggregation mask in {word:?}: at most /32 for IPv4, /128 for IPv6");
            }
            Ok((v4.unwrap_or(32), v6.unwrap_or(128)))
        };
        let field = match name.to_ascii_lowercase().as_str() {
            "srcip" | "dstip" if mask.is_some() => {
                bail!("{word:?}: say srcip4/N or srcip6/N (nfdump's spelling) for a masked address")
            }
            "srcip" | "srcip4" | "srcip6" | "dstip" | "dstip4" | "dstip6" => {
                let lower = name.to_ascii_lowercase();
                let (v4, v6) = if lower.ends_with('4') {
                    ip(mask, None)?
                } else if lower.ends_with('6') {
                    ip(None, mask)?
                } else {
                    ip(None, None)?
                };
                let src = lower.starts_with("src");
                // srcip4/24,srcip6/64 together: one key with both masks.
                if let Some(prev) = out.iter_mut().find(|f| {
                    matches!((f, src), (AggField::SrcIp { .. }, true) | (AggField::DstIp { .. }, false))
                }) {
                    match prev {
                        AggField::SrcIp { v4_mask, v6_mask } | AggField::DstIp { v4_mask, v6_mask } => {
                            if lower.ends_with('4') {
                                *v4_mask = v4;
                            } else if lower.ends_with('6') {
                                *v6_mask = v6;
                            }
                        }
                        _ => unreachable!("matched above"),
                    }
                    continue;
                }
                if src {
                    AggField::SrcIp { v4_mask: v4, v6_mask: v6 }
                } else {
                    AggField::DstIp { v4_mask: v4, v6_mask: v6 }
                }
            }
            _ if mask.is_some() => bail!("{word:?}: only srcip4/6 and dstip4/6 take a mask"),
            "srcport" => AggField::SrcPort,
            "dstport" => AggField::DstPort,
            "proto" => AggField::Proto,
            "srcas" => AggField::SrcAs,
            "dstas" => AggField::DstAs,
            "inif" => AggField::InIf,
            "outif" => AggField::OutIf,
            "exporter" | "router" => AggField::Exporter,
            _ => bail!(
                "unknown aggregation key {word:?}: use srcip, dstip, srcip4/N, dstip6/N, srcport, dstport, \
                 proto, srcas, dstas, inif, outif, exporter"
            ),
        };
        if out.contains(&field) {
            bail!("aggregation key {word:?} given twice");
        }
        out.push(field);
    }
    if out.is_empty() {
        bail!("-A needs at least one key, e.g. -A srcip,dstport");
    }
    let addrs = out
        .iter()
        .filter(|f| matches!(f, AggField::SrcIp { .. } | AggField::DstIp { .. } | AggField::Exporter))
        .count();
    if addrs > 3 || out.len() - addrs > 6 {
        bail!("too many aggregation keys");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_parsing() {
        let a: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(masked(&a, 24, 128).0, u128::from(0x0a01_0200u32));
        assert_eq!(masked(&a, 0, 128).0, 0);
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(Ipv6Addr::from(masked(&b, 24, 32).0).to_string(), "2001:db8::");
        let f = parse_aggregate("srcip4/24,srcip6/64,dstport").unwrap();
        assert_eq!(f, vec![AggField::SrcIp { v4_mask: 24, v6_mask: 64 }, AggField::DstPort]);
        assert!(parse_aggregate("srcip4/33").is_err());
        assert!(parse_aggregate("bogus").is_err());
        assert!(parse_aggregate("dstport/3").is_err());
        assert!(parse_aggregate("").is_err());
    }
}
