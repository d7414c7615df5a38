//! PostgreSQL backend: row locks (`FOR UPDATE`), `SKIP LOCKED` claims, an advisory lock per
//! requester for submissions, `NOTIFY janus_work` on enqueue, and a session advisory lock
//! that elects the one scheduler among replicas.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::sync::Mutex;

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
    WorkSignal, WorkStatus, after_result, check_completion, settle_request,
};
use crate::time::Timestamp;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The advisory lock key of the scheduler ("janus" in ASCII).
const SCHEDULER_LOCK: i64 = 0x006a_616e_7573;
const WORK_CHANNEL: &str = "janus_work";

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    options: Arc<PgConnectOptions>,
    /// The connection holding the scheduler lock, while this process leads.
    leader: Arc<Mutex<Option<PgConnection>>>,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        Ok(PgStore {
            pool,
            options: Arc::new(options),
            leader: Arc::new(Mutex::new(None)),
        })
    }

    /// The underlying pool, for tests that need raw SQL (tampering with the audit log).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Row locks do the serialising on PostgreSQL; no in-process guard is needed.
    async fn begin(&self) -> Result<((), sqlx::Transaction<'static, Postgres>), StoreError> {
        Ok(((), self.pool.begin().await?))
    }

    /// Serialises submissions of one requester, so limits hold under concurrent submits.
    async fn lock_requester(
        tx: &mut sqlx::Transaction<'static, Postgres>,
        requester: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(requester)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Delivered at commit to every replica listening.
    async fn notify_work(
        tx: &mut sqlx::Transaction<'static, Postgres>,
        cluster: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(WORK_CHANNEL)
            .bind(cluster)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// Replicas share the database: one leads the scheduler (a session advisory lock), and
/// `NOTIFY janus_work` wakes every replica's long-polls.
#[async_trait::async_trait]
impl StoreBackend for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
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

    async fn try_lead(&self) -> Result<bool, StoreError> {
        let mut leader = self.leader.lock().await;
        if let Some(connection) = leader.as_mut() {
            if connection.ping().await.is_ok() {
                return Ok(true);
            }
            // The session (and with it the lock) is gone; compete again.
            *leader = None;
        }
        let mut connection = PgConnection::connect_with(&self.options).await?;
        let (acquired,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(SCHEDULER_LOCK)
            .fetch_one(&mut connection)
            .await?;
        if acquired {
            *leader = Some(connection);
        } else {
            let _ = connection.close().await;
        }
        Ok(acquired)
    }

    async fn step_down(&self) {
        if let Some(connection) = self.leader.lock().await.take() {
            let _ = connection.close().await;
        }
    }

    fn forward_notifications(&self, signal: WorkSignal) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for work notifications; relying on in-process wake-ups");
                    return;
                }
            };
            if let Err(error) = listener.listen(WORK_CHANNEL).await {
                tracing::warn!(%error, "cannot listen for work notifications; relying on in-process wake-ups");
                return;
            }
            while !pool.is_closed() {
                match listener.recv().await {
                    Ok(notification) => signal.notify(notification.payload()),
                    Err(error) => {
                        tracing::debug!(%error, "work notification listener stopped");
                        break;
                    }
                }
            }
        });
    }
}

store_impl!(
    PgStore,
    Postgres,
    for_update = " FOR UPDATE",
    skip_locked = " FOR UPDATE OF w SKIP LOCKED"
);
outbox_impl!(PgStore, Postgres, skip_locked = " FOR UPDATE OF o SKIP LOCKED");
super::accounts::accounts_impl!(PgStore);
super::discord::discord_impl!(PgStore);
super::agents::agents_impl!(PgStore, for_update = " FOR UPDATE");
super::quick_commands::quick_commands_impl!(PgStore, for_update = " FOR UPDATE");
super::search::search_impl!(PgStore, Postgres);
super::recordings::recordings_impl!(PgStore);
