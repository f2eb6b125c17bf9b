//! What the generator sent, exactly: datagrams, flows, packets, bytes, overall
//! and per exporter. Packets and bytes are sampling-corrected (what a collector
//! that multiplies by the sampling interval reports).

use std::fmt::Write as _;

use serde::Serialize;

use crate::flow::{Counters, Flow};

/// Totals of one simulated exporter.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExporterTotals {
    /// The exporter's source address (as a collector sees it).
    pub address: String,
    /// Its UDP source port (0 when writing a capture with no socket behind it).
    pub port: u16,
    /// NetFlow v9 source id / IPFIX observation domain / sFlow sub-agent id.
    pub domain: u32,
    pub datagrams: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// UDP payload bytes of its datagrams.
    pub payload_bytes: u64,
}

impl ExporterTotals {
    #[inline]
    pub fn add_flow(&mut self, flow: &Flow) {
        self.flows += 1;
        self.packets += flow.packets;
        self.bytes += flow.bytes;
    }

    pub fn counters(&self) -> Counters {
        Counters { flows: self.flows, packets: self.packets, bytes: self.bytes }
    }
}

/// Everything sent so far (the progress callback sees it growing; `run` returns the final one).
/// Its JSON form is the `--json` output.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    /// "v5", "v9", "ipfix" or "sflow".
    pub protocol: String,
    /// Where the datagrams went: "HOST:PORT", or the capture file.
    pub target: String,
    pub datagrams: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Datagram payload bytes (UDP payload, what the collector reads).
    pub payload_bytes: u64,
    /// Seconds from the first send to the last (of the export clock for captures).
    pub elapsed_s: f64,
    /// Datagrams per second over `elapsed_s`.
    pub rate: f64,
    /// Flows per second over `elapsed_s`.
    pub flow_rate: f64,
    /// CPU seconds (user + system) the sending thread used over `elapsed_s`
    /// (on a busy machine, datagrams / cpu_s is what one core can send).
    pub cpu_s: f64,
    /// Whether runs of datagrams went out as UDP segmentation offload (GSO)
    /// messages to the end: false with `--no-gso`, for a capture or a backfill,
    /// or where the kernel refused them (then one message per datagram).
    pub gso: bool,
    pub exporters: Vec<ExporterTotals>,
}

impl Totals {
    /// Recomputes the overall figures from the per-exporter ones and `elapsed_s`.
    pub fn sum_up(&mut self, elapsed_s: f64) {
        self.datagrams = self.exporters.iter().map(|e| e.datagrams).sum();
        self.flows = self.exporters.iter().map(|e| e.flows).sum();
        self.packets = self.exporters.iter().map(|e| e.packets).sum();
        self.bytes = self.exporters.iter().map(|e| e.bytes).sum();
        self.elapsed_s = elapsed_s;
        let per_s = |n: u64| if elapsed_s > 0.0 { n as f64 / elapsed_s } else { 0.0 };
        self.rate = per_s(self.datagrams);
        self.flow_rate = per_s(self.flows);
    }

    /// One line for the progress display.
    pub fn progress_line(&self) -> String {
        format!(
            "{:>7.1}s  {:>10.0} dgrams/s  {:>11.0} flows/s  sent {} datagrams, {} flows, {} packets, {} bytes",
            self.elapsed_s, self.rate, self.flow_rate, self.datagrams, self.flows, self.packets, self.bytes
        )
    }

    /// The human-readable report printed at the end.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "sent {} datagrams ({}) to {} in {:.3} s: {:.0} datagrams/s, {:.0} flows/s",
            self.datagrams, self.protocol, self.target, self.elapsed_s, self.rate, self.flow_rate
        );
        let _ = writeln!(
            s,
            "total: {} flows, {} packets, {} bytes ({} payload bytes)",
            self.flows, self.packets, self.bytes, self.payload_bytes
        );
        let _ = writeln!(
            s,
            "{:<22} {:>6} {:>12} {:>12} {:>14} {:>18}",
            "exporter", "domain", "datagrams", "flows", "packets", "bytes"
        );
        for e in &self.exporters {
            let addr = if e.port == 0 { e.address.clone() } else { format!("{}:{}", e.address, e.port) };
            let _ = writeln!(
                s,
                "{:<22} {:>6} {:>12} {:>12} {:>14} {:>18}",
                addr, e.domain, e.datagrams, e.flows, e.packets, e.bytes
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_exporters() -> Totals {
        let mut t = Totals { protocol: "v9".into(), target: "127.0.0.1:2055".into(), ..Totals::default() };
        for (i, n) in [(2u8, 3u64), (3, 5)] {
            let mut e = ExporterTotals { address: format!("127.0.0.{i}"), port: 5000, ..Default::default() };
            e.datagrams = n;
            for _ in 0..n * 2 {
                e.add_flow(&Flow { packets: 10, bytes: 1000, ..Flow::EMPTY });
            }
            t.exporters.push(e);
        }
        t.sum_up(2.0);
        t
    }

    #[test]
    fn sums_exporters() {
        let t = two_exporters();
        assert_eq!((t.datagrams, t.flows, t.packets, t.bytes), (8, 16, 160, 16_000));
        assert_eq!((t.rate, t.flow_rate), (4.0, 8.0));
    }

    #[test]
    fn json_has_the_documented_shape() {
        let v = serde_json::to_value(two_exporters()).unwrap();
        for key in ["datagrams", "flows", "packets", "bytes", "protocol", "elapsed_s", "rate"] {
            assert!(v.get(key).is_some(), "{key} missing");
        }
        let e = &v["exporters"][1];
        assert_eq!(e["address"], "127.0.0.3");
        assert_eq!((e["datagrams"].as_u64(), e["flows"].as_u64()), (Some(5), Some(10)));
        assert_eq!((e["packets"].as_u64(), e["bytes"].as_u64()), (Some(100), Some(10_000)));
    }

    #[test]
    fn text_lists_every_exporter() {
        let text = two_exporters().to_text();
        assert!(text.contains("sent 8 datagrams (v9)"), "{text}");
        assert!(text.contains("127.0.0.2:5000") && text.contains("127.0.0.3:5000"));
        assert!(text.contains("16 flows, 160 packets, 16000 bytes"));
    }
}
