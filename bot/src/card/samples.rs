//! Sample requests in every state a card shows, shared by the Slack and Discord snapshot tests
//! so both render exactly the same cards.

use chrono::{DateTime, TimeZone, Utc};
use janus_core::domain::{
    AccessRequest, Approval, CredentialsStatus, ExtensionRequest, Origin, Policy, Principal, RequestId,
    RequestState,
};

pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 14, 0, 0).unwrap() + chrono::TimeDelta::minutes(minutes)
}

pub(crate) fn person(email: &str) -> Principal {
    Principal::parse(email).unwrap()
}

pub(crate) fn policy() -> Policy {
    let mut policy = Policy::default();
    policy.clusters.insert(
        "prod-eu".into(),
        janus_core::domain::ClusterPolicy {
            approvers: [person("bob@example.com"), person("carol@example.com")].into(),
            approvals_required: 2,
        },
    );
    policy
}

pub(crate) fn pending() -> AccessRequest {
    AccessRequest {
        id: RequestId::parse("jr-4k2m7x5q").unwrap(),
        requester: person("alice@example.com"),
        origin: Origin::web(),
        cluster: "prod-eu".into(),
        namespaces: vec!["payments".into(), "checkout".into()],
        profile: "exec".into(),
        requested_ttl_seconds: 7_200,
        ttl_seconds: 7_200,
        reason: "investigating 500s on /pay <!channel> & <https://evil.example|click>".into(),
        state: RequestState::Pending,
        credentials: CredentialsStatus::None,
        approvals: Vec::new(),
        deny_reason: None,
        extension: None,
        extensions: 0,
        created_at: at(0),
        decided_at: None,
        activated_at: None,
        expires_at: None,
        ended_at: None,
        end_reason: None,
        ended_by: None,
        version: 1,
    }
}

pub(crate) fn approval(email: &str, minutes: i64) -> Approval {
    Approval {
        by: person(email),
        at: at(minutes),
        ttl_seconds: None,
        reason: None,
    }
}

/// Every state a card shows, named; who ended a request is on it (`ended_by`), as the domain
/// records it.
pub(crate) fn states() -> Vec<(&'static str, AccessRequest)> {
    let pending = pending();
    let one_of_two = AccessRequest {
        approvals: vec![approval("bob@example.com", 1)],
        ..pending.clone()
    };
    let approved = AccessRequest {
        state: RequestState::Approved,
        credentials: CredentialsStatus::Provisioning,
        approvals: vec![approval("bob@example.com", 1), approval("carol@example.com", 2)],
        decided_at: Some(at(2)),
        ..pending.clone()
    };
    let active = AccessRequest {
        state: RequestState::Active,
        credentials: CredentialsStatus::Live,
        activated_at: Some(at(3)),
        expires_at: Some(at(123)),
        ..approved.clone()
    };
    let extending = AccessRequest {
        extension: Some(ExtensionRequest {
            ttl_seconds: 3_600,
            reason: "still digging".into(),
            requested_at: at(60),
            approvals: Vec::new(),
        }),
        ..active.clone()
    };
    let ended = |state, credentials, reason: Option<&str>| AccessRequest {
        state,
        credentials,
        ended_at: Some(at(90)),
        end_reason: reason.map(str::to_owned),
        ..active.clone()
    };
    let denied = AccessRequest {
        state: RequestState::Denied,
        deny_reason: Some("not during the freeze".into()),
        decided_at: Some(at(5)),
        ended_at: Some(at(5)),
        ..pending.clone()
    };
    let samples: Vec<(&'static str, AccessRequest, Option<&str>)> = vec![
        ("pending", pending, None),
        ("pending_one_of_two", one_of_two, None),
        ("approved", approved, None),
        ("active", active.clone(), None),
        ("active_extension_requested", extending, None),
        ("denied", denied, Some("bob@example.com")),
        (
            "expired",
            ended(RequestState::Expired, CredentialsStatus::Cleaned, None),
            Some("system"),
        ),
        (
            "revoked",
            ended(RequestState::Revoked, CredentialsStatus::Cleaning, None),
            Some("carol@example.com"),
        ),
        (
            "withdrawn",
            ended(RequestState::Withdrawn, CredentialsStatus::Cleaned, None),
            Some("alice@example.com"),
        ),
        (
            "failed",
            ended(
                RequestState::Failed,
                CredentialsStatus::CleanupFailed,
                Some("namespace payments: forbidden"),
            ),
            Some("agent:prod-eu"),
        ),
    ];
    samples
        .into_iter()
        .map(|(name, request, ended_by)| {
            let ended_by = ended_by.map(str::to_owned);
            (name, AccessRequest { ended_by, ..request })
        })
        .collect()
}
