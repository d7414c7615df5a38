//! Where Janus keeps requests, the audit chain and agent work: SQLite (default, embedded,
//! WAL) or PostgreSQL, chosen once from the database URL.
//!
//! Both backends run the same SQL, stamped out by one macro (`store/backend.rs`); only
//! connecting, beginning a write transaction, row locks, wake-ups and leader election
//! differ (`store/sqlite.rs`, `store/postgres.rs`).
//!
//! **Invariant:** every state change is one transaction that locks the request row,
//! runs the pure domain function on what it read, writes the request guarded by its
//! version, appends the audit events to the chain and queues the implied work. Either all
//! of it commits or none of it does.

pub(crate) mod accounts;
pub mod agents;
mod backend;
pub mod discord;
mod outbox;
mod postgres;
pub mod quick_commands;
pub mod recordings;
mod rows;
pub mod search;
mod sqlite;

use chrono::{DateTime, Utc};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use crate::audit::AuditRecord;
use crate::domain::{
    AccessRequest, DomainError, NewEvent, RequestId, RequestState, Transition, UserActivity,
};
use crate::outbox::{ChatMessageRef, OutboxItem};
use crate::queue::{Completion, WorkItem, WorkKind, WorkOutcome};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("request {0} was not found")]
    NotFound(String),
    /// The row changed under us (or an id collided); the caller may retry.
    #[error("the record changed while it was being updated; try again")]
    Conflict,
    /// The domain refused the command; nothing was written.
    #[error(transparent)]
    Refused(#[from] DomainError),
    #[error("the work item's lease expired and it was handed to someone else")]
    LeaseLost,
    #[error("the database URL `{0}` is neither sqlite:// nor postgres://")]
    UnsupportedUrl(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            // SQLite reports busy/locked and PostgreSQL serialization failures as retryable.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("40001" | "40P01" | "5" | "6")) =>
            {
                StoreError::Conflict
            }
            sqlx::Error::RowNotFound => StoreError::NotFound(String::new()),
            _ => StoreError::Database(error.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Database(format!("migration failed: {error}"))
    }
}

/// Why a join token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnrollmentRefusal {
    #[error("the join token is not known")]
    UnknownToken,
    #[error("the join token was already used")]
    TokenUsed,
    #[error("the join token has expired")]
    TokenExpired,
    #[error("the join token was made for another cluster")]
    WrongCluster,
}

impl EnrollmentRefusal {
    pub fn code(self) -> &'static str {
        match self {
            EnrollmentRefusal::UnknownToken => "unknown_join_token",
            EnrollmentRefusal::TokenUsed => "join_token_used",
            EnrollmentRefusal::TokenExpired => "join_token_expired",
            EnrollmentRefusal::WrongCluster => "join_token_wrong_cluster",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Filters for listing requests; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub state: Option<RequestState>,
    pub cluster: Option<String>,
    pub requester: Option<String>,
    pub limit: Option<i64>,
}

/// What the scheduler should act on now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueWork {
    pub to_expire: Vec<RequestId>,
    pub to_auto_deny: Vec<RequestId>,
    pub to_time_out: Vec<RequestId>,
}

/// Queue depth per (cluster, kind, status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    pub cluster: String,
    pub kind: String,
    pub status: String,
    pub count: i64,
}

/// The store, one of two backends.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

macro_rules! dispatch {
    ($self:ident, $store:ident => $body:expr) => {
        match $self {
            Store::Sqlite($store) => $body,
            Store::Postgres($store) => $body,
        }
    };
}

impl Store {
    /// Opens the database named by `url`: `sqlite://path` (created if missing),
    /// `sqlite::memory:`, or `postgres://…`/`postgresql://…`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(SqliteStore::connect(url).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(PgStore::connect(url).await?))
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        dispatch!(self, store => store.migrate().await)
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, store => store.ping().await)
    }

    pub async fn close(&self) {
        dispatch!(self, store => store.close().await)
    }

    /// Inserts a new request. `build` runs inside the transaction with the requester's
    /// current activity and the cluster's known namespaces, so limits hold under races.
    pub async fn insert_request(
        &self,
        requester: &str,
        cluster: &str,
        now: DateTime<Utc>,
        build: impl FnOnce(&UserActivity, Option<&[String]>) -> Result<Transition, DomainError>,
    ) -> Result<Transition, StoreError> {
        dispatch!(self, store => store.insert_request(requester, cluster, now, build).await)
    }

    /// Applies `apply` to the locked current row. With `expected`, a request that is no
    /// longer in that state is refused as stale before `apply` runs.
    pub async fn update_request(
        &self,
        id: &RequestId,
        expected: Option<RequestState>,
        now: DateTime<Utc>,
        apply: impl FnOnce(&AccessRequest) -> Result<Transition, DomainError>,
    ) -> Result<Transition, StoreError> {
        dispatch!(self, store => store.update_request(id, expected, now, apply).await)
    }

    /// Applies `apply` to each of `ids` still in `expected`, in one transaction; requests
    /// that moved on or are refused are skipped.
    pub async fn update_requests(
        &self,
        ids: &[RequestId],
        expected: RequestState,
        now: DateTime<Utc>,
        apply: impl Fn(&AccessRequest) -> Result<Transition, DomainError>,
    ) -> Result<Vec<Transition>, StoreError> {
        dispatch!(self, store => store.update_requests(ids, expected, now, &apply).await)
    }

    pub async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        dispatch!(self, store => store.get_request(id).await)
    }

    pub async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<AccessRequest>, StoreError> {
        dispatch!(self, store => store.list_requests(filter).await)
    }

    pub async fn count_by_state(&self) -> Result<Vec<(String, i64)>, StoreError> {
        dispatch!(self, store => store.count_by_state().await)
    }

    /// Appends events that change no request (refusals, agent and link events).
    pub async fn append_audit(&self, events: &[NewEvent], now: DateTime<Utc>) -> Result<(), StoreError> {
        dispatch!(self, store => store.append_audit(events, now).await)
    }

    /// The chain head: last sequence number and hash.
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        dispatch!(self, store => store.audit_head().await)
    }

    /// Up to `limit` events with `seq > after`, in order.
    pub async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        dispatch!(self, store => store.audit_page(after, limit).await)
    }

    pub async fn audit_for_request(&self, id: &RequestId) -> Result<Vec<AuditRecord>, StoreError> {
        dispatch!(self, store => store.audit_for_request(id).await)
    }

    /// Claims the oldest claimable work of `cluster` with a lease until `lease_until`.
    /// Grant work for a request that is no longer Approved or Active is finished as
    /// skipped instead of being handed out.
    pub async fn claim_work(
        &self,
        cluster: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<WorkItem>, StoreError> {
        dispatch!(self, store => store.claim_work(cluster, now, lease_until).await)
    }

    /// Records an agent's result for a claimed item and applies `apply` (the matching
    /// domain command) to its request, in one transaction.
    /// `cluster` is the reporting agent's verified cluster: another cluster's work is refused
    /// (`WrongAgent`) before anything is read or written. `apply` gets the work's kind.
    pub async fn complete_work(
        &self,
        work_id: i64,
        cluster: &str,
        lease_token: &str,
        outcome: &WorkOutcome,
        now: DateTime<Utc>,
        apply: impl FnOnce(&AccessRequest, WorkKind) -> Result<Transition, DomainError>,
    ) -> Result<(Completion, Option<Transition>), StoreError> {
        dispatch!(self, store => store.complete_work(work_id, cluster, lease_token, outcome, now, apply).await)
    }

    /// Moves failed cleanups whose backoff has passed back to the queue, and queues
    /// cleanup for any ended request whose credentials are not settled and that has no
    /// unfinished work. Returns the clusters to wake.
    pub async fn requeue_cleanups(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        dispatch!(self, store => store.requeue_cleanups(now).await)
    }

    pub async fn queue_depth(&self) -> Result<Vec<QueueDepth>, StoreError> {
        dispatch!(self, store => store.queue_depth().await)
    }

    pub async fn due(
        &self,
        now: DateTime<Utc>,
        pending_before: Option<DateTime<Utc>>,
        approved_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<DueWork, StoreError> {
        dispatch!(self, store => store.due(now, pending_before, approved_before, limit).await)
    }

    /// Deletes ended requests (and their work rows) that ended before `ended_before` and
    /// whose credentials are settled. The audit log is kept.
    pub async fn purge_finished(&self, ended_before: DateTime<Utc>) -> Result<u64, StoreError> {
        dispatch!(self, store => store.purge_finished(ended_before).await)
    }

    pub async fn set_namespaces(
        &self,
        cluster: &str,
        namespaces: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.set_namespaces(cluster, namespaces, now).await)
    }

    pub async fn namespaces(&self, cluster: &str) -> Result<Option<Vec<String>>, StoreError> {
        dispatch!(self, store => store.namespaces(cluster).await)
    }

    pub async fn create_join_token(
        &self,
        token_hash: &str,
        cluster: &str,
        created_by: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.create_join_token(token_hash, cluster, created_by, expires_at, now).await)
    }

    pub async fn enroll(
        &self,
        token_hash: &str,
        cluster: &str,
        public_key: &str,
        agent_version: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<(), EnrollmentRefusal>, StoreError> {
        dispatch!(self, store => store.enroll(token_hash, cluster, public_key, agent_version, now).await)
    }

    pub async fn agent_public_key(&self, cluster: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self, store => store.agent_public_key(cluster).await)
    }

    pub async fn agent_seen(&self, cluster: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        dispatch!(self, store => store.agent_seen(cluster, now).await)
    }

    /// Tries to become (or confirms being) the one scheduler for this database. Always
    /// true on SQLite, which is single-node; a session advisory lock on PostgreSQL.
    pub async fn try_lead(&self) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(true),
            Store::Postgres(store) => store.try_lead().await,
        }
    }

    /// Gives up scheduler leadership (PostgreSQL), e.g. at shutdown.
    pub async fn step_down(&self) {
        if let Store::Postgres(store) = self {
            store.step_down().await;
        }
    }

    /// Forwards PostgreSQL `NOTIFY janus_work` into `signal` until the store closes.
    pub fn forward_notifications(&self, signal: crate::queue::WorkSignal) {
        if let Store::Postgres(store) = self {
            store.forward_notifications(signal);
        }
    }
}

impl Store {
    /// Claims up to `limit` due notices, the oldest open one of each (channel, request).
    pub async fn claim_notices(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        dispatch!(self, store => store.claim_notices(now, lease_until, limit).await)
    }

    pub async fn newest_open_notice(
        &self,
        channel: &str,
        request_id: &str,
        kind: crate::domain::NoticeKind,
    ) -> Result<Option<i64>, StoreError> {
        dispatch!(self, store => store.newest_open_notice(channel, request_id, kind).await)
    }

    pub async fn notices_delivered(
        &self,
        item: &OutboxItem,
        up_to: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.notices_delivered(item, up_to, now).await)
    }

    pub async fn notice_retry(
        &self,
        id: i64,
        available_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.notice_retry(id, available_at, error).await)
    }

    pub async fn notice_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        dispatch!(self, store => store.notice_failed(id, error, now).await)
    }

    /// Open (undelivered, not given up) notices per channel.
    pub async fn open_notices(&self) -> Result<Vec<(String, i64)>, StoreError> {
        dispatch!(self, store => store.open_notices().await)
    }

    pub async fn next_notice_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        dispatch!(self, store => store.next_notice_due().await)
    }

    pub async fn chat_message(
        &self,
        request_id: &str,
        channel: &str,
    ) -> Result<Option<ChatMessageRef>, StoreError> {
        dispatch!(self, store => store.chat_message(request_id, channel).await)
    }

    pub async fn save_chat_message(
        &self,
        request_id: &str,
        channel: &str,
        message: &ChatMessageRef,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.save_chat_message(request_id, channel, message, now).await)
    }

    pub async fn remember_chat_identity(
        &self,
        channel: &str,
        external_id: &str,
        principal: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.remember_chat_identity(channel, external_id, principal, now).await)
    }

    pub async fn chat_identity_of(
        &self,
        channel: &str,
        principal: &str,
    ) -> Result<Option<String>, StoreError> {
        dispatch!(self, store => store.chat_identity_of(channel, principal).await)
    }

    pub async fn queue_expiry_warnings(
        &self,
        channels: &[String],
        now: DateTime<Utc>,
        warn_until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        dispatch!(self, store => store.queue_expiry_warnings(channels, now, warn_until).await)
    }
}

/// Hides a password in a database URL (`postgres://user:***@host/db`); the one
/// implementation lives with the configuration it protects.
pub use crate::config::redact_url;

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_show_in_urls() {
        assert_eq!(
            redact_url("postgres://janus:s3cret@db:5432/janus"),
            "postgres://janus:***@db:5432/janus"
        );
        assert_eq!(redact_url("postgres://db/janus"), "postgres://db/janus");
        assert_eq!(redact_url("sqlite://janus.db"), "sqlite://janus.db");
    }
}
