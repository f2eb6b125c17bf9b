//! Parsing of the values inside primitives: numbers with nfdump's scale
//! suffixes, protocol names, TCP flag letters, addresses and networks.

use std::net::IpAddr;

use super::predicate::Net;

/// A decimal (or `0x` hex) number, optionally scaled by `k`, `m`, `g` or `t`
/// (×1000 each step, as nfdump). None when the text is not such a number or overflows.
pub(crate) fn parse_number(text: &str, allow_scale: bool) -> Option<u64> {
    let (digits, scale) = match text.as_bytes().last()? {
        b'k' | b'K' if allow_scale => (&text[..text.len() - 1], 1_000u64),
        b'm' | b'M' if allow_scale => (&text[..text.len() - 1], 1_000_000),
        b'g' | b'G' if allow_scale => (&text[..text.len() - 1], 1_000_000_000),
        b't' | b'T' if allow_scale => (&text[..text.len() - 1], 1_000_000_000_000),
        _ => (text, 1),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()?
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u64>().ok()?
    };
    value.checked_mul(scale)
}

/// IP protocol by name (case-insensitive) or number.
pub(crate) fn protocol_by_name(name: &str) -> Option<u8> {
    const NAMES: &[(&str, u8)] = &[
        ("icmp", 1),
        ("igmp", 2),
        ("ggp", 3),
        ("ipip", 4),
        ("ipencap", 4),
        ("st", 5),
        ("tcp", 6),
        ("egp", 8),
        ("igp", 9),
        ("pup", 12),
        ("udp", 17),
        ("idp", 22),
        ("rdp", 27),
        ("dccp", 33),
        ("ipv6", 41),
        ("rsvp", 46),
        ("gre", 47),
        ("esp", 50),
        ("ah", 51),
        ("icmp6", 58),
        ("ipv6-icmp", 58),
        ("eigrp", 88),
        ("ospf", 89),
        ("etherip", 97),
        ("encap", 98),
        ("pim", 103),
        ("ipcomp", 108),
        ("vrrp", 112),
        ("l2tp", 115),
        ("isis", 124),
        ("sctp", 132),
        ("udplite", 136),
        ("mpls-in-ip", 137),
    ];
    NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|&(_, p)| p)
}

/// TCP flag letters as nfdump spells them (upper case): A S P R F U, X = all.
pub(crate) fn parse_flag_letters(text: &str) -> Option<u8> {
    let mut mask = 0u8;
    for c in text.chars() {
        mask |= match c {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'X' => 0x3F,
            _ => return None,
        };
    }
    (!text.is_empty()).then_some(mask)
}

/// Why a network did not parse.
pub(crate) enum NetError {
    NotAnAddress,
    TooManyBits { max: u32 },
}

/// `A/N` as a network (host bits cleared). `N` may not exceed the family's width.
pub(crate) fn parse_cidr(text: &str) -> Result<Net, NetError> {
    let (addr, bits) = text.split_once('/').ok_or(NetError::NotAnAddress)?;
    let addr: IpAddr = addr.parse().map_err(|_| NetError::NotAnAddress)?;
    let max = if addr.is_ipv6() { 128 } else { 32 };
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) || bits.len() > 3 {
        return Err(NetError::NotAnAddress);
    }
    let bits: u32 = bits.parse().map_err(|_| NetError::NotAnAddress)?;
    if bits > max {
        return Err(NetError::TooManyBits { max });
    }
    Ok(Net::new(addr, Net::prefix_mask(addr.is_ipv6(), bits)))
}

/// A single address as a full-length network.
pub(crate) fn parse_host(text: &str) -> Option<Net> {
    let addr: IpAddr = text.parse().ok()?;
    Some(Net::new(addr, Net::prefix_mask(addr.is_ipv6(), if addr.is_ipv6() { 128 } else { 32 })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_scales() {
        assert_eq!(parse_number("42", true), Some(42));
        assert_eq!(parse_number("1k", true), Some(1000));
        assert_eq!(parse_number("2M", true), Some(2_000_000));
        assert_eq!(parse_number("3g", true), Some(3_000_000_000));
        assert_eq!(parse_number("0x12", false), Some(18));
        assert_eq!(parse_number("1k", false), None);
        assert_eq!(parse_number("k", true), None);
        assert_eq!(parse_number("abc", true), None);
        assert_eq!(parse_number("99999999999999999999", true), None);
        assert_eq!(parse_number("20000000t", true), None);
    }

    #[test]
    fn flags_and_protocols() {
        assert_eq!(parse_flag_letters("SA"), Some(0x12));
        assert_eq!(parse_flag_letters("X"), Some(0x3F));
        assert_eq!(parse_flag_letters("s"), None);
        assert_eq!(protocol_by_name("TCP"), Some(6));
        assert_eq!(protocol_by_name("icmp6"), Some(58));
        assert_eq!(protocol_by_name("nope"), None);
    }

    #[test]
    fn networks() {
        let n = parse_cidr("10.1.2.3/8").ok().unwrap();
        assert_eq!((n.bits, n.mask), (0x0A00_0000, 0xFF00_0000));
        assert!(matches!(parse_cidr("10.0.0.0/33"), Err(NetError::TooManyBits { max: 32 })));
        assert!(parse_cidr("2001:db8::/32").is_ok());
        assert!(matches!(parse_cidr("foo/8"), Err(NetError::NotAnAddress)));
        assert!(parse_host("::1").is_some());
        assert!(parse_host("1.2.3").is_none());
    }
}
