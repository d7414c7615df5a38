//! Agents: join tokens and enrollment (the pinned public key), when each agent was last seen,
//! and what the clusters page reads (the enrolled agents and the namespaces each cluster's agent
//! last reported). Stamped once per backend by [`agents_impl!`]. Whether a join token may enroll
//! is decided by [`crate::enrollment::check_join_token`]; the SQL here locks the token's row,
//! spends it and pins the key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::enrollment::EnrollmentRefusal;

/// An enrolled agent (`agents` row; the pinned public key is not read here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub cluster: String,
    pub agent_version: String,
    pub enrolled_at: DateTime<Utc>,
    /// The last signed request central accepted from it.
    pub last_seen_at: DateTime<Utc>,
}

/// What a cluster's agent last reported (`cluster_namespaces` row). Agents that prove themselves
/// with a ServiceAccount token have no `agents` row; their reports still show they are alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceReport {
    pub cluster: String,
    pub namespaces: Vec<String>,
    pub reported_at: DateTime<Utc>,
}

/// Agent enrollment and the agents' directory.
#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Stores a join token's hash for `cluster` (audited as `agent.join_token_created`).
    async fn create_join_token(
        &self,
        token_hash: &str,
        cluster: &str,
        created_by: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Spends a join token and pins the agent's key, or says why not. A refusal writes
    /// nothing here; the caller audits it.
    async fn enroll(
        &self,
        token_hash: &str,
        cluster: &str,
        public_key: &str,
        agent_version: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<(), EnrollmentRefusal>, StoreError>;

    /// The public key pinned for `cluster`'s agent, if one enrolled.
    async fn agent_public_key(&self, cluster: &str) -> Result<Option<String>, StoreError>;

    /// Records that `cluster`'s agent made a signed request at `now`.
    async fn agent_seen(&self, cluster: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Every enrolled agent, by cluster.
    async fn agents(&self) -> Result<Vec<AgentRecord>, StoreError>;

    /// Every cluster's last namespace report, by cluster.
    async fn namespace_reports(&self) -> Result<Vec<NamespaceReport>, StoreError>;
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct AgentRow {
    pub cluster: String,
    pub agent_version: String,
    pub enrolled_at: crate::time::Timestamp,
    pub last_seen_at: crate::time::Timestamp,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct NamespaceReportRow {
    pub cluster: String,
    pub namespaces: String,
    pub reported_at: crate::time::Timestamp,
}

impl NamespaceReportRow {
    pub fn into_record(self) -> Result<NamespaceReport, StoreError> {
        let namespaces = serde_json::from_str(&self.namespaces)
            .map_err(|_| StoreError::Corrupt(format!("cluster {}: unreadable namespaces", self.cluster)))?;
        Ok(NamespaceReport {
            cluster: self.cluster,
            namespaces,
            reported_at: self.reported_at.0,
        })
    }
}

macro_rules! agents_impl {
    ($store:ty, for_update = $for_update:literal) => {
        #[async_trait::async_trait]
        impl crate::store::AgentStore for $store {
            async fn create_join_token(
                &self,
                token_hash: &str,
                cluster: &str,
                created_by: &str,
                expires_at: chrono::DateTime<chrono::Utc>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), crate::store::StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                sqlx::query(
                    "INSERT INTO agent_join_tokens (token_hash, cluster, created_by, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(cluster)
                .bind(created_by)
                .bind(crate::time::Timestamp::from(now))
                .bind(crate::time::Timestamp::from(expires_at))
                .execute(&mut *tx)
                .await?;
                let event = crate::domain::NewEvent {
                    action: crate::domain::AuditAction::AgentJoinTokenCreated,
                    actor: created_by.to_owned(),
                    request_id: None,
                    cluster: Some(cluster.to_owned()),
                    details: serde_json::json!({ "expiresAt": crate::time::format_rfc3339(expires_at) }),
                };
                Self::append_events(&mut tx, &[event], now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn enroll(
                &self,
                token_hash: &str,
                cluster: &str,
                public_key: &str,
                agent_version: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Result<(), crate::enrollment::EnrollmentRefusal>, crate::store::StoreError> {
                use crate::time::Timestamp;
                let (_writer, mut tx) = self.begin().await?;
                let row: Option<(String, Timestamp, Option<Timestamp>)> = sqlx::query_as(concat!(
                    "SELECT cluster, expires_at, used_at FROM agent_join_tokens WHERE token_hash = $1",
                    $for_update
                ))
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let token = row.map(|(cluster, expires_at, used_at)| crate::enrollment::JoinToken {
                    cluster,
                    expires_at: expires_at.0,
                    used_at: used_at.map(|at| at.0),
                });
                if let Err(refusal) = crate::enrollment::check_join_token(token.as_ref(), cluster, now) {
                    tx.rollback().await?;
                    return Ok(Err(refusal));
                }
                sqlx::query("UPDATE agent_join_tokens SET used_at = $2 WHERE token_hash = $1")
                    .bind(token_hash)
                    .bind(Timestamp::from(now))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO agents (cluster, public_key, agent_version, enrolled_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (cluster) DO UPDATE SET \
                     public_key = excluded.public_key, agent_version = excluded.agent_version, \
                     enrolled_at = excluded.enrolled_at, last_seen_at = excluded.last_seen_at",
                )
                .bind(cluster)
                .bind(public_key)
                .bind(agent_version)
                .bind(Timestamp::from(now))
                .execute(&mut *tx)
                .await?;
                let event = crate::domain::NewEvent {
                    action: crate::domain::AuditAction::AgentEnrolled,
                    actor: format!("agent:{cluster}"),
                    request_id: None,
                    cluster: Some(cluster.to_owned()),
                    details: serde_json::json!({ "publicKey": public_key, "agentVersion": agent_version }),
                };
                Self::append_events(&mut tx, &[event], now).await?;
                tx.commit().await?;
                Ok(Ok(()))
            }

            async fn agent_public_key(&self, cluster: &str) -> Result<Option<String>, crate::store::StoreError> {
                let row: Option<(String,)> = sqlx::query_as("SELECT public_key FROM agents WHERE cluster = $1")
                    .bind(cluster)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(key,)| key))
            }

            async fn agent_seen(
                &self,
                cluster: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), crate::store::StoreError> {
                sqlx::query("UPDATE agents SET last_seen_at = $2 WHERE cluster = $1")
                    .bind(cluster)
                    .bind(crate::time::Timestamp::from(now))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn agents(&self) -> Result<Vec<crate::store::AgentRecord>, crate::store::StoreError> {
                let rows: Vec<crate::store::agents::AgentRow> = sqlx::query_as(
                    "SELECT cluster, agent_version, enrolled_at, last_seen_at FROM agents ORDER BY cluster",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|row| crate::store::AgentRecord {
                        cluster: row.cluster,
                        agent_version: row.agent_version,
                        enrolled_at: row.enrolled_at.0,
                        last_seen_at: row.last_seen_at.0,
                    })
                    .collect())
            }

            async fn namespace_reports(
                &self,
            ) -> Result<Vec<crate::store::NamespaceReport>, crate::store::StoreError> {
                let rows: Vec<crate::store::agents::NamespaceReportRow> = sqlx::query_as(
                    "SELECT cluster, namespaces, reported_at FROM cluster_namespaces ORDER BY cluster",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(crate::store::agents::NamespaceReportRow::into_record)
                    .collect()
            }
        }
    };
}

pub(super) use agents_impl;
