//! The SQL of terminal session recordings (`terminal_recordings`, migration 0006), stamped once
//! per backend by [`recordings_impl!`] as the [`RecordingStore`] role.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// Terminal recordings.
#[async_trait]
pub trait RecordingStore: Send + Sync {
    /// Stores a finished session's recording (asciicast v2 text).
    async fn save_recording(&self, recording: &Recording, cast: &str) -> Result<(), StoreError>;

    /// The recordings of a request, oldest first.
    async fn recordings(&self, request_id: &str) -> Result<Vec<Recording>, StoreError>;

    /// One recording and its asciicast text.
    async fn recording(&self, session: &str) -> Result<Option<(Recording, String)>, StoreError>;
}

/// One recorded terminal session (without its asciicast text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub session: String,
    pub request_id: String,
    pub cluster: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub requester: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub end_reason: String,
    pub bytes: i64,
    pub truncated: bool,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct RecordingRow {
    pub session: String,
    pub request_id: String,
    pub cluster: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub requester: String,
    pub started_at: crate::time::Timestamp,
    pub ended_at: crate::time::Timestamp,
    pub end_reason: String,
    pub bytes: i64,
    pub truncated: bool,
}

impl From<RecordingRow> for Recording {
    fn from(row: RecordingRow) -> Recording {
        Recording {
            session: row.session,
            request_id: row.request_id,
            cluster: row.cluster,
            namespace: row.namespace,
            pod: row.pod,
            container: row.container,
            requester: row.requester,
            started_at: row.started_at.0,
            ended_at: row.ended_at.0,
            end_reason: row.end_reason,
            bytes: row.bytes,
            truncated: row.truncated,
        }
    }
}

macro_rules! recordings_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl crate::store::RecordingStore for $store {
            async fn save_recording(
                &self,
                recording: &crate::store::recordings::Recording,
                cast: &str,
            ) -> Result<(), crate::store::StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                sqlx::query(
                    "INSERT INTO terminal_recordings (session, request_id, cluster, namespace, pod, container, \
                     requester, started_at, ended_at, end_reason, bytes, truncated, cast_text) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&recording.session)
                .bind(&recording.request_id)
                .bind(&recording.cluster)
                .bind(&recording.namespace)
                .bind(&recording.pod)
                .bind(&recording.container)
                .bind(&recording.requester)
                .bind(crate::time::Timestamp::from(recording.started_at))
                .bind(crate::time::Timestamp::from(recording.ended_at))
                .bind(&recording.end_reason)
                .bind(recording.bytes)
                .bind(recording.truncated)
                .bind(cast)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn recordings(
                &self,
                request_id: &str,
            ) -> Result<Vec<crate::store::recordings::Recording>, crate::store::StoreError> {
                let rows: Vec<crate::store::recordings::RecordingRow> = sqlx::query_as(
                    "SELECT session, request_id, cluster, namespace, pod, container, requester, started_at, \
                     ended_at, end_reason, bytes, truncated FROM terminal_recordings WHERE request_id = $1 \
                     ORDER BY started_at, session",
                )
                .bind(request_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn recording(
                &self,
                session: &str,
            ) -> Result<Option<(crate::store::recordings::Recording, String)>, crate::store::StoreError> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT cast_text FROM terminal_recordings WHERE session = $1")
                        .bind(session)
                        .fetch_optional(&self.pool)
                        .await?;
                let Some((cast,)) = row else {
                    return Ok(None);
                };
                let meta: Option<crate::store::recordings::RecordingRow> = sqlx::query_as(
                    "SELECT session, request_id, cluster, namespace, pod, container, requester, started_at, \
                     ended_at, end_reason, bytes, truncated FROM terminal_recordings WHERE session = $1",
                )
                .bind(session)
                .fetch_optional(&self.pool)
                .await?;
                Ok(meta.map(|meta| (meta.into(), cast)))
            }
        }
    };
}

pub(super) use recordings_impl;
