//! The notification outbox's SQL (DESIGN §7), stamped per backend like `backend.rs`.
//!
//! Notices are inserted by `write_transition` in the transaction of the change. The worker
//! claims the oldest open notice of each (channel, request) with a lease, so one request's
//! messages go out in order and never twice at once, while different requests proceed in
//! parallel.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::{NoticeKind, RequestId};

/// One claimed notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub channel: String,
    pub request_id: RequestId,
    pub kind: NoticeKind,
    /// The audit action that caused it (`request.approved`, `request.expiring`, …).
    pub event: String,
    /// Earlier delivery attempts.
    pub attempts: i64,
}

/// Where a request's card lives on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessageRef {
    /// The channel or conversation id.
    pub conversation: String,
    /// The message id (Slack's `ts`, Discord's snowflake).
    pub message: String,
}

/// The notification outbox, the cards already posted, and which chat account acts as whom.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` due notices, the oldest open one of each (channel, request).
    async fn claim_notices(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    /// The newest open notice of a kind, so one card render can settle every card notice
    /// queued before it was read.
    async fn newest_open_notice(
        &self,
        channel: &str,
        request_id: &str,
        kind: NoticeKind,
    ) -> Result<Option<i64>, StoreError>;

    /// Marks `item` and every open notice of its kind up to `up_to` delivered.
    async fn notices_delivered(
        &self,
        item: &OutboxItem,
        up_to: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    async fn notice_retry(&self, id: i64, available_at: DateTime<Utc>, error: &str)
    -> Result<(), StoreError>;

    async fn notice_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Open (undelivered, not given up) notices per channel.
    async fn open_notices(&self) -> Result<Vec<(String, i64)>, StoreError>;

    /// When the next deliverable notice becomes due, if any.
    async fn next_notice_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    async fn chat_message(
        &self,
        request_id: &str,
        channel: &str,
    ) -> Result<Option<ChatMessageRef>, StoreError>;

    /// Remembers where a request's card was posted. The first one stays.
    async fn save_chat_message(
        &self,
        request_id: &str,
        channel: &str,
        message: &ChatMessageRef,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records that `external_id` on `channel` acts as `principal`.
    async fn remember_chat_identity(
        &self,
        channel: &str,
        external_id: &str,
        principal: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The chat account most recently seen acting as `principal` on `channel`.
    async fn chat_identity_of(&self, channel: &str, principal: &str) -> Result<Option<String>, StoreError>;

    /// Queues the expiry warning for Active requests that expire by `warn_until`, once per
    /// expiry (an extension moves the expiry and earns a new warning).
    async fn queue_expiry_warnings(
        &self,
        channels: &[String],
        now: DateTime<Utc>,
        warn_until: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}

macro_rules! outbox_impl {
    ($store:ty, $db:ty, skip_locked = $skip_locked:literal) => {
        impl $store {
            pub(super) async fn insert_notices(
                tx: &mut sqlx::Transaction<'static, $db>,
                request_id: &str,
                notices: &[Notice],
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                for notice in notices {
                    sqlx::query(
                        "INSERT INTO outbox (channel, request_id, kind, event, detail, created_at, available_at, \
                         attempts) VALUES ($1, $2, $3, $4, '', $5, $5, 0)",
                    )
                    .bind(&notice.channel)
                    .bind(request_id)
                    .bind(notice.kind.as_str())
                    .bind(notice.event.as_str())
                    .bind(Timestamp::from(now))
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            /// Ends a failed delivery attempt of notice `id` with `update`, which sets `$2` (when
            /// the notice is due again, or when it was given up) and the error `$3`.
            async fn end_notice_attempt(
                &self,
                update: &'static str,
                id: i64,
                at: DateTime<Utc>,
                error: &str,
            ) -> Result<(), StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                sqlx::query(update)
                    .bind(id)
                    .bind(Timestamp::from(at))
                    .bind(error)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::OutboxStore for $store {
            async fn claim_notices(
                &self,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<OutboxItem>, StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let rows: Vec<OutboxRow> = sqlx::query_as(concat!(
                    "SELECT id, channel, request_id, kind, event, attempts FROM outbox o \
                     WHERE delivered_at IS NULL AND failed_at IS NULL AND available_at <= $1 \
                     AND (lease_until IS NULL OR lease_until <= $1) \
                     AND NOT EXISTS (SELECT 1 FROM outbox earlier WHERE earlier.channel = o.channel \
                     AND earlier.request_id = o.request_id AND earlier.id < o.id \
                     AND earlier.delivered_at IS NULL AND earlier.failed_at IS NULL) \
                     ORDER BY id LIMIT $2",
                    $skip_locked
                ))
                .bind(Timestamp::from(now))
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                for row in &rows {
                    sqlx::query("UPDATE outbox SET lease_until = $2 WHERE id = $1")
                        .bind(row.id)
                        .bind(Timestamp::from(lease_until))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                rows.into_iter().map(OutboxRow::into_item).collect()
            }

            /// The newest open notice of a kind, so one card render can settle every card
            /// notice queued before it was read.
            async fn newest_open_notice(
                &self,
                channel: &str,
                request_id: &str,
                kind: NoticeKind,
            ) -> Result<Option<i64>, StoreError> {
                let newest: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(id) FROM outbox WHERE channel = $1 AND request_id = $2 AND kind = $3 \
                     AND delivered_at IS NULL AND failed_at IS NULL",
                )
                .bind(channel)
                .bind(request_id)
                .bind(kind.as_str())
                .fetch_one(&self.pool)
                .await?;
                Ok(newest)
            }

            /// Marks `item` and every open notice of its kind up to `up_to` delivered.
            async fn notices_delivered(
                &self,
                item: &OutboxItem,
                up_to: i64,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                sqlx::query(
                    "UPDATE outbox SET delivered_at = $5, lease_until = NULL, attempts = attempts + 1 \
                     WHERE channel = $1 AND request_id = $2 AND kind = $3 AND id >= $4 AND id <= $6 \
                     AND delivered_at IS NULL AND failed_at IS NULL",
                )
                .bind(&item.channel)
                .bind(item.request_id.as_str())
                .bind(item.kind.as_str())
                .bind(item.id)
                .bind(Timestamp::from(now))
                .bind(up_to.max(item.id))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn notice_retry(
                &self,
                id: i64,
                available_at: DateTime<Utc>,
                error: &str,
            ) -> Result<(), StoreError> {
                self.end_notice_attempt(
                    "UPDATE outbox SET available_at = $2, lease_until = NULL, attempts = attempts + 1, \
                     last_error = $3 WHERE id = $1",
                    id,
                    available_at,
                    error,
                )
                .await
            }

            async fn notice_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                self.end_notice_attempt(
                    "UPDATE outbox SET failed_at = $2, lease_until = NULL, attempts = attempts + 1, \
                     last_error = $3 WHERE id = $1",
                    id,
                    now,
                    error,
                )
                .await
            }

            /// Notices not yet delivered nor given up, per channel.
            async fn open_notices(&self) -> Result<Vec<(String, i64)>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT channel, COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL \
                     GROUP BY channel ORDER BY channel",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            /// When the next deliverable notice becomes due, if any: only the oldest open notice
            /// of each (channel, request) counts, since the others wait behind it.
            async fn next_notice_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
                let due: Option<Timestamp> = sqlx::query_scalar(
                    "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > available_at \
                     THEN lease_until ELSE available_at END) FROM outbox o \
                     WHERE delivered_at IS NULL AND failed_at IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM outbox earlier WHERE earlier.channel = o.channel \
                     AND earlier.request_id = o.request_id AND earlier.id < o.id \
                     AND earlier.delivered_at IS NULL AND earlier.failed_at IS NULL)",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(due.map(|at| at.0))
            }

            async fn chat_message(
                &self,
                request_id: &str,
                channel: &str,
            ) -> Result<Option<ChatMessageRef>, StoreError> {
                let row: Option<(String, String)> = sqlx::query_as(
                    "SELECT conversation, message FROM chat_messages WHERE request_id = $1 AND channel = $2",
                )
                .bind(request_id)
                .bind(channel)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(conversation, message)| ChatMessageRef { conversation, message }))
            }

            /// Remembers where a request's card was posted. The first one stays.
            async fn save_chat_message(
                &self,
                request_id: &str,
                channel: &str,
                message: &ChatMessageRef,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                sqlx::query(
                    "INSERT INTO chat_messages (request_id, channel, conversation, message, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, channel) DO NOTHING",
                )
                .bind(request_id)
                .bind(channel)
                .bind(&message.conversation)
                .bind(&message.message)
                .bind(Timestamp::from(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            /// Records that `external_id` on `channel` acts as `principal`.
            async fn remember_chat_identity(
                &self,
                channel: &str,
                external_id: &str,
                principal: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                sqlx::query(
                    "INSERT INTO chat_identities (channel, external_id, principal, seen_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (channel, external_id) DO UPDATE SET principal = $3, seen_at = $4",
                )
                .bind(channel)
                .bind(external_id)
                .bind(principal)
                .bind(Timestamp::from(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            /// The chat account most recently seen acting as `principal` on `channel`.
            async fn chat_identity_of(&self, channel: &str, principal: &str) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT external_id FROM chat_identities WHERE channel = $1 AND principal = $2 \
                     ORDER BY seen_at DESC LIMIT 1",
                )
                .bind(channel)
                .bind(principal)
                .fetch_optional(&self.pool)
                .await?)
            }

            /// Queues the expiry warning for Active requests that expire by `warn_until`,
            /// once per expiry (an extension moves the expiry and earns a new warning).
            async fn queue_expiry_warnings(
                &self,
                channels: &[String],
                now: DateTime<Utc>,
                warn_until: DateTime<Utc>,
            ) -> Result<u64, StoreError> {
                if channels.is_empty() {
                    return Ok(0);
                }
                let (_writer, mut tx) = self.begin().await?;
                let mut queued = 0;
                for channel in channels {
                    let result = sqlx::query(
                        "INSERT INTO outbox (channel, request_id, kind, event, detail, created_at, \
                         available_at, attempts) \
                         SELECT $1, r.id, $2, $3, CAST(r.extensions AS TEXT), $4, $4, 0 FROM requests r \
                         WHERE r.state = 'active' AND r.expires_at > $4 AND r.expires_at <= $5 \
                         AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.channel = $1 AND o.request_id = r.id \
                         AND o.event = $3 AND o.detail = CAST(r.extensions AS TEXT))",
                    )
                    .bind(channel)
                    .bind(NoticeKind::DirectMessage.as_str())
                    .bind(crate::domain::notify::EXPIRING.as_str())
                    .bind(Timestamp::from(now))
                    .bind(Timestamp::from(warn_until))
                    .execute(&mut *tx)
                    .await?;
                    queued += result.rows_affected();
                }
                tx.commit().await?;
                Ok(queued)
            }
        }
    };
}

pub(super) use outbox_impl;
