//! Where Janus keeps requests, the audit chain and agent work: SQLite (default, embedded,
//! WAL) or PostgreSQL, chosen once from the database URL.
//!
//! The port is a set of role traits ([`RequestStore`], [`AuditStore`], [`WorkStore`],
//! [`AgentStore`], [`SearchStore`], [`OutboxStore`], [`AccountStore`], [`DiscordStore`],
//! [`QuickCommandStore`], [`RecordingStore`]) gathered by [`StoreBackend`], implemented once per
//! backend. Both backends run the same SQL, stamped out by one macro per role (`store/*.rs`);
//! only connecting, beginning a write transaction, row locks, wake-ups and leader election
//! differ (`store/sqlite.rs`, `store/postgres.rs`). The record types the port speaks live here
//! too, so the store imports nothing from the workflow, the outbox worker or the accounts
//! service; they import from it.
//!
//! **Invariant:** every state change is one transaction that locks the request row,
//! runs the pure domain function on what it read, writes the request guarded by its
//! version, appends the audit events to the chain and queues the implied work. Either all
//! of it commits or none of it does.

pub mod accounts;
pub mod agents;
mod backend;
pub mod discord;
pub mod outbox;
mod port;
mod postgres;
pub mod quick_commands;
pub mod recordings;
mod rows;
pub mod search;
mod sqlite;

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

pub use accounts::{AccountStore, ApiTokenRecord, NewApiToken, NewSession, SessionRecord};
pub use agents::{AgentRecord, AgentStore, NamespaceReport};
pub use discord::{DiscordAccount, DiscordStore};
pub use outbox::{ChatMessageRef, OutboxItem, OutboxStore};
pub use port::{
    ApplyResult, ApplyToEach, ApplyToRequest, AuditStore, BuildRequest, RequestStore, StoreBackend, WorkStore,
};
pub use postgres::PgStore;
pub use quick_commands::QuickCommandStore;
pub use recordings::{Recording, RecordingStore};
pub use search::SearchStore;
pub use sqlite::SqliteStore;

use crate::domain::{DomainError, RequestId, RequestState};
pub use crate::enrollment::EnrollmentRefusal;

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
    /// The driver's error is the source. The text names only its kind (and a SQLSTATE code),
    /// never a value, a statement or a URL.
    #[error("the database failed ({})", describe(.0))]
    Database(#[source] sqlx::Error),
    #[error("the database migration failed ({})", describe_migration(.0))]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// What kind of driver failure `error` is, without its values.
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("the server refused a statement, code {code}"),
            None => "the server refused a statement".to_owned(),
        },
        sqlx::Error::Io(_) => "cannot reach the server".to_owned(),
        sqlx::Error::Tls(_) => "TLS failed".to_owned(),
        sqlx::Error::Configuration(_) | sqlx::Error::ConfigFile(_) => {
            "the database URL is not usable".to_owned()
        }
        sqlx::Error::PoolTimedOut => "no connection became free in time".to_owned(),
        sqlx::Error::PoolClosed => "the store is closed".to_owned(),
        sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => "the connection broke".to_owned(),
        sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => "a row could not be read".to_owned(),
        sqlx::Error::Migrate(migration) => describe_migration(migration),
        _ => "see the cause".to_owned(),
    }
}

/// What went wrong while migrating, by migration number.
fn describe_migration(error: &sqlx::migrate::MigrateError) -> String {
    use sqlx::migrate::MigrateError;
    match error {
        MigrateError::Execute(error) => describe(error),
        MigrateError::ExecuteMigration(error, version) => format!("migration {version}: {}", describe(error)),
        MigrateError::VersionMissing(version) => {
            format!("migration {version} was applied but this Janus does not know it; run a newer Janus")
        }
        MigrateError::VersionMismatch(version) => format!("migration {version} changed after it was applied"),
        MigrateError::Dirty(version) => format!("migration {version} was left half-applied"),
        _ => "see the cause".to_owned(),
    }
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
            _ => StoreError::Database(error),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(error)
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

/// The store: a cheap, clonable handle to the one backend chosen at start-up. Every method of
/// [`StoreBackend`] (and so of every role trait) is called on it directly (`store.get_request(…)`),
/// through `Deref`; no trait needs importing.
#[derive(Clone)]
pub struct Store(Arc<dyn StoreBackend>);

impl Store {
    /// Opens the database named by `url`: `sqlite://path` (created if missing),
    /// `sqlite::memory:`, or `postgres://…`/`postgresql://…`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Store::new(SqliteStore::connect(url).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::new(PgStore::connect(url).await?))
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// A handle to `backend`.
    pub fn new(backend: impl StoreBackend) -> Store {
        Store(Arc::new(backend))
    }

    /// The concrete backend, when it is a `T` (tests that tamper with rows use the pool).
    pub fn downcast_ref<T: StoreBackend>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref()
    }
}

impl Deref for Store {
    type Target = dyn StoreBackend;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Store").field(&self.0.backend()).finish()
    }
}

/// Hides a password in a database URL (`postgres://user:***@host/db`); the one
/// implementation lives with the configuration it protects.
pub use crate::config::redact_url;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::{StoreError, redact_url};

    #[test]
    fn driver_errors_are_kept_as_the_source_and_not_repeated() {
        let error = StoreError::from(sqlx::Error::Protocol("secret-bearing detail".to_owned()));
        assert!(matches!(error, StoreError::Database(sqlx::Error::Protocol(_))));
        assert_eq!(error.to_string(), "the database failed (the connection broke)");
        let source = error.source().expect("the driver's error is the source");
        assert!(source.to_string().contains("secret-bearing detail"));
    }

    #[test]
    fn migration_errors_are_kept_as_the_source() {
        let error = StoreError::from(sqlx::migrate::MigrateError::VersionMismatch(7));
        assert_eq!(
            error.to_string(),
            "the database migration failed (migration 7 changed after it was applied)"
        );
        assert!(error.source().is_some());
    }

    /// The modules that use the store; it must name none of them (they import its records).
    const CALLERS: [&str; 3] = ["workflow", "outbox", "accounts"];

    fn caller_named(source: &str) -> Option<&'static str> {
        CALLERS
            .into_iter()
            .find(|module| source.contains(&format!("crate::{module}")))
    }

    #[test]
    fn the_store_names_none_of_its_callers() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![src.join("store.rs")];
        for entry in std::fs::read_dir(src.join("store")).unwrap() {
            files.push(entry.unwrap().path());
        }
        assert!(files.len() > 10, "{files:?}");
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            assert_eq!(caller_named(&source), None, "{}", file.display());
        }
    }

    #[test]
    fn the_caller_check_catches_an_import() {
        let import = format!("use crate::{}::OutboxItem;", CALLERS[1]);
        assert_eq!(caller_named(&import), Some("outbox"));
        assert_eq!(caller_named("use crate::queue::WorkItem;"), None);
    }

    #[tokio::test]
    async fn an_unsupported_url_is_named_without_its_password() {
        let error = super::Store::connect("mysql://janus:s3cret@db/janus")
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::UnsupportedUrl(_)));
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

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
