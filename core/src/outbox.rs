//! Delivering the notification outbox (DESIGN §7): the `Notifier` port and its worker.
//!
//! A change and the chat messages it implies commit together (`domain::notify`); this
//! worker hands each notice to the adapter of its channel (Slack, Discord) and records the
//! outcome. A rate limit waits exactly as long as the service asked; other failures retry
//! with a capped backoff; a refusal that retrying cannot fix (a channel that does not
//! exist) is given up and logged. After a restart, leased notices are picked up again once
//! their lease runs out, so an outage or a crash delays a card update but never loses it.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{AccessRequest, NoticeKind};
use crate::store::StoreError;
use crate::workflow::{Workflow, WorkflowError};

pub use crate::store::{ChatMessageRef, OutboxItem};

/// Why a delivery did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The service asked us to wait (HTTP 429 `Retry-After`).
    #[error("rate limited; retry after {0:?}")]
    RetryAfter(Duration),
    /// Worth retrying: a timeout, a 5xx, a connection refused.
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot fix it (unknown channel, revoked token); given up and logged.
    #[error("{0}")]
    Permanent(String),
}

/// A chat adapter: turns a notice about `request` (as it is now) into messages.
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug {
    /// The channel name this adapter serves (`slack`, `discord`).
    fn channel(&self) -> &'static str;

    async fn deliver(&self, item: &OutboxItem, request: &AccessRequest) -> Result<(), DeliveryError>;
}

/// How long a claimed notice stays reserved for this worker.
const LEASE: Duration = Duration::from_secs(60);
const BATCH: i64 = 32;
/// The longest the worker waits without looking (other replicas may have queued notices).
const IDLE: Duration = Duration::from_secs(5);
const MAX_BACKOFF_SECONDS: u64 = 300;

/// Delivers outbox notices through the registered notifiers.
#[derive(Debug, Clone)]
pub struct OutboxWorker {
    workflow: Workflow,
    notifiers: BTreeMap<&'static str, Arc<dyn Notifier>>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
}

impl PassReport {
    pub fn attempted(&self) -> usize {
        self.delivered + self.retried + self.failed
    }
}

impl OutboxWorker {
    pub fn new(workflow: Workflow) -> Self {
        OutboxWorker {
            workflow,
            notifiers: BTreeMap::new(),
        }
    }

    pub fn with(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifiers.insert(notifier.channel(), notifier);
        self
    }

    /// Claims one batch of due notices and delivers them in order.
    pub async fn run_once(&self) -> Result<PassReport, WorkflowError> {
        let store = self.workflow.store();
        let now = self.workflow.clock().now();
        let lease_until = crate::domain::later(now, LEASE.as_secs());
        let items = store.claim_notices(now, lease_until, BATCH).await?;
        let mut report = PassReport::default();
        for item in items {
            match self.deliver(&item).await? {
                Outcome::Delivered => report.delivered += 1,
                Outcome::Retry => report.retried += 1,
                Outcome::Failed => report.failed += 1,
            }
        }
        Ok(report)
    }

    async fn deliver(&self, item: &OutboxItem) -> Result<Outcome, StoreError> {
        let store = self.workflow.store();
        let clock = self.workflow.clock();
        let Some(notifier) = self.notifiers.get(item.channel.as_str()) else {
            store
                .notice_failed(item.id, "no adapter is running for this channel", clock.now())
                .await?;
            return Ok(Outcome::Failed);
        };
        // Read which card notices are queued before reading the request: the card then
        // shows at least every change those notices announce, so one update settles them.
        let up_to = match item.kind {
            NoticeKind::Card => store
                .newest_open_notice(&item.channel, item.request_id.as_str(), item.kind)
                .await?
                .unwrap_or(item.id),
            _ => item.id,
        };
        let Some(request) = store.get_request(&item.request_id).await? else {
            store
                .notice_failed(item.id, "the request no longer exists", clock.now())
                .await?;
            return Ok(Outcome::Failed);
        };
        let result = notifier.deliver(item, &request).await;
        let now = clock.now();
        match result {
            Ok(()) => {
                store.notices_delivered(item, up_to, now).await?;
                self.workflow.metrics().notice("delivered");
                Ok(Outcome::Delivered)
            }
            Err(DeliveryError::RetryAfter(wait)) => {
                let at = now + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX);
                tracing::info!(channel = %item.channel, request_id = %item.request_id, ?wait,
                    "chat service rate-limited a notice; retrying when it said");
                store.notice_retry(item.id, at, "rate limited").await?;
                self.workflow.metrics().notice("rate_limited");
                Ok(Outcome::Retry)
            }
            Err(DeliveryError::Transient(error)) => {
                let wait = backoff_seconds(item.attempts);
                tracing::warn!(channel = %item.channel, request_id = %item.request_id, %error,
                    retry_in_seconds = wait, "could not deliver a notice; will retry");
                store
                    .notice_retry(item.id, crate::domain::later(now, wait), &error)
                    .await?;
                self.workflow.metrics().notice("retried");
                Ok(Outcome::Retry)
            }
            Err(DeliveryError::Permanent(error)) => {
                tracing::error!(channel = %item.channel, request_id = %item.request_id, %error,
                    "a notice cannot be delivered; giving up");
                store.notice_failed(item.id, &error, now).await?;
                self.workflow.metrics().notice("failed");
                Ok(Outcome::Failed)
            }
        }
    }

    /// Delivers until `shutdown` resolves: at once when a change queues notices, when a
    /// retry falls due, and every few seconds for notices queued by other replicas.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let signal = self.workflow.outbox_signal();
        loop {
            let busy = match self.run_once().await {
                Ok(report) => report.attempted() > 0,
                Err(error) => {
                    tracing::warn!(%error, "outbox pass failed");
                    false
                }
            };
            if busy {
                continue;
            }
            let clock = self.workflow.clock();
            let idle_until = crate::domain::later(clock.now(), IDLE.as_secs());
            let wake_at = match self.workflow.store().next_notice_due().await {
                Ok(Some(at)) => at.min(idle_until),
                Ok(None) | Err(_) => idle_until,
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = signal.notified() => {}
                () = clock.sleep_until(wake_at) => {}
            }
        }
    }
}

enum Outcome {
    Delivered,
    Retry,
    Failed,
}

/// 1 s, 2 s, 4 s, … up to five minutes.
fn backoff_seconds(attempts: i64) -> u64 {
    let exponent = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    2u64.saturating_pow(exponent).min(MAX_BACKOFF_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::backoff_seconds;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_seconds(0), 1);
        assert_eq!(backoff_seconds(3), 8);
        assert_eq!(backoff_seconds(40), 300);
        assert_eq!(backoff_seconds(-1), 1);
    }
}
