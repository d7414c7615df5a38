//! The agent work queue (types) and the wake-up signal for long-polls.
//!
//! Rows live in the `work` table (see `crate::store`): one per grant or cleanup, per
//! cluster. An agent claims the oldest claimable row of its own cluster with a lease;
//! an expired lease makes the row claimable again; completion names the lease token, so
//! a late report from a lost lease is refused, and completing a finished row again is a
//! no-op. Rows of one request are handed out in order: a cleanup is never claimable while
//! an earlier grant of the same request is unfinished.
//!
//! The rules of a row's life are the pure functions below ([`claim_decision`],
//! [`check_completion`], [`settle_request`], [`after_result`]); the store reads and locks the
//! rows, asks them what happens, and writes the answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

pub use janus_wire::agent_protocol::WorkKind;
use janus_wire::agent_protocol::{ReportAck, ReportOutcome, WorkReport};

use crate::domain::{AccessRequest, DomainError, RequestId, RequestState};

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

/// The longest agent error kept on a work row, in characters.
pub const MAX_WORK_ERROR_CHARS: usize = 1000;

/// A work row's status (`work.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkStatus {
    /// Waiting to be claimed once `available_at` has passed.
    Queued,
    /// Claimed by an agent until `lease_until`; claimable again after that.
    Leased,
    /// A failed cleanup waiting for its backoff; queued again by the scheduler.
    Retry,
    /// Finished: recorded, skipped or given up.
    Done,
}

impl WorkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkStatus::Queued => "queued",
            WorkStatus::Leased => "leased",
            WorkStatus::Retry => "retry",
            WorkStatus::Done => "done",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "queued" => Some(WorkStatus::Queued),
            "leased" => Some(WorkStatus::Leased),
            "retry" => Some(WorkStatus::Retry),
            "done" => Some(WorkStatus::Done),
            _ => None,
        }
    }
}

/// What a claimer does with the oldest claimable row of its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Hand it out with a fresh lease.
    Lease,
    /// Finish it as skipped (the request no longer needs it) and look at the next one.
    Skip,
}

/// Whether claimable work of `kind` is still wanted by its request, in `state` (`None`: the
/// request was purged): grant work only while the request is Approved or Active; cleanup
/// always, since credentials may be live whatever the request's state.
pub fn claim_decision(kind: WorkKind, state: Option<RequestState>) -> ClaimDecision {
    match (kind, state) {
        (_, None) => ClaimDecision::Skip,
        (WorkKind::Grant, Some(state)) if !matches!(state, RequestState::Approved | RequestState::Active) => {
            ClaimDecision::Skip
        }
        (_, Some(_)) => ClaimDecision::Lease,
    }
}

/// How a reported result meets its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionCheck {
    /// The row is finished already: a repeated report, nothing changes.
    AlreadyDone,
    /// The report holds the live lease: apply it.
    Apply,
}

/// Why a reported result is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionRefusal {
    /// The row belongs to another cluster than the reporting agent's.
    WrongAgent,
    /// The lease expired and the row was handed to someone else (or never leased).
    LeaseLost,
}

/// Checks a report by the agent of `cluster`, presenting `presented_token`, against the row as
/// stored (`row_cluster`, `status`, `stored_token`). Another cluster's row is refused before
/// anything else; a finished row answers [`CompletionCheck::AlreadyDone`]; otherwise the row must
/// be leased with that token (compared in constant time).
pub fn check_completion(
    row_cluster: &str,
    status: WorkStatus,
    stored_token: Option<&str>,
    cluster: &str,
    presented_token: &str,
) -> Result<CompletionCheck, CompletionRefusal> {
    if row_cluster != cluster {
        return Err(CompletionRefusal::WrongAgent);
    }
    if status == WorkStatus::Done {
        return Ok(CompletionCheck::AlreadyDone);
    }
    let token_matches = stored_token.is_some_and(|token| {
        subtle::ConstantTimeEq::ct_eq(token.as_bytes(), presented_token.as_bytes()).into()
    });
    if status != WorkStatus::Leased || !token_matches {
        return Err(CompletionRefusal::LeaseLost);
    }
    Ok(CompletionCheck::Apply)
}

/// What the domain's answer to a result means for the request: a transition to write, nothing
/// (a result the request no longer needs, such as a second cleanup after the first succeeded:
/// the row is finished and nothing else changes), or a refusal that aborts the report.
pub fn settle_request<T>(answer: Result<T, DomainError>) -> Result<Option<T>, DomainError> {
    match answer {
        Ok(transition) => Ok(Some(transition)),
        Err(DomainError::InvalidTransition { .. }) => Ok(None),
        Err(refused) => Err(refused),
    }
}

/// Where a row goes once its result is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkDisposition {
    /// Finished, with the agent's error if it failed.
    Done { error: Option<String> },
    /// A failed cleanup: back to the queue at `available_at`.
    Retry {
        available_at: DateTime<Utc>,
        error: String,
    },
}

impl WorkDisposition {
    pub fn completion(&self) -> Completion {
        match self {
            WorkDisposition::Done { .. } => Completion::Recorded,
            WorkDisposition::Retry { .. } => Completion::RetryScheduled,
        }
    }
}

/// The row's fate after `outcome` on its `attempt`-th claim: a failed cleanup is retried after
/// [`cleanup_backoff`] (credentials must not be left behind); everything else is done. The
/// agent's error is kept, cut to [`MAX_WORK_ERROR_CHARS`].
pub fn after_result(
    kind: WorkKind,
    outcome: &WorkOutcome,
    attempt: i64,
    now: DateTime<Utc>,
) -> WorkDisposition {
    match outcome {
        WorkOutcome::Succeeded => WorkDisposition::Done { error: None },
        WorkOutcome::Failed { error } => {
            let error: String = error.chars().take(MAX_WORK_ERROR_CHARS).collect();
            if kind == WorkKind::Cleanup {
                let backoff = chrono::TimeDelta::from_std(cleanup_backoff(attempt))
                    .unwrap_or(chrono::TimeDelta::minutes(5));
                WorkDisposition::Retry {
                    available_at: now + backoff,
                    error,
                }
            } else {
                WorkDisposition::Done { error: Some(error) }
            }
        }
    }
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

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn grant_work_is_handed_out_only_while_the_request_wants_credentials() {
        for state in RequestState::ALL {
            let wanted = matches!(state, RequestState::Approved | RequestState::Active);
            let expected = if wanted {
                ClaimDecision::Lease
            } else {
                ClaimDecision::Skip
            };
            assert_eq!(claim_decision(WorkKind::Grant, Some(state)), expected, "{state}");
        }
        assert_eq!(claim_decision(WorkKind::Grant, None), ClaimDecision::Skip);
    }

    #[test]
    fn cleanup_work_is_handed_out_whatever_the_state_unless_the_request_is_gone() {
        for state in RequestState::ALL {
            assert_eq!(
                claim_decision(WorkKind::Cleanup, Some(state)),
                ClaimDecision::Lease,
                "{state}"
            );
        }
        assert_eq!(claim_decision(WorkKind::Cleanup, None), ClaimDecision::Skip);
    }

    #[test]
    fn another_clusters_report_is_refused_first() {
        assert_eq!(
            check_completion("prod", WorkStatus::Done, Some("t"), "staging", "t"),
            Err(CompletionRefusal::WrongAgent)
        );
    }

    #[test]
    fn a_repeated_report_of_finished_work_changes_nothing() {
        assert_eq!(
            check_completion("prod", WorkStatus::Done, None, "prod", "stale"),
            Ok(CompletionCheck::AlreadyDone)
        );
    }

    #[test]
    fn only_the_live_lease_may_report() {
        assert_eq!(
            check_completion("prod", WorkStatus::Leased, Some("t1"), "prod", "t1"),
            Ok(CompletionCheck::Apply)
        );
        assert_eq!(
            check_completion("prod", WorkStatus::Leased, Some("t2"), "prod", "t1"),
            Err(CompletionRefusal::LeaseLost)
        );
        assert_eq!(
            check_completion("prod", WorkStatus::Leased, None, "prod", ""),
            Err(CompletionRefusal::LeaseLost)
        );
        for status in [WorkStatus::Queued, WorkStatus::Retry] {
            assert_eq!(
                check_completion("prod", status, Some("t1"), "prod", "t1"),
                Err(CompletionRefusal::LeaseLost)
            );
        }
    }

    #[test]
    fn a_result_the_request_no_longer_needs_settles_nothing() {
        let not_needed = DomainError::InvalidTransition {
            from: RequestState::Expired,
            command: "cleanup_succeeded",
        };
        assert_eq!(settle_request::<()>(Err(not_needed)), Ok(None));
        assert_eq!(settle_request(Ok(7)), Ok(Some(7)));
        assert_eq!(
            settle_request::<()>(Err(DomainError::WrongAgent)),
            Err(DomainError::WrongAgent)
        );
    }

    #[test]
    fn a_failed_cleanup_is_retried_after_its_backoff_and_everything_else_is_done() {
        let failed = WorkOutcome::Failed {
            error: "boom".to_owned(),
        };
        let retry = after_result(WorkKind::Cleanup, &failed, 2, at(0));
        assert_eq!(
            retry,
            WorkDisposition::Retry {
                available_at: at(10),
                error: "boom".to_owned()
            }
        );
        assert_eq!(retry.completion(), Completion::RetryScheduled);
        let grant = after_result(WorkKind::Grant, &failed, 1, at(0));
        assert_eq!(
            grant,
            WorkDisposition::Done {
                error: Some("boom".to_owned())
            }
        );
        assert_eq!(grant.completion(), Completion::Recorded);
        for kind in [WorkKind::Grant, WorkKind::Cleanup] {
            assert_eq!(
                after_result(kind, &WorkOutcome::Succeeded, 1, at(0)),
                WorkDisposition::Done { error: None }
            );
        }
    }

    #[test]
    fn agent_errors_are_cut_to_a_thousand_characters() {
        let long = WorkOutcome::Failed {
            error: "é".repeat(1500),
        };
        let WorkDisposition::Done { error: Some(error) } = after_result(WorkKind::Grant, &long, 1, at(0))
        else {
            panic!("a failed grant is done");
        };
        assert_eq!(error.chars().count(), MAX_WORK_ERROR_CHARS);
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            WorkStatus::Queued,
            WorkStatus::Leased,
            WorkStatus::Retry,
            WorkStatus::Done,
        ] {
            assert_eq!(WorkStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(WorkStatus::parse("lost"), None);
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
