//! Column projection: which stored columns a scan needs. A query that groups by
//! destination port reads six of the 27 columns; the others are skipped inside the
//! decompressed block instead of being decoded into every `Flow`.

use std::ops::BitOr;

/// A set of stored columns. The three time columns (received, first, last) are always read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns(u32);

impl Columns {
    pub const NONE: Columns = Columns(0);
    pub const EXPORTER: Columns = Columns(1);
    pub const SRC_ADDR: Columns = Columns(1 << 1);
    pub const DST_ADDR: Columns = Columns(1 << 2);
    pub const NEXT_HOP: Columns = Columns(1 << 3);
    pub const DOMAIN: Columns = Columns(1 << 4);
    pub const SOURCE: Columns = Columns(1 << 5);
    pub const SRC_PORT: Columns = Columns(1 << 6);
    pub const DST_PORT: Columns = Columns(1 << 7);
    pub const PROTOCOL: Columns = Columns(1 << 8);
    pub const TCP_FLAGS: Columns = Columns(1 << 9);
    pub const TOS: Columns = Columns(1 << 10);
    pub const SRC_MASK: Columns = Columns(1 << 11);
    pub const DST_MASK: Columns = Columns(1 << 12);
    pub const IN_IF: Columns = Columns(1 << 13);
    pub const OUT_IF: Columns = Columns(1 << 14);
    pub const SRC_AS: Columns = Columns(1 << 15);
    pub const DST_AS: Columns = Columns(1 << 16);
    pub const SRC_VLAN: Columns = Columns(1 << 17);
    pub const DST_VLAN: Columns = Columns(1 << 18);
    pub const SRC_MAC: Columns = Columns(1 << 19);
    pub const DST_MAC: Columns = Columns(1 << 20);
    pub const PACKETS: Columns = Columns(1 << 21);
    pub const BYTES: Columns = Columns(1 << 22);
    pub const SAMPLING: Columns = Columns(1 << 23);
    pub const ALL: Columns = Columns((1 << 24) - 1);

    #[inline]
    pub fn contains(self, other: Columns) -> bool {
        self.0 & other.0 == other.0
    }

    #[inline]
    pub fn intersects(self, other: Columns) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn union(self, other: Columns) -> Columns {
        Columns(self.0 | other.0)
    }

    /// The columns of `self` not in `other`.
    pub const fn without(self, other: Columns) -> Columns {
        Columns(self.0 & !other.0)
    }
}

impl BitOr for Columns {
    type Output = Columns;
    fn bitor(self, o: Columns) -> Columns {
        self.union(o)
    }
}

impl Default for Columns {
    fn default() -> Columns {
        Columns::ALL
    }
}
