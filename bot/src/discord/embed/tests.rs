//! Snapshots of the Discord card in every state (next to Slack's), and the escaping of what
//! people write.

use chrono::{DateTime, TimeZone, Utc};
use janus_core::domain::{
    AccessRequest, Approval, CredentialsStatus, ExtensionRequest, Origin, Policy, Principal, RequestId,
    RequestState,
};

use super::*;
use crate::card::card;

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 14, 0, 0).unwrap() + chrono::TimeDelta::minutes(minutes)
}

fn person(email: &str) -> Principal {
    Principal::parse(email).unwrap()
}

fn policy() -> Policy {
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

fn pending() -> AccessRequest {
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
        version: 1,
    }
}

fn approval(email: &str, minutes: i64) -> Approval {
    Approval {
        by: person(email),
        at: at(minutes),
        ttl_seconds: None,
        reason: None,
    }
}

fn states() -> Vec<(&'static str, AccessRequest, Option<&'static str>)> {
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
    vec![
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
    ]
}

#[test]
fn the_card_in_every_state() {
    for (name, request, decided_by) in states() {
        let message = card_message(&card(&request, &policy(), decided_by));
        insta::assert_json_snapshot!(format!("discord_card_{name}"), message);
    }
}

fn custom_ids(request: &AccessRequest) -> Vec<String> {
    let message = card_message(&card(request, &policy(), None));
    message["components"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row["components"].as_array().unwrap().clone())
        .map(|component| component["custom_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn components_follow_the_state() {
    let all = states();
    let find = |name: &str| all.iter().find(|(n, ..)| *n == name).unwrap().1.clone();
    assert_eq!(
        custom_ids(&find("pending")),
        [
            "janus_approve:jr-4k2m7x5q",
            "janus_deny_reason:jr-4k2m7x5q",
            "janus_withdraw:jr-4k2m7x5q",
            "janus_ttl:jr-4k2m7x5q"
        ]
    );
    assert_eq!(
        custom_ids(&find("approved")),
        ["janus_revoke:jr-4k2m7x5q", "janus_withdraw:jr-4k2m7x5q"]
    );
    assert_eq!(
        custom_ids(&find("active_extension_requested")),
        [
            "janus_approve_extension:jr-4k2m7x5q",
            "janus_deny_extension:jr-4k2m7x5q",
            "janus_revoke:jr-4k2m7x5q",
            "janus_withdraw:jr-4k2m7x5q"
        ]
    );
    for ended in ["denied", "expired", "revoked", "withdrawn", "failed"] {
        assert!(
            custom_ids(&find(ended)).is_empty(),
            "{ended}: no components once ended"
        );
    }
}

#[test]
fn approve_is_green_and_deny_red_with_a_ttl_menu() {
    let mut policy = policy();
    policy.approval_ttl_options = vec![3_600, 7_200, 57_600];
    let message = card_message(&card(&pending(), &policy, None));
    let rows = message["components"].as_array().unwrap();
    let buttons = rows[0]["components"].as_array().unwrap();
    assert_eq!(
        (buttons[0]["label"].as_str(), buttons[0]["style"].as_u64()),
        (Some("Approve"), Some(3))
    );
    assert_eq!(
        (buttons[1]["label"].as_str(), buttons[1]["style"].as_u64()),
        (Some("Deny"), Some(4))
    );
    let menu = &rows[1]["components"][0];
    assert_eq!(menu["type"], 3);
    assert_eq!(menu["custom_id"], "janus_ttl:jr-4k2m7x5q");
    let values: Vec<&str> = menu["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|option| option["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        ["3600", "7200"],
        "options above the maximum TTL are not offered"
    );
}

#[test]
fn what_people_write_cannot_ping_or_forge_links() {
    let mut request = pending();
    request.reason = "@everyone see [here](https://evil.example) **now**".into();
    let message = card_message(&card(&request, &policy(), None));
    assert_eq!(message["allowed_mentions"]["parse"], serde_json::json!([]));
    let reason = message["embeds"][0]["fields"][4]["value"].as_str().unwrap();
    assert_eq!(
        reason,
        "@everyone see \\[here\\](https://evil.example) \\*\\*now\\*\\*"
    );
    assert_eq!(escape("# title\n- item"), "\\# title\n\\- item");
    assert_eq!(escape("prod-eu"), "prod-eu");
}
