//! The pre-encoded pool: every pooled flow's record as the wire encoder
//! writes it on the pool's first pass, back to back, with a cursor that
//! walks it pass after pass, and the few in-place patches a replay needs.

use crate::flow::{proto, Counters, Flow};
use crate::gen::hugepages::HugeArena;
use crate::gen::pool::{port_shift, EPHEMERAL};
use crate::prefetch::prefetch;

/// How far ahead of the cursor records are prefetched: a few datagrams.
const PREFETCH_AHEAD: usize = 8 << 10;
const CACHE_LINE: usize = 64;

pub(super) struct Records {
    /// The records of the first pass, back to back, in huge pages where the
    /// kernel grants them (the replay walks megabytes of them).
    bytes: HugeArena,
    /// Where record `i` starts in `bytes`; one more entry for the end.
    starts: Vec<u32>,
    /// Running sums of the carried flows' packets and bytes: a datagram's
    /// totals without reading its flows.
    packets: Vec<u64>,
    octets: Vec<u64>,
    next: usize,
    pass: u32,
    /// Passes completed (for `sent`; `pass` wraps with the port shift).
    passes: u64,
    /// Offset in `bytes` up to which loads have been started (`prefetch`).
    prefetched: usize,
    /// Export time of the first pass the records were encoded for.
    base_ms: u64,
    /// Before this export time re-timing would clamp some times at zero (see
    /// `FlowPool::exact_from_ms`); an earlier clock is taken as this one.
    exact_from_ms: u64,
}

/// A contiguous stretch of the pool that one datagram takes.
#[derive(Clone, Copy)]
pub(super) struct Segment {
    pub start: usize,
    pub end: usize,
    /// Shift of the ephemeral ports on this pass (0 on the first).
    pub port_shift: u16,
}

impl Records {
    /// Encodes `flows` (the pool's first pass at `base_ms`) one by one with `encode`,
    /// which appends one record.
    pub fn new(
        flows: &[Flow],
        base_ms: u64,
        exact_from_ms: u64,
        mut encode: impl FnMut(&Flow, &mut Vec<u8>),
    ) -> Records {
        let mut bytes = Vec::new();
        let mut starts = Vec::with_capacity(flows.len() + 1);
        let (mut packets, mut octets) = (vec![0u64], vec![0u64]);
        for f in flows {
            starts.push(bytes.len() as u32);
            encode(f, &mut bytes);
            packets.push(packets.last().copied().unwrap_or(0).wrapping_add(f.packets));
            octets.push(octets.last().copied().unwrap_or(0).wrapping_add(f.bytes));
        }
        starts.push(bytes.len() as u32);
        Records {
            bytes: HugeArena::copy_of(&bytes),
            starts,
            packets,
            octets,
            next: 0,
            pass: 0,
            passes: 0,
            prefetched: 0,
            base_ms,
            exact_from_ms,
        }
    }

    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Record `i` of the first pass.
    #[inline]
    pub fn record(&self, i: usize) -> &[u8] {
        &self.bytes[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    /// Where record `i` (or, for `len()`, the end) starts in `range(0, len())`.
    #[inline]
    pub fn offset(&self, i: usize) -> usize {
        self.starts[i] as usize
    }

    /// Records `start..end` of the first pass, back to back.
    #[inline]
    pub fn range(&self, start: usize, end: usize) -> &[u8] {
        &self.bytes[self.starts[start] as usize..self.starts[end] as usize]
    }

    /// How far the flows' times move from the first pass to an export at `now_ms`
    /// (modulo 2^64: add it wrapping).
    #[inline]
    pub fn time_shift(&self, now_ms: u64) -> u64 {
        now_ms.max(self.exact_from_ms).wrapping_sub(self.base_ms)
    }

    /// Index of the record the cursor is at.
    #[inline]
    pub fn next(&self) -> usize {
        self.next
    }

    /// The longest contiguous stretch of at most `n` (≥ 1) records from the cursor.
    #[inline]
    pub fn segment(&self, n: usize) -> Segment {
        let end = (self.next + n).min(self.len());
        Segment { start: self.next, end, port_shift: port_shift(self.pass) }
    }

    /// Moves the cursor past `n` records (at most to the end of the pass).
    #[inline]
    pub fn advance(&mut self, n: usize) {
        self.next += n;
        if self.next >= self.len() {
            self.next -= self.len();
            self.pass = self.pass.wrapping_add(1);
            self.passes += 1;
        }
    }

    /// Starts loading the records up to `PREFETCH_AHEAD` bytes past the cursor
    /// (the lines not asked for yet): by the time the next datagrams copy
    /// them, they are in the cache. The same for the record offsets a few
    /// datagrams ahead (`starts`, a megabyte for the default pool, missed the
    /// cache at every line too).
    #[inline]
    pub fn prefetch(&mut self) {
        prefetch_ahead(&self.starts, self.next);
        let at = self.starts[self.next] as usize;
        if self.prefetched < at || self.prefetched > at + 2 * PREFETCH_AHEAD {
            self.prefetched = at; // a new pass
        }
        let until = (at + PREFETCH_AHEAD).min(self.bytes.len());
        while self.prefetched < until {
            prefetch(&self.bytes[self.prefetched]);
            self.prefetched += CACHE_LINE;
        }
    }

    /// Flows, packets and bytes of every record the cursor has passed: totals
    /// from the cursor alone, without reading counters per datagram.
    pub fn sent(&self) -> Counters {
        let len = self.len();
        Counters {
            flows: self.passes.wrapping_mul(len as u64).wrapping_add(self.next as u64),
            packets: self.passes.wrapping_mul(self.packets[len]).wrapping_add(self.packets[self.next]),
            bytes: self.passes.wrapping_mul(self.octets[len]).wrapping_add(self.octets[self.next]),
        }
    }
}

/// Starts loading `table[i..]` a few datagrams (`INDEX_AHEAD` entries) past
/// `i`: per-record tables read at the cursor, which moves 5-30 entries a
/// datagram, so two lines ahead cover the move from one call to the next.
#[inline]
pub(super) fn prefetch_ahead<T>(table: &[T], i: usize) {
    const INDEX_AHEAD: usize = 256;
    let per_line = (CACHE_LINE / std::mem::size_of::<T>().max(1)).max(1);
    for ahead in [INDEX_AHEAD, INDEX_AHEAD + per_line] {
        if let Some(entry) = table.get(i + ahead) {
            prefetch(entry);
        }
    }
}

/// Where the times and ports of a fixed-layout record lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Patches {
    /// Bytes per record.
    pub size: usize,
    /// First and last time (big-endian, `time_len` bytes each).
    pub first_at: usize,
    pub last_at: usize,
    /// 4 (ms since boot, modulo 2^32) or 8 (absolute ms).
    pub time_len: usize,
    /// Source port, then destination port.
    pub ports_at: usize,
    pub protocol_at: usize,
}

impl Patches {
    /// `dst` holds a copy of `src` (records back to back, `size` bytes each):
    /// re-times its records by `shift` ms and moves their ephemeral ports by
    /// `port_shift`. The fields are read from `src`, not from the bytes just
    /// copied (a load from a recent wide store can stall the CPU).
    #[inline(always)]
    pub fn apply(&self, src: &[u8], dst: &mut [u8], shift: u64, port_shift: u16) {
        if self.time_len == 4 {
            self.apply_to::<4>(src, dst, shift, port_shift)
        } else {
            self.apply_to::<8>(src, dst, shift, port_shift)
        }
    }

    #[inline(always)]
    fn apply_to<const TIME_LEN: usize>(&self, src: &[u8], dst: &mut [u8], shift: u64, port_shift: u16) {
        // The two times lie side by side (every layout has them so: a test holds
        // them to it): 4-byte ones are moved as one 8-byte word, in scalar code.
        let at = self.first_at;
        for (s, d) in src.chunks_exact(self.size).zip(dst.chunks_exact_mut(self.size)) {
            if TIME_LEN == 4 {
                let t = u64::from_be_bytes(s[at..at + 8].try_into().expect("8 bytes"));
                let first = ((t >> 32) as u32).wrapping_add(shift as u32);
                let last = (t as u32).wrapping_add(shift as u32);
                d[at..at + 8].copy_from_slice(&(u64::from(first) << 32 | u64::from(last)).to_be_bytes());
            } else {
                for at in [at, at + 8] {
                    let t = u64::from_be_bytes(s[at..at + 8].try_into().expect("8 bytes"));
                    d[at..at + 8].copy_from_slice(&t.wrapping_add(shift).to_be_bytes());
                }
            }
            if port_shift != 0 {
                let ports = s[self.ports_at..self.ports_at + 4].try_into().expect("4 bytes");
                let moved = shift_ports(ports, s[self.protocol_at], port_shift);
                d[self.ports_at..self.ports_at + 4].copy_from_slice(&moved);
            }
        }
    }
}

/// Moves the ephemeral ports of `ports` (source then destination, big-endian)
/// of a TCP or UDP flow, as re-timing a pooled flow does (`pool::shift_ephemeral`,
/// without branches: protocols and ports come in random order).
#[inline(always)]
pub(super) fn shift_ports(ports: [u8; 4], protocol: u8, shift: u16) -> [u8; 4] {
    // Both ports in one word (source in the high half), each half moved on its own.
    let w = u32::from_be_bytes(ports);
    let moves = u32::from(protocol == proto::TCP) | u32::from(protocol == proto::UDP);
    // 0x7fff in each half that holds a port ≥ EPHEMERAL (its top bit), when the flow has ports.
    let m = (((w >> 15) & 0x0001_0001) * u32::from(EPHEMERAL - 1)) & moves.wrapping_neg();
    // Below 2^16 per half: no carry from one half into the other.
    let moved = ((w & m) + u32::from(shift & (EPHEMERAL - 1)) * 0x0001_0001) & m;
    ((w & !m) | moved).to_be_bytes()
}
