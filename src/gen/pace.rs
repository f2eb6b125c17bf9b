//! Rate control: a token bucket refilled from a monotonic clock.
//!
//! Tokens are whatever unit the rate is in (datagrams or flows). The bucket
//! holds at most `capacity` tokens, enough to absorb the oversleep of one
//! `sleep` call without losing rate, small enough that a stall is not followed
//! by a long burst. Over any long interval the sender gets exactly `rate`
//! tokens per second, so the average rate is exact as long as the sender keeps up.

use std::time::{Duration, Instant};

/// How long a bucket's worth of tokens lasts at the configured rate.
const BURST: Duration = Duration::from_millis(50);
/// Below this, spinning (with `yield_now`) is more precise than `sleep`.
const SPIN_BELOW: Duration = Duration::from_micros(200);

#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A bucket for `rate` tokens per second that starts with one token; its capacity
    /// is at least `min_capacity` (the largest single withdrawal).
    pub fn new(rate: f64, min_capacity: f64, now: Instant) -> TokenBucket {
        let rate = rate.max(1e-3);
        let capacity = (rate * BURST.as_secs_f64()).max(min_capacity).max(1.0);
        TokenBucket { rate, capacity, tokens: 1.0_f64.min(capacity), last: now }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
        self.last = now;
    }

    /// Whole tokens available at `now`.
    pub fn available(&mut self, now: Instant) -> u64 {
        self.refill(now);
        self.tokens.max(0.0) as u64
    }

    /// Spends `n` tokens (call after `available` said they were there).
    pub fn take(&mut self, n: f64) {
        self.tokens -= n;
    }

    /// How long until `n` tokens are available (zero if they are now).
    pub fn wait_for(&mut self, n: f64, now: Instant) -> Duration {
        self.refill(now);
        let missing = n.min(self.capacity) - self.tokens;
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / self.rate)
        }
    }
}

/// Waits about `d`: sleeps for long waits, yields for short ones (sleep overshoots by ~60 µs).
pub fn pause(d: Duration) {
    if d >= SPIN_BELOW {
        std::thread::sleep(d - SPIN_BELOW / 2);
    } else if !d.is_zero() {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_rate_up_to_capacity() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000.0, 1.0, t0);
        assert_eq!(b.available(t0), 1);
        b.take(1.0);
        assert_eq!(b.available(t0 + Duration::from_millis(10)), 10);
        b.take(10.0);
        // 50 ms of tokens at most, however long the pause.
        assert_eq!(b.available(t0 + Duration::from_secs(5)), 50);
    }

    #[test]
    fn exact_over_many_small_withdrawals() {
        // Simulated clock: take tokens as soon as they exist, in batches of up to 7.
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2000.0, 7.0, t0);
        let mut now = t0;
        let mut sent = 0u64;
        while now < t0 + Duration::from_secs(10) {
            let n = b.available(now).min(7);
            if n > 0 {
                b.take(n as f64);
                sent += n;
            } else {
                now += b.wait_for(1.0, now) + Duration::from_micros(37);
            }
        }
        assert!((19_990..=20_010).contains(&sent), "sent {sent}");
    }

    #[test]
    fn wait_for_is_the_missing_tokens_over_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100.0, 10.0, t0);
        b.take(1.0);
        assert_eq!(b.wait_for(5.0, t0), Duration::from_millis(50));
        assert_eq!(b.wait_for(5.0, t0 + Duration::from_millis(60)), Duration::ZERO);
        // Asking for more than the capacity waits for a full bucket, not forever.
        assert!(b.wait_for(1e9, t0 + Duration::from_millis(60)) <= Duration::from_millis(100));
    }
}
