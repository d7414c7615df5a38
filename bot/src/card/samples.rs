//! Sample requests in every state a card shows, shared by the Slack and Discord snapshot tests
//! so both render exactly the same cards; built with the domain's shared request builder
//! (`janus_core::test_support`).

use chrono::{DateTime, Utc};
use janus_core::domain::{AccessRequest, Approval, CredentialsStatus, Policy, Principal, RequestState};

pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    janus_core::test_support::epoch() + chrono::TimeDelta::minutes(minutes)
}

pub(crate) fn person(email: &str) -> Principal {
    janus_core::test_support::person(email)
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
    AccessRequest::test()
        .on_cluster("prod-eu")
        .in_namespaces(&["payments", "checkout"])
        .lasting(7_200)
        .because("investigating 500s on /pay <!channel> & <https://evil.example|click>")
        .created(at(0))
}

pub(crate) fn approval(email: &str, minutes: i64) -> Approval {
    janus_core::test_support::approval(email, at(minutes))
}

/// Every state a card shows, named; who ended a request is on it (`ended_by`), as the domain
/// records it.
pub(crate) fn states() -> Vec<(&'static str, AccessRequest)> {
    let pending = pending();
    let one_of_two = pending.clone().approval_with(approval("bob@example.com", 1));
    let approved = one_of_two
        .clone()
        .approval_with(approval("carol@example.com", 2))
        .decided(at(2));
    let active = approved.clone().granted(at(3), at(123));
    let extending = active.clone().extension_asked(3_600, "still digging", at(60));
    let ended =
        |state, credentials, reason: Option<&str>| active.clone().ended(state, credentials, at(90), reason);
    let denied = pending.clone().denied(Some("not during the freeze"), at(5));
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
