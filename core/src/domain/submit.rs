//! Creating a request: the checks a submission must pass before anything is stored.

use crate::domain::AuditAction;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
pub use janus_wire::names::is_dns_label;
use serde_json::json;

use super::{
    AccessRequest, Actor, CredentialsStatus, DomainError, MAX_REASON_CHARS, MIN_TTL_SECONDS, NewEvent,
    Origin, Policy, Principal, RequestId, RequestState, Transition,
};

/// What a requester asks for, from any channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub cluster: String,
    pub namespaces: Vec<String>,
    /// `None` takes `defaultTtlSeconds`.
    pub ttl_seconds: Option<u64>,
    pub reason: String,
    /// `None` takes `exec`.
    pub profile: Option<String>,
    pub origin: Origin,
}

/// What the store knows about the requester right now, read in the same transaction
/// as the insert so concurrent submissions cannot slip past the limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserActivity {
    pub submitted_last_hour: u32,
    pub live_requests: u32,
    /// (cluster, namespace, request) for each of the user's live requests.
    pub live_namespaces: Vec<(String, String, RequestId)>,
}

/// Checks a draft against the policy and returns the new Pending request with its
/// `request.submitted` event. `known_namespaces` is the cluster's last reported list,
/// when its agent has reported one; without it only excluded namespaces are refused.
pub fn submit(
    id: RequestId,
    draft: Draft,
    requester: &Principal,
    policy: &Policy,
    known_namespaces: Option<&[String]>,
    activity: &UserActivity,
    now: DateTime<Utc>,
) -> Result<Transition, DomainError> {
    if !policy.clusters.contains_key(&draft.cluster) {
        return Err(DomainError::UnknownCluster {
            cluster: draft.cluster,
        });
    }
    let profile = draft.profile.unwrap_or_else(|| "exec".to_owned());
    if !policy.profiles.contains(&profile) {
        return Err(DomainError::UnknownProfile { profile });
    }
    let namespaces = check_namespaces(&draft.cluster, draft.namespaces, policy, known_namespaces)?;
    let ttl_seconds = draft.ttl_seconds.unwrap_or(policy.default_ttl_seconds);
    check_ttl(ttl_seconds, policy)?;
    let reason = check_reason(&draft.reason)?;

    if activity.submitted_last_hour >= policy.limits.requests_per_hour {
        return Err(DomainError::TooManyRequestsPerHour {
            limit: policy.limits.requests_per_hour,
        });
    }
    if activity.live_requests >= policy.limits.live_requests_per_user {
        return Err(DomainError::TooManyLiveRequests {
            limit: policy.limits.live_requests_per_user,
        });
    }
    for (cluster, namespace, existing) in &activity.live_namespaces {
        if cluster == &draft.cluster && namespaces.contains(namespace) {
            return Err(DomainError::AlreadyLive {
                existing: existing.clone(),
                cluster: cluster.clone(),
                namespace: namespace.clone(),
            });
        }
    }

    let request = AccessRequest {
        id,
        requester: requester.clone(),
        origin: draft.origin,
        cluster: draft.cluster,
        namespaces,
        profile,
        requested_ttl_seconds: ttl_seconds,
        ttl_seconds,
        reason,
        state: RequestState::Pending,
        credentials: CredentialsStatus::None,
        approvals: Vec::new(),
        deny_reason: None,
        extension: None,
        extensions: 0,
        created_at: now,
        decided_at: None,
        activated_at: None,
        expires_at: None,
        ended_at: None,
        end_reason: None,
        ended_by: None,
        version: 1,
    };
    let event = NewEvent {
        action: AuditAction::RequestSubmitted,
        actor: Actor::Person(requester.clone()).audit_name(),
        request_id: Some(request.id.clone()),
        cluster: Some(request.cluster.clone()),
        details: json!({
            "namespaces": request.namespaces,
            "profile": request.profile,
            "ttlSeconds": request.ttl_seconds,
            "reason": request.reason,
            "platform": request.origin.platform,
        }),
    };
    let events = vec![event];
    Ok(Transition {
        request,
        notices: super::notify::notices(policy, &events),
        events,
        effects: Vec::new(),
    })
}

/// TTL rule shared by submissions and extensions.
pub(super) fn check_ttl(ttl_seconds: u64, policy: &Policy) -> Result<(), DomainError> {
    let max = policy.max_ttl_seconds.max(MIN_TTL_SECONDS);
    if (MIN_TTL_SECONDS..=max).contains(&ttl_seconds) {
        Ok(())
    } else {
        Err(DomainError::TtlOutOfBounds {
            min: MIN_TTL_SECONDS,
            max,
            given: ttl_seconds,
        })
    }
}

pub(super) fn check_reason(raw: &str) -> Result<String, DomainError> {
    let reason = raw.trim();
    if reason.is_empty() {
        return Err(DomainError::ReasonRequired);
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(DomainError::ReasonTooLong {
            max: MAX_REASON_CHARS,
        });
    }
    Ok(reason.to_owned())
}

fn check_namespaces(
    cluster: &str,
    requested: Vec<String>,
    policy: &Policy,
    known: Option<&[String]>,
) -> Result<Vec<String>, DomainError> {
    if requested.is_empty() {
        return Err(DomainError::NoNamespaces);
    }
    let mut seen = BTreeSet::new();
    let mut namespaces = Vec::with_capacity(requested.len());
    for raw in requested {
        let namespace = raw.trim().to_owned();
        if !is_dns_label(&namespace) {
            return Err(DomainError::InvalidNamespace {
                namespace: namespace.chars().take(80).collect(),
            });
        }
        if !seen.insert(namespace.clone()) {
            return Err(DomainError::DuplicateNamespace { namespace });
        }
        if policy.excluded_namespaces.contains(&namespace) {
            return Err(DomainError::ExcludedNamespace { namespace });
        }
        if let Some(known) = known
            && !known.iter().any(|candidate| candidate == &namespace)
        {
            return Err(DomainError::UnknownNamespace {
                cluster: cluster.to_owned(),
                namespace,
            });
        }
        namespaces.push(namespace);
    }
    Ok(namespaces)
}
