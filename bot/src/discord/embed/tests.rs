//! Snapshots of the Discord card in every state (next to Slack's), and the escaping of what
//! people write.

use janus_core::domain::AccessRequest;

use super::*;
use crate::card::card;
use crate::card::samples::*;

#[test]
fn the_card_in_every_state() {
    for (name, request) in states() {
        let message = card_message(&card(&request, &policy()));
        insta::assert_json_snapshot!(format!("discord_card_{name}"), message);
    }
}

fn custom_ids(request: &AccessRequest) -> Vec<String> {
    let message = card_message(&card(request, &policy()));
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
    let message = card_message(&card(&pending(), &policy));
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
    let message = card_message(&card(&request, &policy()));
    assert_eq!(message["allowed_mentions"]["parse"], serde_json::json!([]));
    let reason = message["embeds"][0]["fields"][4]["value"].as_str().unwrap();
    assert_eq!(
        reason,
        "@everyone see \\[here\\](https://evil.example) \\*\\*now\\*\\*"
    );
    assert_eq!(escape("# title\n- item"), "\\# title\n\\- item");
    assert_eq!(escape("prod-eu"), "prod-eu");
}
