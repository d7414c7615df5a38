//! SQLite backend: one file, WAL, write transactions begun with `BEGIN IMMEDIATE` so a
//! transaction that reads then writes holds the write lock from its first statement.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::backend::{new_lease_token, store_impl};
use super::outbox::outbox_impl;
use super::rows::{AuditRow, OutboxRow, RequestRow, WorkRow, to_json};
use super::{
    Backend, ChatMessageRef, DueWork, OutboxItem, QueueDepth, RequestFilter, StoreBackend, StoreError,
};
use crate::audit::{AuditRecord, EventFields, canonical_json, chain_hash};
use crate::domain::{
    AccessRequest, DomainError, Effect, NewEvent, Notice, NoticeKind, RequestId, RequestState, Transition,
    UserActivity,
};
use crate::queue::{
    Completion, CompletionCheck, CompletionRefusal, WorkDisposition, WorkItem, WorkKind, WorkOutcome,
    WorkStatus, after_result, check_completion, settle_request,
};
use crate::time::Timestamp;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite has one writer at a time. Writers of this process queue here (fairly, without
    /// polling) instead of contending for the file lock with busy-wait sleeps.
    writer: Arc<Mutex<()>>,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(if in_memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        // An in-memory database exists per connection, so it gets exactly one.
        let pool = SqlitePoolOptions::new()
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if in_memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            })
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            pool,
            writer: Arc::new(Mutex::new(())),
        })
    }

    /// The underlying pool, for tests that need raw SQL (tampering with the audit log).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin(&self) -> Result<(OwnedMutexGuard<()>, sqlx::Transaction<'static, Sqlite>), StoreError> {
        let writer = self.writer.clone().lock_owned().await;
        Ok((writer, self.pool.begin_with("BEGIN IMMEDIATE").await?))
    }

    /// Nothing to do: `BEGIN IMMEDIATE` already serialises writers.
    async fn lock_requester(
        _tx: &mut sqlx::Transaction<'static, Sqlite>,
        _requester: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// In-process only; the workflow wakes waiters after commit.
    async fn notify_work(
        _tx: &mut sqlx::Transaction<'static, Sqlite>,
        _cluster: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// SQLite is single-node: the defaults (always the leader, no cross-process wake-ups) hold.
#[async_trait::async_trait]
impl StoreBackend for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATIONS.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

store_impl!(SqliteStore, Sqlite, for_update = "", skip_locked = "");
outbox_impl!(SqliteStore, Sqlite, skip_locked = "");
super::accounts::accounts_impl!(SqliteStore);
super::discord::discord_impl!(SqliteStore);
super::agents::agents_impl!(SqliteStore, for_update = "");
super::quick_commands::quick_commands_impl!(SqliteStore, for_update = "");
super::search::search_impl!(SqliteStore, Sqlite);
super::recordings::recordings_impl!(SqliteStore);
