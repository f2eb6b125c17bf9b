//! The filter primitives (`proto tcp`, `src net 10.0.0.0/8`, `port > 1024`, ...):
//! each becomes a small `Node` over the flow's fields.

use super::lexer::TokenKind;
use super::parser::Parser;
use super::predicate::{AddrField, Cmp, Net, NetSet, Node, NumField, Test};
use super::values::{parse_cidr, parse_flag_letters, parse_host, parse_number, protocol_by_name, NetError};
use super::FilterError;

/// Which of the two directional fields a primitive tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Src,
    Dst,
    /// No qualifier, or `src or dst`: either field.
    Either,
    /// `src and dst`: both fields.
    Both,
}

#[derive(Clone, Copy)]
enum Side {
    Src,
    Dst,
}

/// nfdump primitives for fields wvnr flows do not carry.
const UNSUPPORTED: &[&str] = &[
    "mac",
    "mpls",
    "engine-type",
    "engine-id",
    "sysid",
    "ident",
    "count",
    "geo",
    "tunip",
    "tun",
    "bgpnext",
    "prev",
    "flowdir",
    "observation",
    "nip",
    "nport",
    "vrf",
    "ingress",
    "egress",
    "pblock",
    "payload",
    "event",
    "xevent",
    "nevent",
    "asa",
    "nat",
    "latency",
    "client",
    "server",
    "fwd",
    "fwdstatus",
    "flow",
    "xip",
    "xport",
    "dir",
    "biflow",
];

const DIRECTIONAL: &str = "'ip', 'host', 'net', 'port', 'as', 'vlan', 'mask' or 'tos'";

fn directed(dir: Dir, make: impl Fn(Side) -> Node) -> Node {
    match dir {
        Dir::Src => make(Side::Src),
        Dir::Dst => make(Side::Dst),
        Dir::Either => Node::or(make(Side::Src), make(Side::Dst)),
        Dir::Both => Node::and(make(Side::Src), make(Side::Dst)),
    }
}

fn pick<T>(side: Side, src: T, dst: T) -> T {
    match side {
        Side::Src => src,
        Side::Dst => dst,
    }
}

impl Parser<'_> {
    pub(super) fn primitive(&mut self) -> Result<Node, FilterError> {
        let kw = self.peek_keyword().expect("primitive() is called on a word");
        match kw.as_str() {
            "src" | "dst" => {
                self.advance();
                let dir = self.direction_pair(&kw);
                self.directional(dir, &kw)
            }
            "ip" | "host" | "net" | "port" | "as" | "vlan" | "mask" | "tos" => self.directional(Dir::Either, ""),
            "any" => {
                self.advance();
                Ok(Node::True)
            }
            "ipv4" | "inet" => {
                self.advance();
                Ok(Node::Test(Test::Ipv4))
            }
            "ipv6" | "inet6" => {
                self.advance();
                Ok(Node::Test(Test::Ipv6))
            }
            "proto" => {
                self.advance();
                self.proto()
            }
            "icmp-type" | "icmp-code" => {
                self.advance();
                self.icmp(kw == "icmp-type", &kw)
            }
            "icmp" => {
                self.advance();
                if self.eat_keyword("type") {
                    self.icmp(true, "icmp type")
                } else if self.eat_keyword("code") {
                    self.icmp(false, "icmp code")
                } else {
                    Err(self.expected("'type' or 'code' after 'icmp' (the protocol is 'proto icmp')"))
                }
            }
            "in" | "out" => {
                self.advance();
                self.in_out(kw == "in", &kw)
            }
            "if" => {
                self.advance();
                let n = self.plain_number("if", "an interface number", u32::MAX as u64)?;
                Ok(Node::or(
                    Node::num(NumField::InIf, Cmp::Eq, n),
                    Node::num(NumField::OutIf, Cmp::Eq, n),
                ))
            }
            "flags" => {
                self.advance();
                self.flags()
            }
            "router" => {
                self.advance();
                if !self.eat_keyword("ip") {
                    return Err(self.expected("'ip' after 'router'"));
                }
                self.address_match(AddrField::Exporter, "router ip")
            }
            "next" => {
                self.advance();
                if !self.eat_keyword("ip") {
                    return Err(self.expected("'ip' after 'next' (wvnr keeps no next-hop AS)"));
                }
                self.address_match(AddrField::NextHop, "next ip")
            }
            "nexthop" => {
                self.advance();
                self.eat_keyword("ip");
                self.address_match(AddrField::NextHop, "nexthop")
            }
            "packets" | "bytes" | "duration" | "pps" | "bps" | "bpp" => {
                self.advance();
                self.counter(&kw)
            }
            other if UNSUPPORTED.contains(&other) => Err(self.error_here(format!(
                "'{other}' is an nfdump filter primitive that wvnr does not support (its flows carry no such field)"
            ))),
            _ => Err(self.expected("a filter primitive such as 'proto', 'ip', 'net', 'port', 'flags' or 'any'")),
        }
    }

    /// After `src`/`dst`: an optional `and dst` / `or src` completing the pair.
    fn direction_pair(&mut self, first: &str) -> Dir {
        let other = if first == "src" { "dst" } else { "src" };
        let joined = match (self.peek().map(|t| &t.kind), self.peek_at(1).map(|t| &t.kind)) {
            (Some(TokenKind::And), Some(TokenKind::Word(w))) if w.eq_ignore_ascii_case(other) => {
                Some(Dir::Both)
            }
            (Some(TokenKind::Or), Some(TokenKind::Word(w))) if w.eq_ignore_ascii_case(other) => {
                Some(Dir::Either)
            }
            (Some(TokenKind::Word(j)), Some(TokenKind::Word(w))) if w.eq_ignore_ascii_case(other) => {
                match j.to_ascii_lowercase().as_str() {
                    "and" => Some(Dir::Both),
                    "or" => Some(Dir::Either),
                    _ => None,
                }
            }
            _ => None,
        };
        match joined {
            Some(dir) => {
                self.advance();
                self.advance();
                dir
            }
            None if first == "src" => Dir::Src,
            None => Dir::Dst,
        }
    }

    /// A primitive that takes a direction: `ip`, `host`, `net`, `port`, `as`, `vlan`, `mask`, `tos`.
    fn directional(&mut self, dir: Dir, qualifier: &str) -> Result<Node, FilterError> {
        let kw = match self.peek_keyword() {
            Some(k)
                if matches!(k.as_str(), "ip" | "host" | "net" | "port" | "as" | "vlan" | "mask" | "tos") =>
            {
                k
            }
            _ => return Err(self.expected(&format!("{DIRECTIONAL} after '{qualifier}'"))),
        };
        self.advance();
        let addr_field = |s: Side| pick(s, AddrField::Src, AddrField::Dst);
        match kw.as_str() {
            "ip" | "host" => {
                if self.eat_keyword("in") {
                    let set = self.address_list(&kw)?;
                    return Ok(directed(dir, |s| {
                        Node::Test(Test::AddrIn { field: addr_field(s), set: set.clone() })
                    }));
                }
                let net = self.host(&kw)?;
                Ok(directed(dir, |s| Node::Test(Test::Addr { field: addr_field(s), net })))
            }
            "net" => {
                let net = self.network()?;
                Ok(directed(dir, |s| Node::Test(Test::Addr { field: addr_field(s), net })))
            }
            "port" => {
                let field = |s| pick(s, NumField::SrcPort, NumField::DstPort);
                if self.eat_keyword("in") {
                    let sorted = self.number_list("port", "a port number", u16::MAX as u64)?;
                    return Ok(directed(dir, |s| {
                        Node::Test(Test::NumIn { field: field(s), sorted: sorted.clone() })
                    }));
                }
                let cmp = self.comparator();
                let n = self.number("port", "a port number", u16::MAX as u64, false)?;
                Ok(directed(dir, |s| Node::num(field(s), cmp, n)))
            }
            "as" => {
                let field = |s| pick(s, NumField::SrcAs, NumField::DstAs);
                if self.eat_keyword("in") {
                    let sorted = self.number_list("as", "an AS number", u32::MAX as u64)?;
                    return Ok(directed(dir, |s| {
                        Node::Test(Test::NumIn { field: field(s), sorted: sorted.clone() })
                    }));
                }
                let cmp = self.comparator();
                let n = self.number("as", "an AS number", u32::MAX as u64, false)?;
                Ok(directed(dir, |s| Node::num(field(s), cmp, n)))
            }
            "vlan" => {
                let n = self.plain_number("vlan", "a VLAN id", u16::MAX as u64)?;
                Ok(directed(dir, |s| Node::num(pick(s, NumField::SrcVlan, NumField::DstVlan), Cmp::Eq, n)))
            }
            "mask" => {
                let n = self.plain_number("mask", "a number of mask bits", 128)?;
                Ok(directed(dir, |s| Node::num(pick(s, NumField::SrcMask, NumField::DstMask), Cmp::Eq, n)))
            }
            _ => {
                // wvnr keeps one ToS byte per flow (the source/ingress one): src and dst tos both test it.
                let cmp = self.comparator();
                let n = self.number("tos", "a ToS value", 255, false)?;
                Ok(Node::num(NumField::Tos, cmp, n))
            }
        }
    }

    fn proto(&mut self) -> Result<Node, FilterError> {
        let (word, column) = self.word("a protocol name or number after 'proto'")?;
        let p = match parse_number(word, false) {
            Some(n) if n <= 255 => n as u8,
            Some(n) => {
                return Err(FilterError { column, message: format!("protocol number {n} is out of range 0..255") })
            }
            None => protocol_by_name(word).ok_or_else(|| FilterError {
                column,
                message: format!("unknown protocol '{word}': use a name such as tcp, udp, icmp, icmp6, gre, esp or a number"),
            })?,
        };
        Ok(Node::num(NumField::Protocol, Cmp::Eq, p as u64))
    }

    /// `icmp-type N` / `icmp-code N`: implies ICMP or ICMPv6, as nfdump.
    fn icmp(&mut self, is_type: bool, after: &str) -> Result<Node, FilterError> {
        let what = if is_type { "an ICMP type" } else { "an ICMP code" };
        let n = self.plain_number(after, what, 255)?;
        let field = if is_type { NumField::IcmpType } else { NumField::IcmpCode };
        Ok(Node::and(Node::is_icmp(), Node::num(field, Cmp::Eq, n)))
    }

    fn in_out(&mut self, is_in: bool, kw: &str) -> Result<Node, FilterError> {
        if self.eat_keyword("if") {
            let n = self.plain_number(&format!("{kw} if"), "an interface number", u32::MAX as u64)?;
            return Ok(Node::num(if is_in { NumField::InIf } else { NumField::OutIf }, Cmp::Eq, n));
        }
        match self.peek_keyword().as_deref() {
            Some(c @ ("packets" | "bytes")) if is_in => {
                let c = c.to_string();
                self.advance();
                self.counter(&c)
            }
            Some("packets" | "bytes") => Err(self.error_here(
                "wvnr flows are unidirectional: 'out packets' / 'out bytes' are not supported".into(),
            )),
            _ => Err(self.expected(&format!(
                "'if'{} after '{kw}'",
                if is_in { ", 'packets' or 'bytes'" } else { "" }
            ))),
        }
    }

    /// `flags SA` (all listed flags set) or `flags [comp] N` (the flag byte compared with N).
    /// Both imply `proto tcp`, as in nfdump 1.7.
    fn flags(&mut self) -> Result<Node, FilterError> {
        let test = self.flags_test()?;
        Ok(Node::and(Node::num(NumField::Protocol, Cmp::Eq, crate::flow::proto::TCP as u64), test))
    }

    fn flags_test(&mut self) -> Result<Node, FilterError> {
        let has_cmp = self.at_comparator();
        let cmp = self.comparator();
        let (word, column) = self.word("TCP flags (A S P R F U X) or a number after 'flags'")?;
        if let Some(n) = parse_number(word, false) {
            if n > 63 {
                return Err(FilterError {
                    column,
                    message: format!("TCP flags value {n} is out of range 0..63"),
                });
            }
            return Ok(Node::num(NumField::TcpFlags, cmp, n));
        }
        match parse_flag_letters(word) {
            Some(mask) if !has_cmp => Ok(Node::Test(Test::FlagsAll { mask })),
            _ => Err(FilterError {
                column,
                message: format!(
                    "expected TCP flags (upper-case letters A S P R F U, X for all) or a number after 'flags', found '{word}'"
                ),
            }),
        }
    }

    /// `packets`, `bytes`, `duration`, `pps`, `bps`, `bpp`: `[comp] N` with k/m/g/t scaling.
    fn counter(&mut self, kw: &str) -> Result<Node, FilterError> {
        let field = match kw {
            "packets" => NumField::Packets,
            "bytes" => NumField::Bytes,
            "duration" => NumField::Duration,
            "pps" => NumField::Pps,
            "bps" => NumField::Bps,
            _ => NumField::Bpp,
        };
        let cmp = self.comparator();
        let n = self.number(kw, "a number", u64::MAX, true)?;
        Ok(Node::num(field, cmp, n))
    }

    /// `ADDR` or `in [list]` for `router ip` / `next ip`.
    fn address_match(&mut self, field: AddrField, kw: &str) -> Result<Node, FilterError> {
        if self.eat_keyword("in") {
            let set = self.address_list(kw)?;
            return Ok(Node::Test(Test::AddrIn { field, set }));
        }
        let net = self.host(kw)?;
        Ok(Node::Test(Test::Addr { field, net }))
    }

    fn host(&mut self, kw: &str) -> Result<Net, FilterError> {
        let what = format!("an IP address after '{kw}'");
        let (word, column) = self.word(&what)?;
        parse_host(word).ok_or_else(|| {
            let hint = if word.contains('/') {
                format!(" (for a network write 'net {word}')")
            } else {
                " (wvnr does not resolve host names)".into()
            };
            FilterError { column, message: format!("expected {what}, found '{word}'{hint}") }
        })
    }

    /// `A/N`, or `A MASK` with a dotted IPv4 netmask.
    fn network(&mut self) -> Result<Net, FilterError> {
        let what = "a network (10.0.0.0/8, 10.0.0.0 255.0.0.0 or 2001:db8::/32) after 'net'";
        let (word, column) = self.word(what)?;
        if word.contains('/') {
            return parse_cidr(word).map_err(|e| FilterError {
                column,
                message: match e {
                    NetError::TooManyBits { max } => format!("too many netbits in '{word}': at most {max}"),
                    NetError::NotAnAddress => format!("expected {what}, found '{word}'"),
                },
            });
        }
        let Some(std::net::IpAddr::V4(addr)) = word.parse().ok() else {
            return Err(FilterError { column, message: format!("expected {what}, found '{word}'") });
        };
        let mask_what = format!("a netmask such as 255.255.255.0 after 'net {word}'");
        let (mask_word, mask_column) = self.word(&mask_what)?;
        match mask_word.parse::<std::net::Ipv4Addr>() {
            Ok(mask) => Ok(Net::new(addr.into(), u32::from(mask) as u128)),
            Err(_) => Err(FilterError {
                column: mask_column,
                message: format!("expected {mask_what}, found '{mask_word}'"),
            }),
        }
    }

    /// `[ a, b c/N ... ]` after `in`.
    fn address_list(&mut self, kw: &str) -> Result<NetSet, FilterError> {
        let mut hosts = Vec::new();
        let mut nets = Vec::new();
        self.list(&format!("{kw} in"), |p| {
            let (word, column) = p.word("an IP address or network in the list")?;
            if word.contains('/') {
                let net = parse_cidr(word).map_err(|_| FilterError {
                    column,
                    message: format!("expected an IP address or network in the list, found '{word}'"),
                })?;
                nets.push(net);
            } else {
                let net = parse_host(word).ok_or_else(|| FilterError {
                    column,
                    message: format!("expected an IP address or network in the list, found '{word}'"),
                })?;
                hosts.push(super::predicate::IpKey { v6: net.v6, bits: net.bits });
            }
            Ok(())
        })?;
        hosts.sort_unstable();
        hosts.dedup();
        Ok(NetSet { hosts: hosts.into_boxed_slice(), nets: nets.into_boxed_slice() })
    }

    fn number_list(&mut self, kw: &str, what: &str, max: u64) -> Result<Box<[u64]>, FilterError> {
        let mut values = Vec::new();
        self.list(&format!("{kw} in"), |p| {
            let n = p.number(&format!("{kw} in ["), what, max, false)?;
            values.push(n);
            Ok(())
        })?;
        values.sort_unstable();
        values.dedup();
        Ok(values.into_boxed_slice())
    }

    /// Parses `[ item (,? item)* ]`, calling `item` for each entry.
    fn list(
        &mut self,
        after: &str,
        mut item: impl FnMut(&mut Self) -> Result<(), FilterError>,
    ) -> Result<(), FilterError> {
        if !self.is_kind(&TokenKind::LBracket) {
            return Err(self.expected(&format!("'[' after '{after}'")));
        }
        let open = self.column();
        self.advance();
        let mut count = 0;
        loop {
            match self.peek().map(|t| &t.kind) {
                Some(TokenKind::RBracket) if count > 0 => {
                    self.advance();
                    return Ok(());
                }
                Some(TokenKind::RBracket) => return Err(self.error_here("empty list".into())),
                Some(TokenKind::Comma) if count > 0 => self.advance(),
                Some(TokenKind::Word(_)) => {
                    item(self)?;
                    count += 1;
                }
                None => return Err(self.expected(&format!("']' to close the list opened at column {open}"))),
                Some(_) => return Err(self.expected("a list entry or ']'")),
            }
        }
    }

    /// `N` with no comparator (nfdump takes none for `vlan`, `mask`, `if`, `icmp-type`).
    fn plain_number(&mut self, after: &str, what: &str, max: u64) -> Result<u64, FilterError> {
        if self.at_comparator() {
            return Err(self.error_here(format!("'{after}' takes a plain number, not a comparison")));
        }
        self.number(after, what, max, false)
    }

    fn number(&mut self, after: &str, what: &str, max: u64, scale: bool) -> Result<u64, FilterError> {
        let full = format!("{what} after '{after}'");
        let (word, column) = self.word(&full)?;
        match parse_number(word, scale) {
            Some(n) if n <= max => Ok(n),
            Some(n) => Err(FilterError { column, message: format!("{what} {n} is out of range 0..{max}") }),
            None => Err(FilterError { column, message: format!("expected {full}, found '{word}'") }),
        }
    }
}
