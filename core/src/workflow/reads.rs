//! What adapters read through the workflow as it is stored: requests, the audit log, agents and
//! what they reported, Discord links, quick commands and recordings. Adapters never hold the
//! store; each read here is one store call, its error turned into a [`WorkflowError`]. Lists that
//! a person's visibility or the excluded namespaces narrow are in `queries.rs`, not here.

use super::{Workflow, WorkflowError};
use crate::audit::AuditRecord;
use crate::domain::{AccessRequest, Principal, RequestId};
use crate::quick_commands::QuickCommand;
use crate::store::search::{AuditCursor, AuditFilter, RequestSearch};
use crate::store::{AgentRecord, DiscordAccount, NamespaceReport, QueueDepth, Recording};

impl Workflow {
    /// A cheap database round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), WorkflowError> {
        Ok(self.store.ping().await?)
    }

    /// How many requests are in each state, for `/metrics`.
    pub async fn count_by_state(&self) -> Result<Vec<(String, i64)>, WorkflowError> {
        Ok(self.store.count_by_state().await?)
    }

    /// Unfinished agent work per (cluster, kind, status), for `/metrics`.
    pub async fn queue_depth(&self) -> Result<Vec<QueueDepth>, WorkflowError> {
        Ok(self.store.queue_depth().await?)
    }

    /// The request `id`, if it exists ([`Workflow::get`] says "not found" instead).
    pub async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, WorkflowError> {
        Ok(self.store.get_request(id).await?)
    }

    /// Requests matching a dashboard search, newest first.
    pub async fn search_requests(&self, search: &RequestSearch) -> Result<Vec<AccessRequest>, WorkflowError> {
        Ok(self.store.search_requests(search).await?)
    }

    /// The audit events of one request, in order.
    pub async fn audit_for_request(&self, id: &RequestId) -> Result<Vec<AuditRecord>, WorkflowError> {
        Ok(self.store.audit_for_request(id).await?)
    }

    /// The audit chain's head: last sequence number and hash.
    pub async fn audit_head(&self) -> Result<(i64, String), WorkflowError> {
        Ok(self.store.audit_head().await?)
    }

    /// Up to `limit` audit events matching `filter`, from `cursor` on.
    pub async fn search_audit(
        &self,
        filter: &AuditFilter,
        cursor: AuditCursor,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, WorkflowError> {
        Ok(self.store.search_audit(filter, cursor, limit).await?)
    }

    /// Every enrolled agent, by cluster.
    pub async fn agents(&self) -> Result<Vec<AgentRecord>, WorkflowError> {
        Ok(self.store.agents().await?)
    }

    /// Every cluster's last namespace report, by cluster.
    pub async fn namespace_reports(&self) -> Result<Vec<NamespaceReport>, WorkflowError> {
        Ok(self.store.namespace_reports().await?)
    }

    /// The public key pinned for `cluster`'s agent at enrollment, if it enrolled.
    pub async fn agent_public_key(&self, cluster: &str) -> Result<Option<String>, WorkflowError> {
        Ok(self.store.agent_public_key(cluster).await?)
    }

    /// The principal a Discord user linked to, if any.
    pub async fn discord_principal(&self, discord_user_id: &str) -> Result<Option<String>, WorkflowError> {
        Ok(self.store.discord_principal(discord_user_id).await?)
    }

    /// The Discord accounts linked to `principal`, oldest first.
    pub async fn discord_accounts_of(
        &self,
        principal: &Principal,
    ) -> Result<Vec<DiscordAccount>, WorkflowError> {
        Ok(self.store.discord_accounts_of(principal.as_str()).await?)
    }

    /// The quick commands of `cluster` (every cluster's with `None`), by cluster and name.
    pub async fn quick_commands(&self, cluster: Option<&str>) -> Result<Vec<QuickCommand>, WorkflowError> {
        Ok(self.store.quick_commands(cluster).await?)
    }

    /// The terminal recordings of a request, oldest first.
    pub async fn recordings(&self, id: &RequestId) -> Result<Vec<Recording>, WorkflowError> {
        Ok(self.store.recordings(id.as_str()).await?)
    }

    /// One terminal recording and its asciicast text.
    pub async fn recording(&self, session: &str) -> Result<Option<(Recording, String)>, WorkflowError> {
        Ok(self.store.recording(session).await?)
    }
}
