//! The pre-encoded pool: every pooled flow's record as the wire encoder
//! writes it on the pool's first pass, back to back, with a cursor that
//! walks it pass after pass. Records are patched where they lie (times,
//! moved ports, sFlow sequence numbers) and sent from there (`Gather`): the
//! arena always holds each record as it was last sent, and a log of what was
//! applied to which stretch gives the difference to the next send.

use std::collections::VecDeque;

use crate::flow::{proto, Counters, Flow};
use crate::gen::gather::Gather;
use crate::gen::hugepages::HugeArena;
use crate::gen::pool::{port_shift, EPHEMERAL};
use crate::gen::send::prefetch;

/// How far ahead of the cursor records are prefetched: a few datagrams.
const PREFETCH_AHEAD: usize = 8 << 10;
const CACHE_LINE: usize = 64;
/// Shorter stretches of records are copied into the datagram rather than
/// sent from the arena: an iovec costs the kernel more than copying them.
const MIN_BORROW: usize = 256;

pub(super) struct Records {
    /// The records, back to back, in huge pages where the kernel grants them
    /// (the replay walks megabytes of them), as they were last sent.
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
    /// What the arena's records hold now, stretch by stretch from the cursor
    /// on (to the end of the pool, then from its start up to the cursor).
    applied: VecDeque<Applied>,
    /// Records taken since the batch began (`begin_batch`).
    in_batch: usize,
}

/// The records up to `end` (from where the previous entry ends) were last
/// written re-timed by `time` and with ports moved by `ports`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Applied {
    end: u32,
    time: u64,
    ports: u16,
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
        // At most one entry a record (and one being replaced): allocated once.
        let mut applied = VecDeque::with_capacity(flows.len() + 2);
        applied.push_back(Applied { end: flows.len() as u32, time: 0, ports: 0 });
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
            applied,
            in_batch: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// The records as they were last sent: what the datagrams of the batch
    /// just built point into.
    #[inline]
    pub fn arena(&self) -> &[u8] {
        &self.bytes
    }

    /// A new batch of datagrams begins: until it is sent, a record may be
    /// patched in place only once (every datagram of the batch points into
    /// the arena when it is sent).
    #[inline]
    pub fn begin_batch(&mut self) {
        self.in_batch = 0;
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

    /// Appends records `start..end` (from the cursor on, within one segment)
    /// to `out`, re-timed by `time_shift` and with ports moved by
    /// `port_shift` against the first pass: `patch(first record, bytes, time
    /// delta, port delta)` moves the bytes of the records from `first` on by
    /// the deltas given (modulo 2^64 and 2^15) and writes any other field
    /// that changes per send. In the arena, sent from there, when the batch
    /// has not taken these records yet and the datagram has pieces left;
    /// otherwise copied into the datagram and patched there. Does not move
    /// the cursor.
    #[inline]
    pub fn put(
        &mut self,
        start: usize,
        end: usize,
        time_shift: u64,
        port_shift: u16,
        out: &mut Gather,
        mut patch: impl FnMut(usize, &mut [u8], u64, u16),
    ) {
        let (from, to) = (self.starts[start] as usize, self.starts[end] as usize);
        let in_place =
            self.in_batch + (end - start) <= self.len() && to - from >= MIN_BORROW && out.can_borrow();
        self.in_batch += end - start;
        let mut at = start;
        while at < end {
            let front = *self.applied.front().expect("the log covers the pool");
            let piece_end = end.min(front.end as usize);
            let (dt, dp) = (time_shift.wrapping_sub(front.time), port_shift.wrapping_sub(front.ports));
            let bytes = self.starts[at] as usize..self.starts[piece_end] as usize;
            let now = if in_place {
                patch(at, &mut self.bytes[bytes], dt, dp);
                Applied { end: piece_end as u32, time: time_shift, ports: port_shift }
            } else {
                let len = bytes.len();
                let copy = out.own_tail(len);
                copy.copy_from_slice(&self.bytes[bytes]);
                patch(at, copy, dt, dp);
                Applied { end: piece_end as u32, ..front }
            };
            if piece_end == front.end as usize {
                self.applied.pop_front();
            }
            match self.applied.back_mut() {
                Some(back) if back.end as usize == at && (back.time, back.ports) == (now.time, now.ports) => {
                    back.end = now.end
                }
                _ => self.applied.push_back(now),
            }
            at = piece_end;
        }
        if in_place {
            out.push_arena(from, to);
        }
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
    /// (the lines not asked for yet): by the time the next datagrams patch
    /// them, they are in the cache.
    #[inline]
    pub fn prefetch(&mut self) {
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
    /// Moves the times of `records` (back to back, `size` bytes each) by
    /// `time_delta` ms and their ephemeral ports by `port_delta`.
    #[inline(always)]
    pub fn apply(&self, records: &mut [u8], time_delta: u64, port_delta: u16) {
        if self.time_len == 4 {
            self.apply_to::<4>(records, time_delta, port_delta)
        } else {
            self.apply_to::<8>(records, time_delta, port_delta)
        }
    }

    #[inline(always)]
    fn apply_to<const TIME_LEN: usize>(&self, records: &mut [u8], time_delta: u64, port_delta: u16) {
        for r in records.chunks_exact_mut(self.size) {
            for at in [self.first_at, self.last_at] {
                if TIME_LEN == 4 {
                    let t = u32::from_be_bytes(r[at..at + 4].try_into().expect("4 bytes"));
                    r[at..at + 4].copy_from_slice(&t.wrapping_add(time_delta as u32).to_be_bytes());
                } else {
                    let t = u64::from_be_bytes(r[at..at + 8].try_into().expect("8 bytes"));
                    r[at..at + 8].copy_from_slice(&t.wrapping_add(time_delta).to_be_bytes());
                }
            }
            if port_delta != 0 {
                let ports = r[self.ports_at..self.ports_at + 4].try_into().expect("4 bytes");
                let moved = shift_ports(ports, r[self.protocol_at], port_delta);
                r[self.ports_at..self.ports_at + 4].copy_from_slice(&moved);
            }
        }
    }
}

/// Moves the ephemeral ports of `ports` (source then destination, big-endian)
/// of a TCP or UDP flow, as re-timing a pooled flow does (`pool::shift_ephemeral`,
/// without branches: protocols and ports come in random order). Moves
/// compose: moving moved ports by the difference of two shifts gives the
/// ports moved by the second (the low 15 bits add modulo 2^15).
#[inline(always)]
pub(super) fn shift_ports(ports: [u8; 4], protocol: u8, shift: u16) -> [u8; 4] {
    let moves = u16::from(protocol == proto::TCP) | u16::from(protocol == proto::UDP);
    // The low 15 bits move when the flow has ports; of those, only ports ≥ EPHEMERAL.
    let low = moves.wrapping_neg() & (EPHEMERAL - 1);
    let mv = |p: u16| {
        let m = low & (p >> 15).wrapping_neg();
        ((p & !m) | (p.wrapping_add(shift) & m)).to_be_bytes()
    };
    let (src, dst) =
        (mv(u16::from_be_bytes([ports[0], ports[1]])), mv(u16::from_be_bytes([ports[2], ports[3]])));
    [src[0], src[1], dst[0], dst[1]]
}
