//! Where decoded flows go: a per-flow sink, or a batch that NetFlow v5 records
//! are written into directly.
//!
//! The batch form exists for speed: pushing flows one at a time through a
//! closure makes the compiler keep every field of a v5 record live across the
//! `Vec`'s possible reallocation (spilled to the stack, then copied), while
//! growing the batch once per datagram (the shared fields copied into the new
//! slots) lets each record's own fields be written straight into its slot.

use super::v5::Header;
use crate::flow::Flow;
use crate::wire::netflow_v5::{FlowRecord, RECORD_LEN};

pub(crate) trait Emit {
    /// Hands on one flow.
    fn flow(&mut self, f: &Flow);

    /// Hands on the flows of one v5 datagram's `records`, made by `header`
    /// (`CLAMP`: [`Header::needs_clamp`]). Returns the raw (unsampled) packet and byte sums.
    #[inline(always)]
    fn v5_records<const CLAMP: bool>(&mut self, header: &Header, records: &[[u8; RECORD_LEN]]) -> (u64, u64) {
        let (mut packets, mut bytes) = (0u64, 0u64);
        // The shared fields are written once; each record overwrites only its own.
        let mut flow = header.shared();
        for r in records {
            let (p, b) = header.fill::<CLAMP>(&mut flow, FlowRecord::new(r));
            packets += u64::from(p);
            bytes += u64::from(b);
            self.flow(&flow);
        }
        (packets, bytes)
    }
}

/// A per-flow callback.
pub(crate) struct Sink<'a, S: FnMut(&Flow) + ?Sized>(pub &'a mut S);

impl<S: FnMut(&Flow) + ?Sized> Emit for Sink<'_, S> {
    #[inline(always)]
    fn flow(&mut self, f: &Flow) {
        (self.0)(f)
    }
}

/// Appends to `batch`, handing it to `full` whenever it holds `max` flows.
pub(crate) struct Batch<'a, F: FnMut(&mut Vec<Flow>) + ?Sized> {
    pub batch: &'a mut Vec<Flow>,
    pub max: usize,
    pub full: &'a mut F,
}

impl<F: FnMut(&mut Vec<Flow>) + ?Sized> Emit for Batch<'_, F> {
    #[inline(always)]
    fn flow(&mut self, f: &Flow) {
        self.batch.push(*f);
        if self.batch.len() >= self.max {
            (self.full)(self.batch);
        }
    }

    #[inline(always)]
    fn v5_records<const CLAMP: bool>(&mut self, header: &Header, records: &[[u8; RECORD_LEN]]) -> (u64, u64) {
        // By value, so the loop below keeps them in registers (through a
        // reference they are reloaded for every flow: the batch could alias them).
        let header = *header;
        let (mut packets, mut bytes) = (0u64, 0u64);
        let mut rest = records;
        while !rest.is_empty() {
            // At least one record per round, so a `full` that leaves the batch as
            // it is cannot stop the loop (the batch then just grows past `max`).
            let room = self.max.saturating_sub(self.batch.len()).max(1);
            let (now, later) = rest.split_at(room.min(rest.len()));
            // One reservation and a plain copy of the shared fields into every
            // new slot, then each record's own fields written in place.
            let start = self.batch.len();
            self.batch.resize(start + now.len(), header.shared());
            for (flow, r) in self.batch[start..].iter_mut().zip(now) {
                let (p, b) = header.fill::<CLAMP>(flow, FlowRecord::new(r));
                packets += u64::from(p);
                bytes += u64::from(b);
            }
            rest = later;
            if self.batch.len() >= self.max {
                (self.full)(self.batch);
            }
        }
        (packets, bytes)
    }
}
