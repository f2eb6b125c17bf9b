//! Past traffic written straight into a data directory (`wvnr gen --backfill
//! 24h --data DIR`, and `wvnr demo`'s history): the same traffic model as the
//! live generator, with `received_ms` spread over the window at an average
//! rate shaped by a daily curve (busy afternoons, quiet nights), through the
//! store's `FlowWriter`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Result};

use super::rng::{derive_seed, Dice};
use super::totals::{ExporterTotals, Totals};
use super::traffic::{Scenario, Traffic, TrafficConfig};
use super::{as_carried, protocol_name, GenConfig};
use crate::flow::{Flow, FlowSource};
use crate::store::Store;

/// The busiest hour of the day (UTC) and how far the rate swings around its mean.
const PEAK_HOUR: f64 = 15.0;
const DAILY_SWING: f64 = 0.6;
/// Minute-to-minute wobble around the curve (±10%).
const MINUTE_NOISE: f64 = 0.2;

#[derive(Clone, Debug)]
pub struct BackfillConfig {
    /// How far back from `end_ms` the traffic starts.
    pub window: Duration,
    /// End of the window (exclusive), UTC ms; usually now.
    pub end_ms: u64,
    /// Mean flows per second over all exporters (the daily curve moves around it).
    pub flow_rate: f64,
    pub exporters: u32,
    /// Which protocol the flows are marked as having arrived in.
    pub protocol: FlowSource,
    pub scenario: Scenario,
    pub sampling: u32,
    pub ipv6_fraction: f64,
    pub seed: u64,
}

impl BackfillConfig {
    /// The backfill that matches a live generator configuration (same exporters,
    /// protocol, mix), over `window` ending at `end_ms`, at `flow_rate` flows/s.
    pub fn like(gen: &GenConfig, window: Duration, end_ms: u64, flow_rate: f64) -> BackfillConfig {
        BackfillConfig {
            window,
            end_ms,
            flow_rate,
            exporters: gen.exporters,
            protocol: gen.protocol,
            scenario: gen.scenario,
            sampling: gen.sampling,
            ipv6_fraction: gen.ipv6_fraction,
            seed: gen.seed_or_clock(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.flow_rate.is_finite() && self.flow_rate > 0.0) {
            bail!("the backfill flow rate must be a positive number (got {})", self.flow_rate);
        }
        if self.window.is_zero() || self.window.as_millis() as u64 > self.end_ms {
            bail!("the backfill window must be longer than zero and start after 1970");
        }
        if self.exporters == 0 || self.sampling == 0 {
            bail!("the backfill needs at least one exporter and a sampling interval of at least 1");
        }
        if self.protocol == FlowSource::NetflowV5 && self.ipv6_fraction > 0.0 {
            bail!("NetFlow v5 carries IPv4 only: use --ipv6 0 with --protocol v5");
        }
        Ok(())
    }
}

/// Rate multiplier at `unix_s`: a daily cosine around 1 (its mean over a day is 1).
pub fn daily_curve(unix_s: u64) -> f64 {
    let hour = (unix_s % 86_400) as f64 / 3600.0;
    1.0 + DAILY_SWING * (std::f64::consts::TAU * (hour - PEAK_HOUR) / 24.0).cos()
}

/// The backfilled flows in time order, exporters taking turns.
pub struct BackfillFlows {
    cfg: BackfillConfig,
    traffic: Vec<Traffic>,
    /// The second being filled, UTC seconds, and the flows still due in it.
    second: u64,
    due: u64,
    emitted_in_second: u64,
    started: bool,
    /// Fractional flows carried from one second to the next.
    carry: f64,
    minute: u64,
    minute_factor: f64,
    end_s: u64,
    turn: usize,
}

impl BackfillFlows {
    pub fn new(cfg: BackfillConfig) -> Result<BackfillFlows> {
        cfg.validate()?;
        let template = GenConfig { exporters: cfg.exporters, ..GenConfig::default() };
        let traffic = (0..cfg.exporters)
            .map(|i| {
                Traffic::new(TrafficConfig {
                    scenario: cfg.scenario,
                    ipv6_fraction: cfg.ipv6_fraction,
                    sampling: cfg.sampling,
                    seed: derive_seed(cfg.seed, i as u64),
                    exporter: template.exporter_ip(i),
                    domain: i + 1,
                    source: cfg.protocol,
                })
            })
            .collect();
        let start_s = (cfg.end_ms - cfg.window.as_millis() as u64) / 1000;
        Ok(BackfillFlows {
            traffic,
            second: start_s,
            due: 0,
            emitted_in_second: 0,
            started: false,
            carry: 0.0,
            minute: u64::MAX,
            minute_factor: 1.0,
            end_s: cfg.end_ms / 1000,
            turn: 0,
            cfg,
        })
    }

    /// Flows due in second `s` (the curve, the minute's wobble, the carried fraction).
    fn flows_due(&mut self, s: u64) -> u64 {
        if s / 60 != self.minute {
            self.minute = s / 60;
            let mut dice = Dice::new(derive_seed(self.cfg.seed, self.minute));
            self.minute_factor = 1.0 - MINUTE_NOISE / 2.0 + MINUTE_NOISE * dice.unit();
        }
        let want = self.cfg.flow_rate * daily_curve(s) * self.minute_factor + self.carry;
        let due = want.floor();
        self.carry = want - due;
        due as u64
    }
}

impl Iterator for BackfillFlows {
    type Item = Flow;

    fn next(&mut self) -> Option<Flow> {
        while self.emitted_in_second >= self.due {
            // This second is done (or none has begun): move to the next one.
            if self.started {
                self.second += 1;
            }
            self.started = true;
            if self.second >= self.end_s {
                return None;
            }
            self.due = self.flows_due(self.second);
            self.emitted_in_second = 0;
        }
        // Spread the second's flows evenly over its milliseconds.
        let at_ms = self.second * 1000 + self.emitted_in_second * 1000 / self.due;
        self.emitted_in_second += 1;
        let turn = self.turn;
        self.turn = (turn + 1) % self.traffic.len();
        let traffic = &mut self.traffic[turn];
        Some(as_carried(self.cfg.protocol, traffic.next_flow(at_ms), self.cfg.sampling))
    }
}

/// Writes the backfill through `store.writer(worker)`; returns what was written
/// (`datagrams` is 0: nothing went over the wire). Stops early, cleanly, when
/// `stop` becomes true.
pub fn backfill(store: &Store, worker: u32, cfg: BackfillConfig, stop: &AtomicBool) -> Result<Totals> {
    let started = std::time::Instant::now();
    let protocol = protocol_name(cfg.protocol).to_string();
    let template = GenConfig { exporters: cfg.exporters, ..GenConfig::default() };
    let mut exporters: Vec<ExporterTotals> = (0..cfg.exporters)
        .map(|i| ExporterTotals {
            address: SocketAddr::new(template.exporter_ip(i), 0).ip().to_string(),
            domain: i + 1,
            ..ExporterTotals::default()
        })
        .collect();
    let mut writer = store.writer(worker)?;
    for (n, flow) in BackfillFlows::new(cfg)?.enumerate() {
        if n % 4096 == 0 && stop.load(Ordering::Relaxed) {
            break;
        }
        writer.append(&flow)?;
        exporters[(flow.domain - 1) as usize].add_flow(&flow);
    }
    writer.finish()?;
    let mut totals =
        Totals { protocol, target: store.dir().display().to_string(), exporters, ..Totals::default() };
    totals.sum_up(started.elapsed().as_secs_f64());
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    const END_MS: u64 = 1_767_225_600_000 + 86_400_000; // 2026-01-02T00:00:00Z

    fn cfg(window_s: u64, rate: f64) -> BackfillConfig {
        BackfillConfig {
            window: Duration::from_secs(window_s),
            end_ms: END_MS,
            flow_rate: rate,
            exporters: 3,
            protocol: FlowSource::Ipfix,
            scenario: Scenario::Mix,
            sampling: 1,
            ipv6_fraction: 0.0,
            seed: 4,
        }
    }

    #[test]
    fn curve_averages_to_one_and_peaks_in_the_afternoon() {
        let mean: f64 = (0..86_400).step_by(60).map(daily_curve).sum::<f64>() / 1440.0;
        assert!((mean - 1.0).abs() < 1e-9);
        assert!(daily_curve(15 * 3600) > 1.5 && daily_curve(3 * 3600) < 0.5);
    }

    #[test]
    fn a_day_of_flows_follows_the_rate_and_the_curve() {
        let flows: Vec<Flow> = BackfillFlows::new(cfg(86_400, 2.0)).unwrap().collect();
        let n = flows.len() as f64;
        assert!((n / 172_800.0 - 1.0).abs() < 0.02, "{n} flows for 2/s over a day");
        let start_ms = END_MS - 86_400_000;
        assert!(flows.windows(2).all(|w| w[0].received_ms <= w[1].received_ms));
        assert!(flows.iter().all(|f| (start_ms..END_MS).contains(&f.received_ms)));
        assert!(flows.iter().all(|f| f.last_ms <= f.received_ms && f.source == FlowSource::Ipfix));
        let in_hour = |h: u64| {
            let from = start_ms + h * 3_600_000;
            flows.iter().filter(|f| (from..from + 3_600_000).contains(&f.received_ms)).count()
        };
        assert!(in_hour(15) > 3 * in_hour(3), "afternoon {} night {}", in_hour(15), in_hour(3));
        let exporters: std::collections::HashSet<_> = flows.iter().map(|f| f.exporter).collect();
        assert_eq!(exporters.len(), 3);
    }

    #[test]
    fn low_rates_still_produce_flows() {
        let flows = BackfillFlows::new(cfg(3600, 0.05)).unwrap().count();
        assert!((100..300).contains(&flows), "{flows}");
    }

    #[test]
    fn writes_through_the_store_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Default::default()).unwrap();
        let stop = AtomicBool::new(false);
        let t = backfill(&store, 0, cfg(600, 10.0), &stop).unwrap();
        let expected: Vec<Flow> = BackfillFlows::new(cfg(600, 10.0)).unwrap().collect();
        assert_eq!(t.flows, expected.len() as u64);
        assert_eq!(t.packets, expected.iter().map(|f| f.packets).sum::<u64>());
        assert_eq!(t.exporters.iter().map(|e| e.flows).sum::<u64>(), t.flows);
        assert_eq!(t.datagrams, 0);
    }

    #[test]
    fn rejects_nonsense() {
        assert!(BackfillFlows::new(cfg(0, 1.0)).is_err());
        assert!(BackfillFlows::new(cfg(60, 0.0)).is_err());
    }
}
