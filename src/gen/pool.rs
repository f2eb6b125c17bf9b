//! A pool of pre-generated flows, replayed with fresh timestamps: the traffic
//! model costs far more per flow than encoding and `sendmmsg`, so at full
//! speed the generator draws flows from here instead. Each pass over the pool
//! moves the client (ephemeral) ports, so flow keys keep changing while the
//! host, service and size distributions stay those of the model.

use super::traffic::Traffic;
use crate::flow::{proto, Flow};

/// Ephemeral ports start here (IANA 49152; Linux uses 32768).
pub(super) const EPHEMERAL: u16 = 32_768;
/// Stride by which ephemeral ports move per pass (odd: cycles through all 32768).
const PORT_STRIDE: u32 = 4_099;
/// Datagrams `group_families` orders by their IPv6 share at a time.
const ORDERED_WINDOW: usize = 256;
/// Flows (sFlow samples) `order_by_size` orders at a time: about 360 datagrams.
const SIZE_ORDERED_WINDOW: usize = 2048;

pub struct FlowPool {
    /// The flows as last handed out (re-timed in place, so the encoder reads them where they are).
    flows: Vec<Flow>,
    /// What re-timing needs from each drawn flow, as drawn.
    origins: Vec<Origin>,
    /// Flows that straddle the end of a pass (a datagram takes the last ones of
    /// one pass and the first of the next): copied here so they are contiguous.
    seam: Vec<Flow>,
    next: usize,
    pass: u32,
}

/// The drawn flow's timing and ports: every replay is computed from these.
#[derive(Clone, Copy)]
struct Origin {
    /// How long before the export the flow ended.
    age: u64,
    duration: u64,
    src_port: u16,
    dst_port: u16,
}

impl FlowPool {
    /// Draws `size` (at least 1) flows from `traffic`, each passed through `carry`
    /// (the protocol's view of a flow), generated as if exported at `now_ms`.
    pub fn new(traffic: &mut Traffic, size: usize, now_ms: u64, carry: impl Fn(Flow) -> Flow) -> FlowPool {
        FlowPool::from_flows((0..size.max(1)).map(|_| carry(traffic.next_flow(now_ms))).collect())
    }

    /// A pool of the given flows (at least one), each exported at its `received_ms`.
    pub fn from_flows(flows: Vec<Flow>) -> FlowPool {
        assert!(!flows.is_empty(), "a flow pool needs at least one flow");
        let origins = flows
            .iter()
            .map(|f| Origin {
                age: f.received_ms.saturating_sub(f.last_ms),
                duration: f.duration_ms(),
                src_port: f.src_port,
                dst_port: f.dst_port,
            })
            .collect();
        FlowPool { flows, origins, seam: Vec::new(), next: 0, pass: 0 }
    }

    /// Puts the IPv4 flows of each run of `per_datagram` flows before its IPv6 ones
    /// (each family in drawn order), so a datagram of that many flows carries one data
    /// set per template, as an exporter that exports each template's records together
    /// writes it, instead of a new set at every change of family. The pool's length is
    /// best a multiple of `per_datagram`, so that later passes keep the alignment.
    ///
    /// Then, within each window of `ORDERED_WINDOW` such datagrams, orders them by
    /// how many IPv6 flows they carry (fewest first, ties as drawn): datagrams of
    /// one mix have one size, and consecutive equal sizes go to the kernel as one
    /// segmented message (`send`). The mix over any stretch longer than a window
    /// stays the model's; inside one, a collector sees the same flows a few
    /// datagrams earlier or later.
    pub fn group_families(&mut self, per_datagram: usize) {
        if per_datagram < 2 {
            return;
        }
        // Within each datagram's flows (a short last one too): IPv4 (0) first.
        self.order_units(1, per_datagram, |f| usize::from(f[0].is_ipv6()));
        self.order_units(per_datagram, ORDERED_WINDOW, |d| d.iter().filter(|f| f.is_ipv6()).count());
    }

    /// Within each window of `SIZE_ORDERED_WINDOW` flows, orders the flows by `size`
    /// (smallest first, ties as drawn): for sFlow, the length of the flow's
    /// sample. Datagrams filled from samples of one length have one size, and
    /// runs of equal sizes are what `send` hands the kernel as one segmented
    /// message. As with `group_families`, the mix over any stretch longer than
    /// a window stays the model's.
    pub fn order_by_size(&mut self, mut size: impl FnMut(&Flow) -> usize) {
        self.order_units(1, SIZE_ORDERED_WINDOW, |unit| size(&unit[0]));
    }

    /// Within each window of `window` units of `unit` flows (whole units only: a
    /// short rest keeps its place at the end), stable-sorts the units by `key`;
    /// every flow keeps its origin.
    fn order_units(&mut self, unit: usize, window: usize, mut key: impl FnMut(&[Flow]) -> usize) {
        let mut order: Vec<(usize, usize)> = Vec::with_capacity(window);
        let mut drawn: Vec<(Flow, Origin)> = Vec::with_capacity(unit * window);
        for (flows, origins) in
            self.flows.chunks_mut(unit * window).zip(self.origins.chunks_mut(unit * window))
        {
            let whole = flows.len() / unit * unit;
            let (flows, origins) = (&mut flows[..whole], &mut origins[..whole]);
            order.clear();
            order.extend(flows.chunks(unit).map(&mut key).zip(0..));
            // Stable: equal keys keep their drawn order.
            order.sort_by_key(|&(k, _)| k);
            drawn.clear();
            drawn.extend(flows.iter().copied().zip(origins.iter().copied()));
            for (slot, &(_, from)) in order.iter().enumerate() {
                let (to, from) = (slot * unit, from * unit);
                for (k, &(f, o)) in drawn[from..from + unit].iter().enumerate() {
                    flows[to + k] = f;
                    origins[to + k] = o;
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The whole pool as its first pass hands it out when exported at `now_ms`
    /// (re-timed in place; the cursor does not move). What `replay` pre-encodes.
    pub fn first_pass(&mut self, now_ms: u64) -> &[Flow] {
        for (f, origin) in self.flows.iter_mut().zip(&self.origins) {
            retime(f, origin, now_ms, 0);
        }
        &self.flows
    }

    /// The earliest export time from which re-timing clamps no flow's times at
    /// zero: from then on, a flow replayed at `t` has the times it had at any
    /// other such `t0`, shifted by `t - t0` (what `replay` relies on).
    pub fn exact_from_ms(&self) -> u64 {
        self.origins.iter().map(|o| o.age.saturating_add(o.duration)).max().unwrap_or(0)
    }

    /// The next pooled flow, re-timed to end just before `now_ms` (and advances past it).
    pub fn next_flow(&mut self, now_ms: u64) -> Flow {
        let f = self.window(1, now_ms)[0];
        self.advance(1);
        f
    }

    /// The next `n` pooled flows, re-timed to end just before `now_ms`, without
    /// advancing: the caller encodes a prefix of them and then calls
    /// [`FlowPool::advance`] with its length. The same flows in the same order
    /// as `n` calls of `next_flow`, without copying them — except across the
    /// end of a pass (or when `n` exceeds the pool), where they are copied into
    /// one reused buffer.
    #[inline]
    pub fn window(&mut self, n: usize, now_ms: u64) -> &[Flow] {
        let len = self.flows.len();
        let end = self.next + n;
        if end <= len {
            for i in self.next..end {
                retime(&mut self.flows[i], &self.origins[i], now_ms, self.pass);
            }
            return &self.flows[self.next..end];
        }
        self.seam.clear();
        let (mut i, mut pass) = (self.next, self.pass);
        for _ in 0..n {
            let mut f = self.flows[i];
            retime(&mut f, &self.origins[i], now_ms, pass);
            self.seam.push(f);
            i += 1;
            if i == len {
                i = 0;
                pass = pass.wrapping_add(1);
            }
        }
        &self.seam
    }

    /// Moves past `n` flows of the last window.
    #[inline]
    pub fn advance(&mut self, n: usize) {
        self.next += n;
        while self.next >= self.flows.len() {
            self.next -= self.flows.len();
            self.pass = self.pass.wrapping_add(1);
        }
    }
}

/// Sets `f`'s times to end `age` before `now_ms` and, from the second pass on,
/// moves its client (ephemeral) ports.
#[inline]
fn retime(f: &mut Flow, origin: &Origin, now_ms: u64, pass: u32) {
    f.received_ms = now_ms;
    f.last_ms = now_ms.saturating_sub(origin.age);
    f.first_ms = f.last_ms.saturating_sub(origin.duration);
    if pass > 0 && matches!(f.protocol, proto::TCP | proto::UDP) {
        f.src_port = shift_ephemeral(origin.src_port, pass);
        f.dst_port = shift_ephemeral(origin.dst_port, pass);
    }
}

/// How far ephemeral ports move on pass `pass` (modulo the ephemeral range;
/// `replay` moves pre-encoded ports by it).
#[inline]
pub(super) fn port_shift(pass: u32) -> u16 {
    // The stride product wraps at 2^32, a multiple of the range: the same shift as unbounded.
    (pass.wrapping_mul(PORT_STRIDE) % EPHEMERAL as u32) as u16
}

#[inline]
pub(super) fn shift_ephemeral(port: u16, pass: u32) -> u16 {
    if port < EPHEMERAL {
        return port;
    }
    let offset = (port - EPHEMERAL) as u32;
    EPHEMERAL + (offset.wrapping_add(pass.wrapping_mul(PORT_STRIDE)) % EPHEMERAL as u32) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowSource;
    use crate::gen::traffic::{Scenario, TrafficConfig};

    fn traffic() -> Traffic {
        Traffic::new(traffic_config())
    }

    fn traffic_config() -> TrafficConfig {
        TrafficConfig {
            scenario: Scenario::Mix,
            ipv6_fraction: 0.0,
            sampling: 1,
            seed: 3,
            exporter: "127.0.0.2".parse().unwrap(),
            domain: 1,
            source: FlowSource::Ipfix,
        }
    }

    #[test]
    fn families_grouped_per_datagram_and_datagrams_by_mix_with_their_timing() {
        let mut t = Traffic::new(TrafficConfig { ipv6_fraction: 0.4, ..traffic_config() });
        let drawn: Vec<Flow> = (0..103).map(|_| t.next_flow(1_000_000)).collect();
        assert!(drawn.iter().any(Flow::is_ipv6) && !drawn.iter().all(Flow::is_ipv6));
        let mut pool = FlowPool::from_flows(drawn.clone());
        pool.group_families(10);
        // Each datagram: IPv4 first, then IPv6, each family in drawn order.
        let grouped = |d: &[Flow]| -> Vec<Flow> {
            let mut g: Vec<Flow> = d.iter().filter(|f| !f.is_ipv6()).copied().collect();
            g.extend(d.iter().filter(|f| f.is_ipv6()));
            g
        };
        // The ten whole datagrams (one window) ordered by their IPv6 count, ties as
        // drawn; the short last one stays last.
        let mut datagrams: Vec<Vec<Flow>> = drawn.chunks(10).map(grouped).collect();
        let tail = datagrams.pop().unwrap();
        datagrams.sort_by_key(|d| d.iter().filter(|f| f.is_ipv6()).count());
        datagrams.push(tail);
        let mixes: Vec<usize> = datagrams.iter().map(|d| d.iter().filter(|f| f.is_ipv6()).count()).collect();
        assert!(mixes[..10].windows(2).any(|w| w[0] < w[1]), "the test needs more than one mix: {mixes:?}");
        for (i, (got, want)) in pool.flows.chunks(10).zip(&datagrams).enumerate() {
            assert_eq!(got, &want[..], "datagram {i}");
        }
        // Each flow kept its own origin: replayed a pass later, its ports and times are
        // those of the same flow drawn ungrouped.
        let mut plain = FlowPool::from_flows(drawn);
        let key = |f: &Flow| (f.src_addr, f.dst_addr, f.protocol, f.packets, f.bytes);
        let mut a: Vec<_> = (0..206).map(|_| pool.next_flow(9_000_000)).collect();
        let mut b: Vec<_> = (0..206).map(|_| plain.next_flow(9_000_000)).collect();
        a.sort_by_key(key);
        b.sort_by_key(key);
        assert_eq!(a, b);
    }

    #[test]
    fn ordered_by_size_within_windows_with_their_timing() {
        let n = 2 * SIZE_ORDERED_WINDOW + 500;
        let drawn: Vec<Flow> = {
            let mut t = traffic();
            (0..n).map(|_| t.next_flow(1_000_000)).collect()
        };
        let size = |f: &Flow| (f.bytes % 7) as usize;
        let mut pool = FlowPool::from_flows(drawn.clone());
        pool.order_by_size(size);
        // Each window (and the shorter last one) holds its own flows, sorted by
        // size, equal sizes in drawn order.
        for (i, (got, want)) in
            pool.flows.chunks(SIZE_ORDERED_WINDOW).zip(drawn.chunks(SIZE_ORDERED_WINDOW)).enumerate()
        {
            let mut want = want.to_vec();
            assert!(!want.is_sorted_by_key(size), "window {i} was drawn sorted: the test shows little");
            want.sort_by_key(size);
            assert_eq!(got, &want[..], "window {i}");
        }
        // Each flow kept its own origin (see the test above).
        let mut plain = FlowPool::from_flows(drawn);
        let key = |f: &Flow| (f.src_addr, f.dst_addr, f.protocol, f.packets, f.bytes, f.src_port);
        let mut a: Vec<_> = (0..2 * n).map(|_| pool.next_flow(9_000_000)).collect();
        let mut b: Vec<_> = (0..2 * n).map(|_| plain.next_flow(9_000_000)).collect();
        a.sort_by_key(key);
        b.sort_by_key(key);
        assert!(a == b, "re-timed flows differ");
    }

    #[test]
    fn replays_with_new_times_and_new_client_ports() {
        let t0 = 1_795_946_851_500;
        let mut pool = FlowPool::new(&mut traffic(), 100, t0, |f| f);
        let first: Vec<Flow> = (0..100).map(|_| pool.next_flow(t0)).collect();
        let second: Vec<Flow> = (0..100).map(|_| pool.next_flow(t0 + 60_000)).collect();
        let mut moved = 0;
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(
                (a.src_addr, a.dst_addr, a.protocol, a.packets, a.bytes),
                (b.src_addr, b.dst_addr, b.protocol, b.packets, b.bytes)
            );
            assert_eq!(a.duration_ms(), b.duration_ms());
            assert_eq!((b.last_ms - a.last_ms, b.received_ms), (60_000, t0 + 60_000));
            // Service ports stay; ephemeral ports move.
            assert_eq!(a.src_port.min(a.dst_port), b.src_port.min(b.dst_port), "{a:?}");
            moved += usize::from((a.src_port, a.dst_port) != (b.src_port, b.dst_port));
        }
        assert!(moved > 80, "{moved} of 100 keys changed");
    }

    #[test]
    fn windows_hand_out_what_next_flow_would() {
        let t0 = 1_795_946_851_500;
        let mut one_by_one = FlowPool::new(&mut traffic(), 50, t0, |f| f);
        let mut windowed = FlowPool::new(&mut traffic(), 50, t0, |f| f);
        // Windows of varying size and partial takes, across several passes and their
        // seams, and windows larger than the pool (a small counted run's pool).
        for (round, (n, take)) in
            [(30, 30), (30, 12), (30, 30), (7, 3), (50, 50), (50, 49), (1, 1), (120, 117)]
                .into_iter()
                .cycle()
                .take(40)
                .enumerate()
        {
            let now = t0 + round as u64 * 1_000;
            let got: Vec<Flow> = windowed.window(n, now)[..take].to_vec();
            windowed.advance(take);
            let want: Vec<Flow> = (0..take).map(|_| one_by_one.next_flow(now)).collect();
            assert_eq!(got, want, "round {round}");
        }
    }

    #[test]
    fn ephemeral_shift_stays_in_range() {
        for port in [32_768u16, 40_000, 65_535] {
            for pass in [1u32, 7, 1_000_000] {
                assert!(shift_ephemeral(port, pass) >= EPHEMERAL);
            }
        }
        assert_eq!(shift_ephemeral(443, 9), 443);
    }
}
