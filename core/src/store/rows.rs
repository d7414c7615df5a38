//! Row types shared by both backends and their conversion to domain values.

use crate::audit::AuditRecord;
use crate::domain::{AccessRequest, CredentialsStatus, Principal, RequestId, RequestState};
use crate::time::Timestamp;

use super::StoreError;

/// The columns of `requests`, in the order of [`REQUEST_COLUMNS`].
#[derive(Debug, sqlx::FromRow)]
pub(super) struct RequestRow {
    pub id: String,
    pub requester: String,
    pub origin: String,
    pub cluster: String,
    pub namespaces: String,
    pub profile: String,
    pub requested_ttl_seconds: i64,
    pub ttl_seconds: i64,
    pub reason: String,
    pub state: String,
    pub credentials: String,
    pub approvals: String,
    pub deny_reason: Option<String>,
    pub extension: Option<String>,
    pub extensions: i64,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
    pub activated_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub end_reason: Option<String>,
    pub ended_by: Option<String>,
    pub version: i64,
}

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("request {id}: unreadable {what}"))
}

fn json<T: serde::de::DeserializeOwned>(text: &str, what: &str, id: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt(what, id))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Corrupt(error.to_string()))
}

impl RequestRow {
    pub fn into_domain(self) -> Result<AccessRequest, StoreError> {
        let id = &self.id;
        Ok(AccessRequest {
            id: RequestId::parse(id).ok_or_else(|| corrupt("id", id))?,
            requester: Principal::parse(&self.requester).map_err(|_| corrupt("requester", id))?,
            origin: json(&self.origin, "origin", id)?,
            cluster: self.cluster.clone(),
            namespaces: json(&self.namespaces, "namespaces", id)?,
            profile: self.profile.clone(),
            requested_ttl_seconds: u64::try_from(self.requested_ttl_seconds)
                .map_err(|_| corrupt("ttl", id))?,
            ttl_seconds: u64::try_from(self.ttl_seconds).map_err(|_| corrupt("ttl", id))?,
            reason: self.reason.clone(),
            state: RequestState::parse(&self.state).ok_or_else(|| corrupt("state", id))?,
            credentials: CredentialsStatus::parse(&self.credentials)
                .ok_or_else(|| corrupt("credentials", id))?,
            approvals: json(&self.approvals, "approvals", id)?,
            deny_reason: self.deny_reason.clone(),
            extension: self
                .extension
                .as_deref()
                .map(|text| json(text, "extension", id))
                .transpose()?,
            extensions: u32::try_from(self.extensions).map_err(|_| corrupt("extensions", id))?,
            created_at: self.created_at.0,
            decided_at: self.decided_at.map(|at| at.0),
            activated_at: self.activated_at.map(|at| at.0),
            expires_at: self.expires_at.map(|at| at.0),
            ended_at: self.ended_at.map(|at| at.0),
            end_reason: self.end_reason.clone(),
            ended_by: self.ended_by.clone(),
            version: self.version,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct AuditRow {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub request_id: Option<String>,
    pub cluster: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    pub fn into_record(self) -> AuditRecord {
        // Unparseable details are kept as a string: the hash check then names the row.
        let details = serde_json::from_str(&self.details).unwrap_or(serde_json::Value::String(self.details));
        AuditRecord {
            seq: self.seq,
            at: self.at.0,
            actor: self.actor,
            action: self.action,
            request_id: self.request_id,
            cluster: self.cluster,
            details,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct WorkRow {
    pub id: i64,
    pub cluster: String,
    pub kind: String,
    pub request_id: String,
    pub status: String,
    pub attempt: i64,
    pub lease_token: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct OutboxRow {
    pub id: i64,
    pub channel: String,
    pub request_id: String,
    pub kind: String,
    pub event: String,
    pub attempts: i64,
}

impl OutboxRow {
    pub fn into_item(self) -> Result<super::OutboxItem, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("outbox {}: {what}", self.id));
        Ok(super::OutboxItem {
            id: self.id,
            request_id: RequestId::parse(&self.request_id).ok_or_else(|| corrupt("bad request id"))?,
            kind: crate::domain::NoticeKind::parse(&self.kind).ok_or_else(|| corrupt("unknown kind"))?,
            channel: self.channel,
            event: self.event,
            attempts: self.attempts,
        })
    }
}
