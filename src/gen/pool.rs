//! A pool of pre-generated flows, replayed with fresh timestamps: the traffic
//! model costs far more per flow than encoding and `sendmmsg`, so at full
//! speed the generator draws flows from here instead. Each pass over the pool
//! moves the client (ephemeral) ports, so flow keys keep changing while the
//! host, service and size distributions stay those of the model.

use super::traffic::Traffic;
use crate::flow::{proto, Flow};

/// Ephemeral ports start here (IANA 49152; Linux uses 32768).
const EPHEMERAL: u16 = 32_768;
/// Stride by which ephemeral ports move per pass (odd: cycles through all 32768).
const PORT_STRIDE: u32 = 4_099;

pub struct FlowPool {
    flows: Vec<Flow>,
    next: usize,
    pass: u32,
}

impl FlowPool {
    /// Draws `size` (at least 1) flows from `traffic`, each passed through `carry`
    /// (the protocol's view of a flow), generated as if exported at `now_ms`.
    pub fn new(traffic: &mut Traffic, size: usize, now_ms: u64, carry: impl Fn(Flow) -> Flow) -> FlowPool {
        let flows = (0..size.max(1)).map(|_| carry(traffic.next_flow(now_ms))).collect();
        FlowPool { flows, next: 0, pass: 0 }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The next pooled flow, re-timed to end just before `now_ms`.
    #[inline]
    pub fn next_flow(&mut self, now_ms: u64) -> Flow {
        let mut f = self.flows[self.next];
        let age = f.received_ms.saturating_sub(f.last_ms);
        let duration = f.duration_ms();
        f.received_ms = now_ms;
        f.last_ms = now_ms.saturating_sub(age);
        f.first_ms = f.last_ms.saturating_sub(duration);
        if self.pass > 0 && matches!(f.protocol, proto::TCP | proto::UDP) {
            f.src_port = shift_ephemeral(f.src_port, self.pass);
            f.dst_port = shift_ephemeral(f.dst_port, self.pass);
        }
        self.next += 1;
        if self.next == self.flows.len() {
            self.next = 0;
            self.pass = self.pass.wrapping_add(1);
        }
        f
    }
}

#[inline]
fn shift_ephemeral(port: u16, pass: u32) -> u16 {
    if port < EPHEMERAL {
        return port;
    }
    let offset = (port - EPHEMERAL) as u32;
    EPHEMERAL + ((offset + pass.wrapping_mul(PORT_STRIDE)) % EPHEMERAL as u32) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowSource;
    use crate::gen::traffic::{Scenario, TrafficConfig};

    fn traffic() -> Traffic {
        Traffic::new(TrafficConfig {
            scenario: Scenario::Mix,
            ipv6_fraction: 0.0,
            sampling: 1,
            seed: 3,
            exporter: "127.0.0.2".parse().unwrap(),
            domain: 1,
            source: FlowSource::Ipfix,
        })
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
    fn ephemeral_shift_stays_in_range() {
        for port in [32_768u16, 40_000, 65_535] {
            for pass in [1u32, 7, 1_000_000] {
                assert!(shift_ephemeral(port, pass) >= EPHEMERAL);
            }
        }
        assert_eq!(shift_ephemeral(443, 9), 443);
    }
}
