//! The key-lifecycle arithmetic, kept pure so it can be checked without a clock.

use rand::Rng;
use std::time::Duration;

/// The lifecycle numbers (see `[superkey]` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct KeeperSettings {
    /// Lifetime of a key, counted from the moment its creation request was sent.
    pub ttl: Duration,
    /// Fraction of `ttl` after which the key is replaced.
    pub renew_at: f64,
    /// Random +- offset of the renewal, as a fraction of `ttl`.
    pub jitter: f64,
    /// A key is never sent after `expiry - margin`.
    pub margin: Duration,
    /// First delay after a failed creation; doubles per failure.
    pub backoff_base: Duration,
    /// Cap of the delay between creation attempts.
    pub backoff_max: Duration,
}

impl Default for KeeperSettings {
    fn default() -> Self {
        KeeperSettings {
            ttl: Duration::from_secs(15 * 60),
            renew_at: 0.667,
            jitter: 0.05,
            margin: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
        }
    }
}

impl KeeperSettings {
    /// How long after sending the creation request the key may still be sent.
    pub fn usable_for(&self) -> Duration {
        self.ttl.saturating_sub(self.margin)
    }

    /// Delay from the creation send instant to the planned renewal, jittered by
    /// `jitter * ttl` either way and always strictly inside the usable window.
    pub fn renew_after(&self, rng: &mut impl Rng) -> Duration {
        let ttl = self.ttl.as_secs_f64();
        let offset = if self.jitter > 0.0 {
            rng.gen_range(-self.jitter..=self.jitter)
        } else {
            0.0
        };
        let planned = (self.renew_at + offset) * ttl;
        // Configuration validation guarantees room; clamp anyway so that a renewal is never
        // planned after the key stops being usable, nor before it was created.
        let latest = self.usable_for().as_secs_f64() * 0.95;
        Duration::from_secs_f64(planned.clamp(0.0, latest.max(0.0)))
    }

    /// Delay before creation attempt number `failures + 1` after `failures` failures in a row
    /// (`failures >= 1`): a random point in the upper half of `base * 2^(failures-1)`, capped at
    /// `backoff_max`. The lower half is cut off so that a retry never follows without delay.
    pub fn backoff(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let ceiling = self
            .backoff_base
            .saturating_mul(1u32 << exp)
            .min(self.backoff_max)
            .max(Duration::from_millis(10));
        let low = ceiling / 2;
        Duration::from_secs_f64(rng.gen_range(low.as_secs_f64()..=ceiling.as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn renewal_stays_within_the_jitter_band_at_default_numbers() {
        let s = KeeperSettings::default();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..10_000 {
            let d = s.renew_after(&mut rng).as_secs_f64();
            // 0.667 * 900 = 600.3 s, +- 45 s
            assert!((555.0..=645.6).contains(&d), "{d}");
        }
    }

    #[test]
    fn renewal_is_clamped_inside_the_usable_window() {
        let s = KeeperSettings {
            ttl: Duration::from_secs(10),
            renew_at: 0.95,
            jitter: 0.04,
            margin: Duration::from_secs(1),
            ..Default::default()
        };
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            assert!(s.renew_after(&mut rng) < s.usable_for());
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_never_reaches_zero() {
        let s = KeeperSettings::default();
        let mut rng = StdRng::seed_from_u64(3);
        for failures in 1..40 {
            let ceiling = (1u64 << (failures - 1).min(30)).min(30) as f64;
            for _ in 0..200 {
                let d = s.backoff(failures, &mut rng).as_secs_f64();
                assert!(d >= ceiling / 2.0 && d <= ceiling, "{failures}: {d}");
            }
        }
    }
}
