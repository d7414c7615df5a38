//! The access request and its states.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{Principal, RequestId};

/// A reason is required and at most this many characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Where a request moves. Terminal states never change again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    Approved,
    Active,
    Expired,
    Denied,
    Revoked,
    Withdrawn,
    Failed,
}

impl RequestState {
    pub const ALL: [RequestState; 8] = [
        RequestState::Pending,
        RequestState::Approved,
        RequestState::Active,
        RequestState::Expired,
        RequestState::Denied,
        RequestState::Revoked,
        RequestState::Withdrawn,
        RequestState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Active => "active",
            RequestState::Expired => "expired",
            RequestState::Denied => "denied",
            RequestState::Revoked => "revoked",
            RequestState::Withdrawn => "withdrawn",
            RequestState::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == raw)
    }

    /// Pending, Approved and Active requests are live: they count against limits and
    /// may still hold or gain credentials.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            RequestState::Pending | RequestState::Approved | RequestState::Active
        )
    }

    pub fn is_terminal(self) -> bool {
        !self.is_live()
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether Kubernetes credentials exist for a request. Tracked apart from the state
/// because a terminal request can still have credentials until cleanup has succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialsStatus {
    /// Nothing was ever created.
    None,
    /// Grant work is queued or running.
    Provisioning,
    /// The agent reported every namespace granted.
    Live,
    /// Cleanup is queued or running.
    Cleaning,
    /// The agent reported every object deleted.
    Cleaned,
    /// The last cleanup attempt failed; it is retried with backoff until it succeeds.
    CleanupFailed,
}

impl CredentialsStatus {
    pub const ALL: [CredentialsStatus; 6] = [
        CredentialsStatus::None,
        CredentialsStatus::Provisioning,
        CredentialsStatus::Live,
        CredentialsStatus::Cleaning,
        CredentialsStatus::Cleaned,
        CredentialsStatus::CleanupFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CredentialsStatus::None => "none",
            CredentialsStatus::Provisioning => "provisioning",
            CredentialsStatus::Live => "live",
            CredentialsStatus::Cleaning => "cleaning",
            CredentialsStatus::Cleaned => "cleaned",
            CredentialsStatus::CleanupFailed => "cleanup_failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }

    /// True when no Kubernetes object for the request can exist any more.
    pub fn is_settled(self) -> bool {
        matches!(self, CredentialsStatus::None | CredentialsStatus::Cleaned)
    }
}

impl fmt::Display for CredentialsStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Web,
    Api,
    Slack,
    Discord,
}

/// Where the request came from, so replies and card updates find their way back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    pub platform: Platform,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
}

impl Origin {
    pub fn web() -> Self {
        Origin {
            platform: Platform::Web,
            channel: None,
            message: None,
            thread: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub by: Principal,
    pub at: DateTime<Utc>,
    /// The TTL this approver chose from `approvalTtlOptions`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A requester's ask for more time on an Active request, approved like a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionRequest {
    pub ttl_seconds: u64,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
    pub approvals: Vec<Approval>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    pub id: RequestId,
    pub requester: Principal,
    pub origin: Origin,
    pub cluster: String,
    pub namespaces: Vec<String>,
    pub profile: String,
    /// What the requester asked for.
    pub requested_ttl_seconds: u64,
    /// What applies: the requested TTL, or the shortest an approver chose.
    pub ttl_seconds: u64,
    pub reason: String,
    pub state: RequestState,
    pub credentials: CredentialsStatus,
    pub approvals: Vec<Approval>,
    /// The reason given with the decision that ended it: a denial (or the automatic one) or a
    /// revocation.
    pub deny_reason: Option<String>,
    pub extension: Option<ExtensionRequest>,
    /// Extensions granted so far.
    pub extensions: u32,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub activated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    /// Who ended it, as the audit log names them: a person's email, `system` (expiry, automatic
    /// denial, grant timeout) or `agent:<cluster>` (a failed grant).
    pub ended_by: Option<String>,
    /// Bumped by every accepted command; the store writes guarded by it.
    pub version: i64,
}

impl AccessRequest {
    /// Time left on an Active request, or zero.
    pub fn remaining(&self, now: DateTime<Utc>) -> TimeDelta {
        match (self.state, self.expires_at) {
            (RequestState::Active, Some(expires_at)) if expires_at > now => expires_at - now,
            _ => TimeDelta::zero(),
        }
    }

    pub fn is_approved_by(&self, principal: &Principal) -> bool {
        self.approvals.iter().any(|approval| &approval.by == principal)
    }
}
