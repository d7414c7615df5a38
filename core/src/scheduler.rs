//! The scheduler: everything that happens because time passed.
//!
//! Each [`Scheduler::tick`] (every second in `janus serve`, on demand in tests with a
//! manual clock):
//! 1. expires Active requests at `expires_at` (→ Expired, cleanup queued);
//! 2. auto-denies requests Pending longer than `pendingExpirySeconds` (when not 0);
//! 3. fails requests Approved longer than `grantTimeoutSeconds` (→ Failed, cleanup queued);
//! 4. puts failed cleanups whose backoff has passed back on the queue, and queues cleanup
//!    for any ended request whose credentials are not yet `cleaned`;
//! 5. queues the "your access ends in 10 minutes" message for Active requests (once per
//!    expiry, so an extension earns a new one);
//! 6. purges ended requests older than `retentionSeconds` whose credentials are settled
//!    (the audit log is kept).
//!
//! **Invariant:** with PostgreSQL only the process holding the scheduler advisory lock
//! ticks; the others return at once. Each action goes through the workflow with the state
//! it expects, so even a stray second scheduler could not apply one twice.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::{Command, RequestId, RequestState};
use crate::store::StoreError;
use crate::workflow::{Workflow, WorkflowError};

const BATCH: i64 = 500;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// False when another process holds the scheduler lock; nothing was done.
    pub leader: bool,
    pub expired: u64,
    pub auto_denied: u64,
    pub timed_out: u64,
    /// Clusters whose agents were woken for requeued cleanup.
    pub cleanup_clusters: Vec<String>,
    pub purged: u64,
    /// Requesters warned that their access ends soon (one notice per chat channel).
    pub expiry_warnings: u64,
}

#[derive(Debug, Clone)]
pub struct Scheduler {
    workflow: Workflow,
    interval: Duration,
}

impl Scheduler {
    pub fn new(workflow: Workflow) -> Self {
        Scheduler {
            workflow,
            interval: Duration::from_secs(1),
        }
    }

    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Ticks every interval until `shutdown` resolves, then gives up leadership.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.tick().await {
                Ok(report) if report != TickReport::default() && report.leader => {
                    tracing::debug!(?report, "scheduler tick");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "scheduler tick failed; retrying next interval"),
            }
            tokio::select! {
                () = self.workflow.clock().sleep(self.interval) => {}
                () = &mut shutdown => break,
            }
        }
        self.workflow.store().step_down().await;
    }

    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let store = self.workflow.store();
        if !store.try_lead().await? {
            return Ok(TickReport::default());
        }
        let policy = self.workflow.policy();
        let mut report = TickReport {
            leader: true,
            ..TickReport::default()
        };
        let mut worst_lag_ms = None;
        loop {
            let now = self.workflow.clock().now();
            let pending_before =
                (policy.pending_expiry_seconds > 0).then(|| ago(now, policy.pending_expiry_seconds));
            let approved_before = ago(now, policy.grant_timeout_seconds);
            let due = store.due(now, pending_before, approved_before, BATCH).await?;
            let full = [&due.to_expire, &due.to_auto_deny, &due.to_time_out]
                .iter()
                .any(|ids| ids.len() as i64 >= BATCH);
            // One transaction per kind and batch: every request still gets its own
            // guarded transition and audit event, but not its own commit.
            let expired = self
                .act(&due.to_expire, RequestState::Active, Command::Expire)
                .await?;
            for request in &expired {
                if let Some(expires_at) = request.expires_at {
                    let lag = (now - expires_at).num_milliseconds();
                    worst_lag_ms = Some(worst_lag_ms.map_or(lag, |worst: i64| worst.max(lag)));
                }
            }
            let denied = self
                .act(&due.to_auto_deny, RequestState::Pending, Command::AutoDeny)
                .await?;
            let failed = self
                .act(&due.to_time_out, RequestState::Approved, Command::GrantTimeout)
                .await?;
            report.expired += expired.len() as u64;
            report.auto_denied += denied.len() as u64;
            report.timed_out += failed.len() as u64;
            // Go round again only while full batches make progress.
            let progress = !(expired.is_empty() && denied.is_empty() && failed.is_empty());
            if !full || !progress {
                break;
            }
        }
        let now = self.workflow.clock().now();
        report.cleanup_clusters = store.requeue_cleanups(now).await?;
        for cluster in &report.cleanup_clusters {
            self.workflow.signal().notify(cluster);
        }
        report.expiry_warnings = store
            .queue_expiry_warnings(
                &policy.notify_channels,
                now,
                crate::domain::later(now, crate::domain::notify::EXPIRY_WARNING_SECONDS),
            )
            .await?;
        if report.expiry_warnings > 0 {
            self.workflow.outbox_signal().notify_one();
        }
        report.purged = store.purge_finished(ago(now, policy.retention_seconds)).await?;
        self.workflow.metrics().scheduler_tick(worst_lag_ms);
        Ok(report)
    }

    /// Applies one scheduled command to a batch; requests someone else moved first are
    /// skipped, and a batch that collided with another writer is retried next tick.
    async fn act(
        &self,
        ids: &[RequestId],
        expected: RequestState,
        command: Command,
    ) -> Result<Vec<crate::domain::AccessRequest>, StoreError> {
        match self.workflow.execute_batch(ids, expected, command).await {
            Ok(requests) => Ok(requests),
            Err(WorkflowError::Store(error)) => Err(error),
            Err(
                WorkflowError::Refused(_)
                | WorkflowError::NotFound(_)
                | WorkflowError::Conflict
                | WorkflowError::LeaseLost,
            ) => Ok(Vec::new()),
        }
    }
}

/// `now - seconds`, saturating at the earliest representable time (a huge configured
/// duration means "never", not a panic).
fn ago(now: DateTime<Utc>, seconds: u64) -> DateTime<Utc> {
    i64::try_from(seconds)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|delta| now.checked_sub_signed(delta))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
