//! The `Clock` port: the only place in Janus that reads the system clock or waits.
//!
//! Domain code takes `now` as a parameter; services that need the time hold an
//! `Arc<dyn Clock>`. Production uses [`SystemClock`]; tests use [`ManualClock`] and move
//! time forward explicitly, so expiry tests never sleep.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use crate::time::truncate_to_micros;

/// A source of the current time and of waiting.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time, truncated to microseconds (the precision both databases keep).
    fn now(&self) -> DateTime<Utc>;
    /// Waits until `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> futures::future::BoxFuture<'static, ()>;
    /// Waits until this clock reads `deadline` or later. Unlike `sleep(deadline - now)`,
    /// time that passes between reading the clock and calling this is not added twice.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> futures::future::BoxFuture<'static, ()> {
        self.sleep((deadline - self.now()).to_std().unwrap_or_default())
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the clock adapter is the one place that reads the system clock"
    )]
    fn now(&self) -> DateTime<Utc> {
        truncate_to_micros(Utc::now())
    }

    #[expect(
        clippy::disallowed_methods,
        reason = "the clock adapter is the one place that waits on real time"
    )]
    fn sleep(&self, duration: Duration) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that only moves when told to. `sleep` resolves once `advance` has moved the
/// clock past the sleeper's deadline.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<DateTime<Utc>>>,
    changed: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        let start = truncate_to_micros(start);
        let (changed, _) = watch::channel(start);
        Self {
            inner: Arc::new(Mutex::new(start)),
            changed,
        }
    }

    /// A fixed, readable starting point for tests: 2030-01-01T00:00:00Z.
    pub fn at_epoch() -> Self {
        Self::new(DateTime::from_timestamp(1_893_456_000, 0).unwrap_or_default())
    }

    pub fn advance(&self, by: Duration) {
        let delta = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        let now = {
            let mut guard = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *guard += delta;
            *guard
        };
        self.changed.send_replace(now);
    }

    pub fn advance_secs(&self, seconds: u64) {
        self.advance(Duration::from_secs(seconds));
    }

    /// How many sleepers (and other watchers) wait on this clock now: a test advances the clock
    /// once the code under test is known to be waiting, instead of guessing.
    pub fn waiters(&self) -> usize {
        self.changed.receiver_count()
    }

    pub fn set(&self, to: DateTime<Utc>) {
        let to = truncate_to_micros(to);
        *self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = to;
        self.changed.send_replace(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sleep(&self, duration: Duration) -> futures::future::BoxFuture<'static, ()> {
        let deadline = self.now() + TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX);
        let mut receiver = self.changed.subscribe();
        Box::pin(async move {
            // `wait_for` checks the current value first, so an advance that happened
            // between `now()` and here is not missed.
            let _ = receiver.wait_for(|now| *now >= deadline).await;
        })
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> futures::future::BoxFuture<'static, ()> {
        let mut receiver = self.changed.subscribe();
        Box::pin(async move {
            let _ = receiver.wait_for(|now| *now >= deadline).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleep_resolves_only_after_advance() {
        let clock = ManualClock::at_epoch();
        let start = clock.now();
        let mut sleeper = Box::pin(clock.sleep(Duration::from_secs(10)));
        assert!(futures::poll!(&mut sleeper).is_pending());
        clock.advance_secs(9);
        assert!(futures::poll!(&mut sleeper).is_pending());
        clock.advance_secs(1);
        sleeper.await;
        assert_eq!(clock.now() - start, TimeDelta::seconds(10));
    }
}
