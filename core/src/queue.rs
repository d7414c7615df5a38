//! The agent work queue (types) and the wake-up signal for long-polls.
//!
//! Rows live in the `work` table (see `crate::store`): one per grant or cleanup, per
//! cluster. An agent claims the oldest claimable row of its own cluster with a lease;
//! an expired lease makes the row claimable again; completion names the lease token, so
//! a late report from a lost lease is refused, and completing a finished row again is a
//! no-op. Rows of one request are handed out in order: a cleanup is never claimable while
//! an earlier grant of the same request is unfinished.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

pub use janus_wire::agent_protocol::WorkKind;
use janus_wire::agent_protocol::{ReportAck, ReportOutcome, WorkReport};

use crate::domain::{AccessRequest, RequestId};

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

impl WorkOutcome {
    /// What an agent's report states; a failure without a reason gets one that says so.
    pub fn from_report(report: &WorkReport) -> WorkOutcome {
        match report.outcome {
            ReportOutcome::Succeeded => WorkOutcome::Succeeded,
            ReportOutcome::Failed => WorkOutcome::Failed {
                error: report
                    .error
                    .clone()
                    .unwrap_or_else(|| "the agent reported a failure without a reason".to_owned()),
            },
        }
    }
}

impl Completion {
    /// The wire form of this completion, as the agent reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Completion::Recorded => "recorded",
            Completion::AlreadyDone => "already_done",
            Completion::RetryScheduled => "retry_scheduled",
        }
    }

    /// The acknowledgement sent back to the agent.
    pub fn ack(self) -> ReportAck {
        ReportAck {
            status: self.as_str().to_owned(),
        }
    }
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

    #[test]
    fn a_report_becomes_an_outcome_and_a_completion_an_ack() {
        let report = |outcome, error: Option<&str>| WorkReport {
            lease_token: "lease".to_owned(),
            outcome,
            error: error.map(str::to_owned),
        };
        assert_eq!(
            WorkOutcome::from_report(&report(ReportOutcome::Succeeded, None)),
            WorkOutcome::Succeeded
        );
        assert_eq!(
            WorkOutcome::from_report(&report(ReportOutcome::Failed, Some("Forbidden: no bind"))),
            WorkOutcome::Failed {
                error: "Forbidden: no bind".to_owned()
            }
        );
        assert_eq!(
            WorkOutcome::from_report(&report(ReportOutcome::Failed, None)),
            WorkOutcome::Failed {
                error: "the agent reported a failure without a reason".to_owned()
            }
        );
        let statuses = [
            Completion::Recorded,
            Completion::AlreadyDone,
            Completion::RetryScheduled,
        ]
        .map(|completion| completion.ack().status);
        assert_eq!(statuses, ["recorded", "already_done", "retry_scheduled"]);
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
