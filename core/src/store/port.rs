//! The store port: what the workflow, the scheduler, the outbox worker and the accounts service
//! need from a database, as role traits, and [`StoreBackend`], the one trait a backend implements
//! (every role plus its lifecycle). [`super::Store`] is a cheap handle to one backend, picked once
//! from the URL.
//!
//! The domain decides inside the transaction: the closures ([`BuildRequest`], [`ApplyToRequest`],
//! [`ApplyToEach`], [`ApplyResult`]) run the pure domain function on what the store read under
//! lock, and the store writes what they return.

use std::any::Any;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    AccountStore, AgentStore, Backend, DiscordStore, DueWork, OutboxStore, QueueDepth, QuickCommandStore,
    RecordingStore, RequestFilter, SearchStore, StoreError,
};
use crate::audit::AuditRecord;
use crate::domain::{
    AccessRequest, DomainError, NewEvent, RequestId, RequestState, Transition, UserActivity,
};
use crate::queue::{Completion, WorkItem, WorkKind, WorkOutcome, WorkSignal};

/// Builds a new request from the requester's current activity and the cluster's known
/// namespaces (`None`: no agent reported any yet), inside the insert's transaction.
pub type BuildRequest<'a> =
    Box<dyn FnOnce(&UserActivity, Option<&[String]>) -> Result<Transition, DomainError> + Send + 'a>;

/// Applies a command to the locked current row.
pub type ApplyToRequest<'a> = Box<dyn FnOnce(&AccessRequest) -> Result<Transition, DomainError> + Send + 'a>;

/// Applies one command to each locked row of a batch.
pub type ApplyToEach<'a> = Box<dyn Fn(&AccessRequest) -> Result<Transition, DomainError> + Send + 'a>;

/// Applies an agent's result (of work of the given kind) to the work's request.
pub type ApplyResult<'a> =
    Box<dyn FnOnce(&AccessRequest, WorkKind) -> Result<Transition, DomainError> + Send + 'a>;

/// Requests: every state change is one transaction (see the module documentation of `store`).
#[async_trait]
pub trait RequestStore: Send + Sync {
    /// Inserts a new request. `build` runs inside the transaction with the requester's
    /// current activity and the cluster's known namespaces, so limits hold under races.
    async fn insert_request(
        &self,
        requester: &str,
        cluster: &str,
        now: DateTime<Utc>,
        build: BuildRequest<'_>,
    ) -> Result<Transition, StoreError>;

    /// Applies `apply` to the locked current row. With `expected`, a request that is no
    /// longer in that state is refused as stale before `apply` runs.
    async fn update_request(
        &self,
        id: &RequestId,
        expected: Option<RequestState>,
        now: DateTime<Utc>,
        apply: ApplyToRequest<'_>,
    ) -> Result<Transition, StoreError>;

    /// Applies `apply` to each of `ids` still in `expected`, all in one transaction (the
    /// scheduler's batches). Requests that moved on, or that `apply` refuses, are skipped; each
    /// accepted one is written exactly as `update_request` would write it.
    async fn update_requests(
        &self,
        ids: &[RequestId],
        expected: RequestState,
        now: DateTime<Utc>,
        apply: ApplyToEach<'_>,
    ) -> Result<Vec<Transition>, StoreError>;

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError>;

    async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<AccessRequest>, StoreError>;

    async fn count_by_state(&self) -> Result<Vec<(String, i64)>, StoreError>;

    /// What the scheduler should act on now.
    async fn due(
        &self,
        now: DateTime<Utc>,
        pending_before: Option<DateTime<Utc>>,
        approved_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<DueWork, StoreError>;

    /// Deletes ended requests (and their work rows) that ended before `ended_before` and
    /// whose credentials are settled. The audit log is kept.
    async fn purge_finished(&self, ended_before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Stores the namespaces an agent reported for its cluster.
    async fn set_namespaces(
        &self,
        cluster: &str,
        namespaces: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The namespaces `cluster`'s agent last reported, if it did.
    async fn namespaces(&self, cluster: &str) -> Result<Option<Vec<String>>, StoreError>;
}

/// The hash-chained audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends events that change no request (refusals, agent and link events).
    async fn append_audit(&self, events: &[NewEvent], now: DateTime<Utc>) -> Result<(), StoreError>;

    /// The chain head: last sequence number and hash.
    async fn audit_head(&self) -> Result<(i64, String), StoreError>;

    /// Up to `limit` events with `seq > after`, in order.
    async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError>;

    async fn audit_for_request(&self, id: &RequestId) -> Result<Vec<AuditRecord>, StoreError>;
}

/// The agent work queue. Which row is handed out, refused, finished or retried is decided by
/// the pure rules of [`crate::queue`]; the store locks, reads and writes.
#[async_trait]
pub trait WorkStore: Send + Sync {
    /// Claims the oldest claimable work of `cluster` with a lease until `lease_until`.
    /// Work its request no longer needs ([`crate::queue::claim_decision`]) is finished as
    /// skipped instead of being handed out.
    async fn claim_work(
        &self,
        cluster: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<WorkItem>, StoreError>;

    /// Records an agent's result for a claimed item and applies `apply` (the matching
    /// domain command) to its request, in one transaction.
    /// `cluster` is the reporting agent's verified cluster: another cluster's work is refused
    /// (`WrongAgent`) before anything is written. `apply` gets the work's kind.
    async fn complete_work(
        &self,
        work_id: i64,
        cluster: &str,
        lease_token: &str,
        outcome: &WorkOutcome,
        now: DateTime<Utc>,
        apply: ApplyResult<'_>,
    ) -> Result<(Completion, Option<Transition>), StoreError>;

    /// Moves failed cleanups whose backoff has passed back to the queue, and queues
    /// cleanup for any ended request whose credentials are not settled and that has no
    /// unfinished work. Returns the clusters to wake.
    async fn requeue_cleanups(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError>;

    /// Queue depth per (cluster, kind, status).
    async fn queue_depth(&self) -> Result<Vec<QueueDepth>, StoreError>;
}

/// One database backend: every role, plus its lifecycle. The defaults are SQLite's (one node:
/// always the leader, no cross-process wake-ups).
#[async_trait]
pub trait StoreBackend:
    RequestStore
    + AuditStore
    + WorkStore
    + AgentStore
    + SearchStore
    + OutboxStore
    + AccountStore
    + DiscordStore
    + QuickCommandStore
    + RecordingStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    /// Runs the embedded migrations of this backend.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn close(&self);

    /// Tries to become (or confirms being) the one scheduler for this database. Always
    /// true on SQLite, which is single-node; a session advisory lock on PostgreSQL.
    async fn try_lead(&self) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Gives up scheduler leadership (PostgreSQL), e.g. at shutdown.
    async fn step_down(&self) {}

    /// Forwards cross-process wake-ups (PostgreSQL `NOTIFY janus_work`) into `signal` until
    /// the store closes. Nothing to forward on SQLite: the workflow wakes waiters itself.
    fn forward_notifications(&self, _signal: WorkSignal) {}

    /// The concrete backend, for tests that need raw SQL ([`super::Store::downcast_ref`]).
    fn as_any(&self) -> &dyn Any;
}
