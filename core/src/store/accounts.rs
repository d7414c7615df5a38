//! The SQL of sign-in (DESIGN §6.2, §6.3): dashboard sessions, personal API tokens, the local
//! admin's credential, spent signed links and sign-ins in progress. Stamped once per backend by
//! [`accounts_impl!`] (in `store/sqlite.rs` and `store/postgres.rs`, next to `store_impl!`) as
//! the [`AccountStore`] role. Callers go through the accounts service (`Accounts`), which makes the
//! secrets, hashes them and checks expiry against the clock.
//!
//! Secrets never reach the database: rows are found by the SHA-256 of the secret the browser or
//! the CLI holds. Each write that people should be able to trace appends its audit event in the
//! same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::{NewEvent, Principal};

/// A dashboard session as stored (the secret is not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The public id, shown on the user's page to revoke the session.
    pub id: String,
    pub principal: Principal,
    /// Groups from the identity provider at sign-in (approver groups).
    pub groups: Vec<String>,
    /// `oidc`, `github`, `local`, `link` or `header`.
    pub method: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub user_agent: String,
    pub ip: String,
}

impl SessionRecord {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A personal API token as stored (the secret is not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    pub id: String,
    pub principal: Principal,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiTokenRecord {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A new session's row. The secret's hash is stored, never the secret.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub principal: &'a str,
    pub groups: &'a [String],
    pub method: &'a str,
    pub expires_at: DateTime<Utc>,
    pub user_agent: &'a str,
    pub ip: &'a str,
}

/// A new API token's row.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub principal: &'a str,
    pub name: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// Sign-in storage: sessions, API tokens, the local admin's credential, spent links and sign-ins
/// in progress. Every write that people should be able to trace appends `event` in the same
/// transaction.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_session(
        &self,
        session: &NewSession<'_>,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The session whose secret hashes to `token_hash`, revoked or not.
    async fn session_by_token(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError>;

    async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// `principal`'s sessions, newest first (revoked and expired ones included).
    async fn sessions_of(&self, principal: &str) -> Result<Vec<SessionRecord>, StoreError>;

    /// Revokes `principal`'s live sessions: the one named `id`, or all of them. Returns how
    /// many were revoked; the event is appended only when that is more than zero.
    async fn revoke_sessions(
        &self,
        principal: &str,
        id: Option<&str>,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    async fn create_api_token(
        &self,
        token: &NewApiToken<'_>,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    async fn api_token_by_token(&self, token_hash: &str) -> Result<Option<ApiTokenRecord>, StoreError>;

    async fn touch_api_token(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    async fn api_tokens_of(&self, principal: &str) -> Result<Vec<ApiTokenRecord>, StoreError>;

    /// Revokes `principal`'s token `id`; false when it is not theirs or already revoked.
    async fn revoke_api_token(
        &self,
        principal: &str,
        id: &str,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    async fn local_credential(&self, email: &str) -> Result<Option<String>, StoreError>;

    /// Stores `email`'s password hash. With `replace` false an existing credential is kept and
    /// false returned (first start only); with `replace` true it is overwritten.
    async fn set_local_credential(
        &self,
        email: &str,
        password_hash: &str,
        replace: bool,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Spends a link: true the first time, false when it was redeemed before. The redemption
    /// and its audit event commit together.
    async fn redeem_link(
        &self,
        signature_hash: &str,
        request_id: &str,
        principal: &str,
        expires_at: DateTime<Utc>,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    async fn put_login_flow(
        &self,
        id_hash: &str,
        data: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Removes and returns a sign-in in progress, if it exists and has not expired.
    async fn take_login_flow(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;

    /// Deletes what can no longer be used: sign-ins in progress past their deadline, sessions
    /// and tokens that ended before `ended_before`, links past their expiry.
    async fn purge_accounts(
        &self,
        now: DateTime<Utc>,
        ended_before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}

macro_rules! accounts_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl crate::store::AccountStore for $store {
            async fn create_session(
                &self,
                session: &crate::store::accounts::NewSession<'_>,
                event: &crate::domain::NewEvent,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), crate::store::StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                sqlx::query(
                    "INSERT INTO web_sessions (id, token_hash, principal, groups, method, created_at, \
                     last_seen_at, expires_at, revoked_at, user_agent, ip) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6, $7, NULL, $8, $9)",
                )
                .bind(session.id)
                .bind(session.token_hash)
                .bind(session.principal)
                .bind(serde_json::to_string(&session.groups).map_err(|error| crate::store::StoreError::Corrupt(error.to_string()))?)
                .bind(session.method)
                .bind(crate::time::Timestamp::from(now))
                .bind(crate::time::Timestamp::from(session.expires_at))
                .bind(session.user_agent)
                .bind(session.ip)
                .execute(&mut *tx)
                .await?;
                Self::append_events(&mut tx, std::slice::from_ref(event), now).await?;
                tx.commit().await?;
                Ok(())
            }

            /// The session whose secret hashes to `token_hash`, revoked or not.
            async fn session_by_token(
                &self,
                token_hash: &str,
            ) -> Result<Option<crate::store::SessionRecord>, crate::store::StoreError> {
                let row: Option<crate::store::accounts::SessionRow> = sqlx::query_as(
                    "SELECT id, principal, groups, method, created_at, last_seen_at, expires_at, revoked_at, \
                     user_agent, ip FROM web_sessions WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.map(crate::store::accounts::SessionRow::into_record).transpose()
            }

            async fn touch_session(&self, id: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(), crate::store::StoreError> {
                sqlx::query("UPDATE web_sessions SET last_seen_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(crate::time::Timestamp::from(now))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// `principal`'s sessions, newest first (revoked and expired ones included).
            async fn sessions_of(&self, principal: &str) -> Result<Vec<crate::store::SessionRecord>, crate::store::StoreError> {
                let rows: Vec<crate::store::accounts::SessionRow> = sqlx::query_as(
                    "SELECT id, principal, groups, method, created_at, last_seen_at, expires_at, revoked_at, \
                     user_agent, ip FROM web_sessions WHERE principal = $1 ORDER BY created_at DESC, id",
                )
                .bind(principal)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(crate::store::accounts::SessionRow::into_record).collect()
            }

            /// Revokes `principal`'s live sessions: the one named `id`, or all of them. Returns
            /// how many were revoked; the event is appended only when that is more than zero.
            async fn revoke_sessions(
                &self,
                principal: &str,
                id: Option<&str>,
                event: &crate::domain::NewEvent,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, crate::store::StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let sql = match id {
                    None => "UPDATE web_sessions SET revoked_at = $2 WHERE principal = $1 \
                             AND revoked_at IS NULL AND expires_at > $2",
                    Some(_) => "UPDATE web_sessions SET revoked_at = $2 WHERE principal = $1 \
                                AND revoked_at IS NULL AND expires_at > $2 AND id = $3",
                };
                let mut query = sqlx::query(sql)
                    .bind(principal)
                    .bind(crate::time::Timestamp::from(now));
                if let Some(id) = id {
                    query = query.bind(id);
                }
                let result = query.execute(&mut *tx).await?;
                let revoked = result.rows_affected();
                if revoked > 0 {
                    Self::append_events(&mut tx, std::slice::from_ref(event), now).await?;
                }
                tx.commit().await?;
                Ok(revoked)
            }

            async fn create_api_token(
                &self,
                token: &crate::store::accounts::NewApiToken<'_>,
                event: &crate::domain::NewEvent,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), crate::store::StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                sqlx::query(
                    "INSERT INTO api_tokens (id, token_hash, principal, name, created_at, expires_at, \
                     last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)",
                )
                .bind(token.id)
                .bind(token.token_hash)
                .bind(token.principal)
                .bind(token.name)
                .bind(crate::time::Timestamp::from(now))
                .bind(crate::time::Timestamp::from(token.expires_at))
                .execute(&mut *tx)
                .await?;
                Self::append_events(&mut tx, std::slice::from_ref(event), now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn api_token_by_token(
                &self,
                token_hash: &str,
            ) -> Result<Option<crate::store::ApiTokenRecord>, crate::store::StoreError> {
                let row: Option<crate::store::accounts::ApiTokenRow> = sqlx::query_as(
                    "SELECT id, principal, name, created_at, expires_at, last_used_at, revoked_at \
                     FROM api_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.map(crate::store::accounts::ApiTokenRow::into_record).transpose()
            }

            async fn touch_api_token(&self, id: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(), crate::store::StoreError> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(crate::time::Timestamp::from(now))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn api_tokens_of(&self, principal: &str) -> Result<Vec<crate::store::ApiTokenRecord>, crate::store::StoreError> {
                let rows: Vec<crate::store::accounts::ApiTokenRow> = sqlx::query_as(
                    "SELECT id, principal, name, created_at, expires_at, last_used_at, revoked_at \
                     FROM api_tokens WHERE principal = $1 ORDER BY created_at DESC, id",
                )
                .bind(principal)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(crate::store::accounts::ApiTokenRow::into_record).collect()
            }

            /// Revokes `principal`'s token `id`; false when it is not theirs or already revoked.
            async fn revoke_api_token(
                &self,
                principal: &str,
                id: &str,
                event: &crate::domain::NewEvent,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, crate::store::StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let result = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $3 WHERE principal = $1 AND id = $2 \
                     AND revoked_at IS NULL",
                )
                .bind(principal)
                .bind(id)
                .bind(crate::time::Timestamp::from(now))
                .execute(&mut *tx)
                .await?;
                let revoked = result.rows_affected() == 1;
                if revoked {
                    Self::append_events(&mut tx, std::slice::from_ref(event), now).await?;
                }
                tx.commit().await?;
                Ok(revoked)
            }

            async fn local_credential(&self, email: &str) -> Result<Option<String>, crate::store::StoreError> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT password_hash FROM local_credentials WHERE email = $1")
                        .bind(email)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(hash,)| hash))
            }

            /// Stores `email`'s password hash. With `replace` false an existing credential is
            /// kept and false returned (first start only); with `replace` true it is overwritten.
            async fn set_local_credential(
                &self,
                email: &str,
                password_hash: &str,
                replace: bool,
                event: &crate::domain::NewEvent,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, crate::store::StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let sql = if replace {
                    "INSERT INTO local_credentials (email, password_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $3) ON CONFLICT (email) DO UPDATE SET \
                     password_hash = excluded.password_hash, updated_at = excluded.updated_at"
                } else {
                    "INSERT INTO local_credentials (email, password_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $3) ON CONFLICT (email) DO NOTHING"
                };
                let result = sqlx::query(sql)
                    .bind(email)
                    .bind(password_hash)
                    .bind(crate::time::Timestamp::from(now))
                    .execute(&mut *tx)
                    .await?;
                let written = result.rows_affected() == 1;
                if written {
                    Self::append_events(&mut tx, std::slice::from_ref(event), now).await?;
                }
                tx.commit().await?;
                Ok(written)
            }

            /// Spends a link: true the first time, false when it was redeemed before. The
            /// redemption and its audit event commit together.
            async fn redeem_link(
                &self,
                signature_hash: &str,
                request_id: &str,
                principal: &str,
                expires_at: chrono::DateTime<chrono::Utc>,
                event: &crate::domain::NewEvent,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, crate::store::StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let result = sqlx::query(
                    "INSERT INTO link_redemptions (signature_hash, request_id, principal, redeemed_at, \
                     expires_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (signature_hash) DO NOTHING",
                )
                .bind(signature_hash)
                .bind(request_id)
                .bind(principal)
                .bind(crate::time::Timestamp::from(now))
                .bind(crate::time::Timestamp::from(expires_at))
                .execute(&mut *tx)
                .await?;
                let first = result.rows_affected() == 1;
                if first {
                    Self::append_events(&mut tx, std::slice::from_ref(event), now).await?;
                }
                tx.commit().await?;
                Ok(first)
            }

            async fn put_login_flow(
                &self,
                id_hash: &str,
                data: &str,
                expires_at: chrono::DateTime<chrono::Utc>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO login_flows (id_hash, data, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(id_hash)
                .bind(data)
                .bind(crate::time::Timestamp::from(now))
                .bind(crate::time::Timestamp::from(expires_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// Removes and returns a sign-in in progress, if it exists and has not expired.
            async fn take_login_flow(
                &self,
                id_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<String>, crate::store::StoreError> {
                let row: Option<(String, crate::time::Timestamp)> =
                    sqlx::query_as("DELETE FROM login_flows WHERE id_hash = $1 RETURNING data, expires_at")
                        .bind(id_hash)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.and_then(|(data, expires_at)| (expires_at.0 > now).then_some(data)))
            }

            /// Deletes what can no longer be used: sign-ins in progress past their deadline,
            /// sessions and tokens that ended before `ended_before`, links past their expiry.
            async fn purge_accounts(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                ended_before: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, crate::store::StoreError> {
                let mut purged = 0;
                for (sql, at) in [
                    ("DELETE FROM login_flows WHERE expires_at <= $1", now),
                    ("DELETE FROM link_redemptions WHERE expires_at <= $1", now),
                    ("DELETE FROM web_sessions WHERE expires_at <= $1 OR revoked_at <= $1", ended_before),
                    ("DELETE FROM api_tokens WHERE expires_at <= $1 OR revoked_at <= $1", ended_before),
                ] {
                    purged += sqlx::query(sql)
                        .bind(crate::time::Timestamp::from(at))
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                }
                Ok(purged)
            }
        }
    };
}

pub(super) use accounts_impl;

/// The columns of `web_sessions` a session is read from.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SessionRow {
    pub id: String,
    pub principal: String,
    pub groups: String,
    pub method: String,
    pub created_at: crate::time::Timestamp,
    pub last_seen_at: crate::time::Timestamp,
    pub expires_at: crate::time::Timestamp,
    pub revoked_at: Option<crate::time::Timestamp>,
    pub user_agent: String,
    pub ip: String,
}

impl SessionRow {
    pub fn into_record(self) -> Result<SessionRecord, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("session {}: unreadable {what}", self.id));
        Ok(SessionRecord {
            principal: Principal::parse(&self.principal).map_err(|_| corrupt("principal"))?,
            groups: serde_json::from_str(&self.groups).map_err(|_| corrupt("groups"))?,
            method: self.method.clone(),
            created_at: self.created_at.0,
            last_seen_at: self.last_seen_at.0,
            expires_at: self.expires_at.0,
            revoked_at: self.revoked_at.map(|at| at.0),
            user_agent: self.user_agent.clone(),
            ip: self.ip.clone(),
            id: self.id,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ApiTokenRow {
    pub id: String,
    pub principal: String,
    pub name: String,
    pub created_at: crate::time::Timestamp,
    pub expires_at: crate::time::Timestamp,
    pub last_used_at: Option<crate::time::Timestamp>,
    pub revoked_at: Option<crate::time::Timestamp>,
}

impl ApiTokenRow {
    pub fn into_record(self) -> Result<ApiTokenRecord, StoreError> {
        let principal = Principal::parse(&self.principal)
            .map_err(|_| StoreError::Corrupt(format!("API token {}: unreadable principal", self.id)))?;
        Ok(ApiTokenRecord {
            id: self.id,
            principal,
            name: self.name,
            created_at: self.created_at.0,
            expires_at: self.expires_at.0,
            last_used_at: self.last_used_at.map(|at| at.0),
            revoked_at: self.revoked_at.map(|at| at.0),
        })
    }
}
