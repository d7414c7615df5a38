//! The SQL of Discord account linking: which principal a Discord user acts as, and the spent
//! `/janus link` nonces that make each link single-use. Stamped once per backend by
//! [`discord_impl!`] as the [`DiscordStore`] role. Every
//! link and unlink appends its audit event in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::NewEvent;

/// A Discord user bound to a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordAccount {
    pub discord_user_id: String,
    pub principal: String,
    pub linked_at: DateTime<Utc>,
}

/// Discord account links.
#[async_trait]
pub trait DiscordStore: Send + Sync {
    /// The principal a Discord user linked to, if any.
    async fn discord_principal(&self, discord_user_id: &str) -> Result<Option<String>, StoreError>;

    /// The Discord accounts linked to `principal`, oldest first.
    async fn discord_accounts_of(&self, principal: &str) -> Result<Vec<DiscordAccount>, StoreError>;

    /// Spends the nonce and binds the Discord user to `principal`: false (nothing written)
    /// when the nonce was spent before.
    async fn link_discord(
        &self,
        nonce_hash: &str,
        discord_user_id: &str,
        principal: &str,
        expires_at: DateTime<Utc>,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Removes `principal`'s binding of `discord_user_id`: false when there was none.
    async fn unlink_discord(
        &self,
        discord_user_id: &str,
        principal: &str,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

macro_rules! discord_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl crate::store::DiscordStore for $store {
            async fn discord_principal(
                &self,
                discord_user_id: &str,
            ) -> Result<Option<String>, crate::store::StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT principal FROM discord_accounts WHERE discord_user_id = $1")
                        .bind(discord_user_id)
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }

            async fn discord_accounts_of(
                &self,
                principal: &str,
            ) -> Result<Vec<crate::store::discord::DiscordAccount>, crate::store::StoreError> {
                let rows: Vec<(String, String, crate::time::Timestamp)> = sqlx::query_as(
                    "SELECT discord_user_id, principal, linked_at FROM discord_accounts \
                     WHERE principal = $1 ORDER BY linked_at, discord_user_id",
                )
                .bind(principal)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(discord_user_id, principal, linked_at)| crate::store::discord::DiscordAccount {
                        discord_user_id,
                        principal,
                        linked_at: linked_at.0,
                    })
                    .collect())
            }

            /// Spends the nonce and binds the Discord user to `principal`: false (nothing
            /// written) when the nonce was spent before.
            async fn link_discord(
                &self,
                nonce_hash: &str,
                discord_user_id: &str,
                principal: &str,
                expires_at: chrono::DateTime<chrono::Utc>,
                event: &crate::domain::NewEvent,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, crate::store::StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let spent = sqlx::query(
                    "INSERT INTO discord_link_nonces (nonce_hash, discord_user_id, used_at, expires_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (nonce_hash) DO NOTHING",
                )
                .bind(nonce_hash)
                .bind(discord_user_id)
                .bind(crate::time::Timestamp::from(now))
                .bind(crate::time::Timestamp::from(expires_at))
                .execute(&mut *tx)
                .await?;
                if spent.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO discord_accounts (discord_user_id, principal, linked_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (discord_user_id) DO UPDATE SET principal = $2, linked_at = $3",
                )
                .bind(discord_user_id)
                .bind(principal)
                .bind(crate::time::Timestamp::from(now))
                .execute(&mut *tx)
                .await?;
                Self::append_events(&mut tx, std::slice::from_ref(event), now).await?;
                tx.commit().await?;
                Ok(true)
            }

            /// Removes `principal`'s binding of `discord_user_id`: false when there was none.
            async fn unlink_discord(
                &self,
                discord_user_id: &str,
                principal: &str,
                event: &crate::domain::NewEvent,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, crate::store::StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let removed = sqlx::query("DELETE FROM discord_accounts WHERE discord_user_id = $1 AND principal = $2")
                    .bind(discord_user_id)
                    .bind(principal)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if removed {
                    Self::append_events(&mut tx, std::slice::from_ref(event), now).await?;
                }
                tx.commit().await?;
                Ok(removed)
            }
        }
    };
}

pub(super) use discord_impl;
