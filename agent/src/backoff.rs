//! Capped exponential backoff with jitter, for reconnecting to central.

use std::time::Duration;

use rand::Rng as _;

/// 0.5 s doubling to 30 s, each delay ±20 %.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            next: initial,
        }
    }

    /// The next delay (jittered), and doubles the one after it up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(self.max);
        base.mul_f64(rand::thread_rng().gen_range(0.8..=1.2))
    }

    /// Back to the initial delay, after a success.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn doubles_caps_jitters_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<Duration> = (0..10).map(|_| backoff.next_delay()).collect();
        let bases = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0];
        for (delay, base) in delays.iter().zip(bases) {
            let seconds = delay.as_secs_f64();
            assert!(
                seconds >= base * 0.8 - 1e-9 && seconds <= base * 1.2 + 1e-9,
                "{seconds} vs {base}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(600));
    }
}
