//! The agent work queue (types) and the wake-up signal for long-polls.
//!
//! Rows live in the `work` table (see `crate::store`): one per grant or cleanup, per
//! cluster. An agent claims the oldest claimable row of its own cluster with a lease;
//! an expired lease makes the row claimable again; completion names the lease token, so
//! a late report from a lost lease is refused, and completing a finished row again is a
//! no-op. Rows of one request are handed out in order: a cleanup is never claimable while
//! an earlier grant of the same request is unfinished.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::domain::{AccessRequest, RequestId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    Grant,
    Cleanup,
}

impl WorkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Grant => "grant",
            WorkKind::Cleanup => "cleanup",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "grant" => Some(WorkKind::Grant),
            "cleanup" => Some(WorkKind::Cleanup),
            _ => None,
        }
    }
}

impl fmt::Display for WorkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A claimed piece of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub id: i64,
    pub cluster: String,
    pub kind: WorkKind,
    pub request_id: RequestId,
    /// The request as it was when the item was claimed (read in the claim's transaction).
    pub request: AccessRequest,
    pub attempt: i64,
    /// Proof of the lease; completion must present it.
    pub lease_token: String,
    pub lease_until: DateTime<Utc>,
}

/// What the agent reports for a claimed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkOutcome {
    Succeeded,
    Failed { error: String },
}

/// How a completion was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The result was recorded now.
    Recorded,
    /// The row was already finished; nothing changed (a repeated report).
    AlreadyDone,
    /// A failed cleanup went back to the queue, to be retried at the given time.
    RetryScheduled,
}

/// Delay before retry number `attempt` (1-based) of a failed cleanup: 5 s doubling, at most 5 min.
pub fn cleanup_backoff(attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.clamp(1, 16) - 1).unwrap_or(0);
    Duration::from_secs(5u64.saturating_mul(1 << exponent).min(300))
}

/// Wakes long-polls waiting for a cluster's work. In-process; on PostgreSQL the store also
/// forwards `LISTEN/NOTIFY` into it so replicas wake each other.
#[derive(Debug, Clone, Default)]
pub struct WorkSignal {
    clusters: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
}

impl WorkSignal {
    fn sender(&self, cluster: &str) -> watch::Sender<u64> {
        let mut clusters = self
            .clusters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clusters
            .entry(cluster.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }

    /// Wakes every waiter of `cluster`.
    pub fn notify(&self, cluster: &str) {
        self.sender(cluster).send_modify(|generation| *generation += 1);
    }

    /// Subscribe *before* looking for work; `changed()` then resolves on any later notify.
    pub fn subscribe(&self, cluster: &str) -> watch::Receiver<u64> {
        self.sender(cluster).subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(cleanup_backoff(1), Duration::from_secs(5));
        assert_eq!(cleanup_backoff(2), Duration::from_secs(10));
        assert_eq!(cleanup_backoff(4), Duration::from_secs(40));
        assert_eq!(cleanup_backoff(100), Duration::from_secs(300));
    }

    #[tokio::test]
    async fn a_notify_after_subscribe_wakes_the_waiter() {
        let signal = WorkSignal::default();
        let mut receiver = signal.subscribe("prod");
        signal.notify("other");
        assert!(!receiver.has_changed().unwrap());
        signal.notify("prod");
        receiver.changed().await.unwrap();
    }
}
