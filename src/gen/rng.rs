//! The small amount of randomness the traffic model needs, on top of a
//! seeded `SmallRng`: heavy-tailed sizes and weighted picks. Written here
//! (not `rand_distr`) to keep the dependency list short.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A seeded generator; the same seed always gives the same sequence on one build.
pub struct Dice {
    rng: SmallRng,
}

impl Dice {
    pub fn new(seed: u64) -> Dice {
        Dice { rng: SmallRng::seed_from_u64(seed) }
    }

    #[inline]
    pub fn below(&mut self, n: u32) -> u32 {
        self.rng.gen_range(0..n.max(1))
    }

    #[inline]
    pub fn range(&mut self, lo: u32, hi_inclusive: u32) -> u32 {
        self.rng.gen_range(lo..=hi_inclusive)
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn unit(&mut self) -> f64 {
        self.rng.gen::<f64>()
    }

    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    #[inline]
    pub fn u32(&mut self) -> u32 {
        self.rng.gen()
    }

    #[inline]
    pub fn u64(&mut self) -> u64 {
        self.rng.gen()
    }

    /// Pareto with minimum `xm` and shape `alpha` (alpha near 1: very heavy tail).
    pub fn pareto(&mut self, xm: f64, alpha: f64) -> f64 {
        // 1 - U is in (0, 1], so the power is finite.
        xm / (1.0 - self.unit()).powf(1.0 / alpha)
    }

    /// Standard normal by Box–Muller.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal with the given median and log-space spread.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Index into `weights` with probability proportional to each weight.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut pick = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if pick < w {
                return i;
            }
            pick -= w;
        }
        weights.len() - 1
    }
}

/// Derives independent seeds (exporter 0, 1, ...) from one user seed (splitmix64).
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed.wrapping_add(stream.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Dice::new(7);
        let mut b = Dice::new(7);
        let xs: Vec<u64> = (0..8).map(|_| a.u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(derive_seed(7, 0), derive_seed(7, 1));
    }

    #[test]
    fn pareto_is_heavy_tailed_and_bounded_below() {
        let mut d = Dice::new(1);
        let xs: Vec<f64> = (0..20_000).map(|_| d.pareto(1.0, 1.2)).collect();
        assert!(xs.iter().all(|&x| x >= 1.0));
        let mut sorted = xs.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let median = sorted[sorted.len() / 2];
        let top = sorted[sorted.len() - 20];
        // Median of Pareto(1, 1.2) is 2^(1/1.2) ≈ 1.78; the top 0.1% is far above it.
        assert!((1.5..2.1).contains(&median), "median {median}");
        assert!(top > 100.0 * median, "top {top}");
    }

    #[test]
    fn weighted_follows_weights() {
        let mut d = Dice::new(3);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[d.weighted(&[1, 0, 2])] += 1;
        }
        assert_eq!(counts[1], 0);
        let ratio = counts[2] as f64 / counts[0] as f64;
        assert!((1.8..2.2).contains(&ratio), "ratio {ratio}");
    }
}
