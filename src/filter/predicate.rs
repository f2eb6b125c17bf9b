//! The compiled form of a filter: a small tree of tests over `Flow` fields,
//! evaluated without allocation or string work.

use std::net::IpAddr;

use crate::flow::{proto, Flow};
use crate::store::Columns;

/// A comparison operator (`=`, `>`, `<`, `>=`, `<=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Gt,
    Lt,
    Ge,
    Le,
}

impl Cmp {
    #[inline]
    fn apply(self, left: u64, right: u64) -> bool {
        match self {
            Cmp::Eq => left == right,
            Cmp::Gt => left > right,
            Cmp::Lt => left < right,
            Cmp::Ge => left >= right,
            Cmp::Le => left <= right,
        }
    }
}

/// A numeric field of a flow (or one computed from it, as nfdump computes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumField {
    Protocol,
    SrcPort,
    DstPort,
    IcmpType,
    IcmpCode,
    SrcAs,
    DstAs,
    InIf,
    OutIf,
    SrcVlan,
    DstVlan,
    SrcMask,
    DstMask,
    Tos,
    TcpFlags,
    Packets,
    Bytes,
    /// last - first, ms.
    Duration,
    /// packets * 1000 / duration_ms (0 for zero duration), as nfdump.
    Pps,
    /// bytes * 8000 / duration_ms (0 for zero duration), as nfdump.
    Bps,
    /// bytes / packets (0 for no packets), as nfdump.
    Bpp,
}

impl NumField {
    /// The stored columns `get` reads (times are always read).
    fn columns(self) -> Columns {
        match self {
            NumField::Protocol => Columns::PROTOCOL,
            NumField::SrcPort => Columns::SRC_PORT,
            NumField::DstPort | NumField::IcmpType | NumField::IcmpCode => Columns::DST_PORT,
            NumField::SrcAs => Columns::SRC_AS,
            NumField::DstAs => Columns::DST_AS,
            NumField::InIf => Columns::IN_IF,
            NumField::OutIf => Columns::OUT_IF,
            NumField::SrcVlan => Columns::SRC_VLAN,
            NumField::DstVlan => Columns::DST_VLAN,
            NumField::SrcMask => Columns::SRC_MASK,
            NumField::DstMask => Columns::DST_MASK,
            NumField::Tos => Columns::TOS,
            NumField::TcpFlags => Columns::TCP_FLAGS,
            NumField::Packets | NumField::Pps => Columns::PACKETS,
            NumField::Bytes | NumField::Bps => Columns::BYTES,
            NumField::Duration => Columns::NONE,
            NumField::Bpp => Columns::PACKETS | Columns::BYTES,
        }
    }

    /// Whether `get` reads the flow's times (first / last seen).
    fn reads_times(self) -> bool {
        matches!(self, NumField::Duration | NumField::Pps | NumField::Bps)
    }

    #[inline]
    fn get(self, f: &Flow) -> u64 {
        match self {
            NumField::Protocol => f.protocol as u64,
            NumField::SrcPort => f.src_port as u64,
            NumField::DstPort => f.dst_port as u64,
            NumField::IcmpType => f.icmp_type() as u64,
            NumField::IcmpCode => f.icmp_code() as u64,
            NumField::SrcAs => f.src_as as u64,
            NumField::DstAs => f.dst_as as u64,
            NumField::InIf => f.in_if as u64,
            NumField::OutIf => f.out_if as u64,
            NumField::SrcVlan => f.src_vlan as u64,
            NumField::DstVlan => f.dst_vlan as u64,
            NumField::SrcMask => f.src_mask as u64,
            NumField::DstMask => f.dst_mask as u64,
            NumField::Tos => f.tos as u64,
            NumField::TcpFlags => f.tcp_flags as u64,
            NumField::Packets => f.packets,
            NumField::Bytes => f.bytes,
            NumField::Duration => f.duration_ms(),
            NumField::Pps => match f.duration_ms() {
                0 => 0,
                d => (f.packets as u128 * 1000 / d as u128) as u64,
            },
            NumField::Bps => match f.duration_ms() {
                0 => 0,
                d => (f.bytes as u128 * 8000 / d as u128).min(u64::MAX as u128) as u64,
            },
            NumField::Bpp => f.bytes.checked_div(f.packets).unwrap_or(0),
        }
    }
}

/// An address field of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddrField {
    Src,
    Dst,
    Exporter,
    NextHop,
}

impl AddrField {
    fn columns(self) -> Columns {
        match self {
            AddrField::Src => Columns::SRC_ADDR,
            AddrField::Dst => Columns::DST_ADDR,
            AddrField::Exporter => Columns::EXPORTER,
            AddrField::NextHop => Columns::NEXT_HOP,
        }
    }

    #[inline]
    fn get(self, f: &Flow) -> IpKey {
        IpKey::of(match self {
            AddrField::Src => &f.src_addr,
            AddrField::Dst => &f.dst_addr,
            AddrField::Exporter => &f.exporter,
            AddrField::NextHop => &f.next_hop,
        })
    }
}

/// An address as family + 128-bit value (IPv4 in the low 32 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct IpKey {
    pub v6: bool,
    pub bits: u128,
}

impl IpKey {
    #[inline]
    pub fn of(addr: &IpAddr) -> IpKey {
        match addr {
            IpAddr::V4(a) => IpKey { v6: false, bits: u32::from(*a) as u128 },
            IpAddr::V6(a) => IpKey { v6: true, bits: u128::from(*a) },
        }
    }
}

/// A network: the address with host bits cleared, and its mask. A host is a full-length mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Net {
    pub v6: bool,
    pub bits: u128,
    pub mask: u128,
}

impl Net {
    pub fn new(addr: IpAddr, mask: u128) -> Net {
        let key = IpKey::of(&addr);
        Net { v6: key.v6, bits: key.bits & mask, mask }
    }

    /// The mask of a /`prefix` network of the family of `addr` (prefix already range-checked).
    pub fn prefix_mask(v6: bool, prefix: u32) -> u128 {
        match (v6, prefix) {
            (_, 0) => 0,
            (false, p) => (u32::MAX << (32 - p)) as u128,
            (true, p) => u128::MAX << (128 - p),
        }
    }

    #[inline]
    fn contains(&self, key: IpKey) -> bool {
        key.v6 == self.v6 && key.bits & self.mask == self.bits
    }
}

/// A set of hosts and networks (`ip in [ ... ]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NetSet {
    /// Full-length entries, sorted, for binary search.
    pub hosts: Box<[IpKey]>,
    pub nets: Box<[Net]>,
}

impl NetSet {
    #[inline]
    fn contains(&self, key: IpKey) -> bool {
        self.hosts.binary_search(&key).is_ok() || self.nets.iter().any(|n| n.contains(key))
    }
}

/// One test on a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Test {
    /// Both addresses IPv4 (`ipv4`, `inet`).
    Ipv4,
    /// An IPv6 flow (`ipv6`, `inet6`).
    Ipv6,
    Num {
        field: NumField,
        cmp: Cmp,
        value: u64,
    },
    /// `a cmp value or b cmp value` (`port 80`, `if 3`): one test, no tree walk.
    NumEither {
        a: NumField,
        b: NumField,
        cmp: Cmp,
        value: u64,
    },
    NumIn {
        field: NumField,
        sorted: Box<[u64]>,
    },
    /// All of the bits in `mask` are set in the TCP flags.
    FlagsAll {
        mask: u8,
    },
    Addr {
        field: AddrField,
        net: Net,
    },
    AddrIn {
        field: AddrField,
        set: NetSet,
    },
}

impl Test {
    fn reads_times(&self) -> bool {
        match self {
            Test::Num { field, .. } | Test::NumIn { field, .. } => field.reads_times(),
            Test::NumEither { a, b, .. } => a.reads_times() || b.reads_times(),
            _ => false,
        }
    }

    fn columns(&self) -> Columns {
        match self {
            Test::Ipv4 | Test::Ipv6 => Columns::SRC_ADDR | Columns::DST_ADDR,
            Test::Num { field, .. } | Test::NumIn { field, .. } => field.columns(),
            Test::NumEither { a, b, .. } => a.columns() | b.columns(),
            Test::FlagsAll { .. } => Columns::TCP_FLAGS,
            Test::Addr { field, .. } | Test::AddrIn { field, .. } => field.columns(),
        }
    }

    #[inline]
    fn eval(&self, f: &Flow) -> bool {
        match self {
            Test::Ipv4 => !f.is_ipv6(),
            Test::Ipv6 => f.is_ipv6(),
            Test::Num { field, cmp, value } => cmp.apply(field.get(f), *value),
            Test::NumEither { a, b, cmp, value } => {
                cmp.apply(a.get(f), *value) || cmp.apply(b.get(f), *value)
            }
            Test::NumIn { field, sorted } => sorted.binary_search(&field.get(f)).is_ok(),
            Test::FlagsAll { mask } => f.tcp_flags & mask == *mask,
            Test::Addr { field, net } => net.contains(field.get(f)),
            Test::AddrIn { field, set } => set.contains(field.get(f)),
        }
    }
}

/// The compiled filter tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    True,
    All(Box<[Node]>),
    Any(Box<[Node]>),
    Not(Box<Node>),
    Test(Test),
}

impl Node {
    #[inline]
    pub fn eval(&self, f: &Flow) -> bool {
        match self {
            Node::True => true,
            Node::All(nodes) => nodes.iter().all(|n| n.eval(f)),
            Node::Any(nodes) => nodes.iter().any(|n| n.eval(f)),
            Node::Not(node) => !node.eval(f),
            Node::Test(t) => t.eval(f),
        }
    }

    /// Keeps the indexes of `rows` whose flow matches: a test at a time over the rows still
    /// in for `and`s (one predictable loop each, instead of a tree walk per flow).
    pub fn retain(&self, flows: &[Flow], rows: &mut Vec<u32>) {
        match self {
            Node::True => {}
            Node::All(nodes) => {
                for n in nodes {
                    if rows.is_empty() {
                        break;
                    }
                    n.retain(flows, rows);
                }
            }
            Node::Test(t) => rows.retain(|&i| flows.get(i as usize).is_some_and(|f| t.eval(f))),
            _ => rows.retain(|&i| flows.get(i as usize).is_some_and(|f| self.eval(f))),
        }
    }

    /// Every stored column some test of the tree reads.
    pub fn columns(&self) -> Columns {
        match self {
            Node::True => Columns::NONE,
            Node::All(nodes) | Node::Any(nodes) => nodes.iter().fold(Columns::NONE, |c, n| c | n.columns()),
            Node::Not(node) => node.columns(),
            Node::Test(t) => t.columns(),
        }
    }

    /// Whether some test of the tree reads the flow's times (`duration`, `pps`, `bps`).
    pub fn reads_times(&self) -> bool {
        match self {
            Node::True => false,
            Node::All(nodes) | Node::Any(nodes) => nodes.iter().any(Node::reads_times),
            Node::Not(node) => node.reads_times(),
            Node::Test(t) => t.reads_times(),
        }
    }

    pub fn num(field: NumField, cmp: Cmp, value: u64) -> Node {
        Node::Test(Test::Num { field, cmp, value })
    }

    /// `Some(N)` when the node is exactly `port N` (source or destination port equals N).
    pub fn either_port(&self) -> Option<u16> {
        match self {
            Node::Test(Test::NumEither {
                a: NumField::SrcPort,
                b: NumField::DstPort,
                cmp: Cmp::Eq,
                value,
            }) => Some(*value as u16),
            _ => None,
        }
    }

    /// The protocol numbers this node accepts when it tests nothing but the protocol
    /// (`proto N`, or an or of such tests), as a 256-bit set.
    pub fn protocol_set(&self) -> Option<[u64; 4]> {
        match self {
            Node::Test(Test::Num { field: NumField::Protocol, cmp: Cmp::Eq, value }) if *value < 256 => {
                let mut set = [0u64; 4];
                set[(*value >> 6) as usize] |= 1 << (*value & 63);
                Some(set)
            }
            Node::Any(nodes) => nodes.iter().try_fold([0u64; 4], |mut acc, n| {
                let s = n.protocol_set()?;
                for (a, b) in acc.iter_mut().zip(s) {
                    *a |= b;
                }
                Some(acc)
            }),
            _ => None,
        }
    }

    /// `protocol == icmp or protocol == icmp6`.
    pub fn is_icmp() -> Node {
        Node::Any(Box::new([
            Node::num(NumField::Protocol, Cmp::Eq, proto::ICMP as u64),
            Node::num(NumField::Protocol, Cmp::Eq, proto::ICMPV6 as u64),
        ]))
    }

    /// Joins `a` and `b` with and (flattening nested ands).
    pub fn and(a: Node, b: Node) -> Node {
        let mut v = Vec::new();
        for n in [a, b] {
            match n {
                Node::All(inner) => v.extend(inner.into_vec()),
                Node::True => {}
                other => v.push(other),
            }
        }
        match v.len() {
            0 => Node::True,
            1 => v.pop().expect("one node"),
            _ => Node::All(v.into_boxed_slice()),
        }
    }

    /// Joins `a` and `b` with or (flattening nested ors).
    pub fn or(a: Node, b: Node) -> Node {
        if a == Node::True || b == Node::True {
            return Node::True;
        }
        if let (
            Node::Test(Test::Num { field: fa, cmp: ca, value: va }),
            Node::Test(Test::Num { field: fb, cmp: cb, value: vb }),
        ) = (&a, &b)
        {
            if ca == cb && va == vb {
                return Node::Test(Test::NumEither { a: *fa, b: *fb, cmp: *ca, value: *va });
            }
        }
        let mut v = Vec::new();
        for n in [a, b] {
            match n {
                Node::Any(inner) => v.extend(inner.into_vec()),
                other => v.push(other),
            }
        }
        Node::Any(v.into_boxed_slice())
    }
}

/// Records in `hint` what `node` (one term of a top-level `and`) requires of every match.
pub(crate) fn hint_from(node: &Node, hint: &mut crate::store::ScanHint) {
    match node {
        Node::All(nodes) => nodes.iter().for_each(|n| hint_from(n, hint)),
        Node::Test(Test::Num { field, cmp: Cmp::Eq, value }) => match field {
            NumField::Protocol => hint.protocol = Some(*value as u8),
            NumField::SrcPort => hint.src_port = Some(*value as u16),
            NumField::DstPort => hint.dst_port = Some(*value as u16),
            _ => {}
        },
        Node::Test(_) => {
            if let Some(port) = node.either_port() {
                hint.port = Some(port);
            }
        }
        Node::True | Node::Any(_) | Node::Not(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_masks() {
        assert_eq!(Net::prefix_mask(false, 0), 0);
        assert_eq!(Net::prefix_mask(false, 8), 0xFF00_0000);
        assert_eq!(Net::prefix_mask(false, 32), 0xFFFF_FFFF);
        assert_eq!(Net::prefix_mask(true, 128), u128::MAX);
        assert_eq!(Net::prefix_mask(true, 1), 1u128 << 127);
    }

    #[test]
    fn computed_rates_follow_nfdump() {
        let f = Flow { first_ms: 1000, last_ms: 3000, packets: 10, bytes: 1000, ..Flow::EMPTY };
        assert_eq!(NumField::Pps.get(&f), 5);
        assert_eq!(NumField::Bps.get(&f), 4000);
        assert_eq!(NumField::Bpp.get(&f), 100);
        let z = Flow { packets: 0, bytes: 10, ..Flow::EMPTY };
        assert_eq!((NumField::Pps.get(&z), NumField::Bpp.get(&z)), (0, 0));
    }
}
