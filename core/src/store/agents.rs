//! Reads for the clusters page: the enrolled agents (version, enrollment, last request) and the
//! namespaces each cluster's agent last reported. Stamped once per backend by [`agents_impl!`]
//! and dispatched by the `impl Store` block at the end of this file.

use chrono::{DateTime, Utc};

use super::{Store, StoreError};

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
    ($store:ty) => {
        impl $store {
            pub async fn agents(
                &self,
            ) -> Result<Vec<crate::store::agents::AgentRecord>, crate::store::StoreError> {
                let rows: Vec<crate::store::agents::AgentRow> = sqlx::query_as(
                    "SELECT cluster, agent_version, enrolled_at, last_seen_at FROM agents ORDER BY cluster",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|row| crate::store::agents::AgentRecord {
                        cluster: row.cluster,
                        agent_version: row.agent_version,
                        enrolled_at: row.enrolled_at.0,
                        last_seen_at: row.last_seen_at.0,
                    })
                    .collect())
            }

            pub async fn namespace_reports(
                &self,
            ) -> Result<Vec<crate::store::agents::NamespaceReport>, crate::store::StoreError> {
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

macro_rules! dispatch {
    ($self:ident, $store:ident => $body:expr) => {
        match $self {
            Store::Sqlite($store) => $body,
            Store::Postgres($store) => $body,
        }
    };
}

/// Agents and what they reported.
impl Store {
    /// Every enrolled agent, by cluster.
    pub async fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        dispatch!(self, store => store.agents().await)
    }

    /// Every cluster's last namespace report, by cluster.
    pub async fn namespace_reports(&self) -> Result<Vec<NamespaceReport>, StoreError> {
        dispatch!(self, store => store.namespace_reports().await)
    }
}
