//! Snapshots of the card in every state, and the escaping of what people write.

use janus_core::domain::AccessRequest;

use super::*;
use crate::card::card;
use crate::card::samples::*;

#[test]
fn the_card_in_every_state() {
    for (name, request) in states() {
        let message = card_message(&card(&request, &policy()));
        insta::assert_json_snapshot!(format!("card_{name}"), message);
    }
}

#[test]
fn buttons_follow_the_state() {
    let ids = |request: &AccessRequest| -> Vec<String> {
        let message = card_message(&card(request, &policy()));
        message["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|block| block["type"] == "actions")
            .flat_map(|block| block["elements"].as_array().unwrap().clone())
            .map(|element| element["action_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = states();
    let find = |name: &str| all.iter().find(|(n, ..)| *n == name).unwrap().1.clone();
    assert_eq!(
        ids(&find("pending")),
        [
            "janus_approve",
            "janus_ttl",
            "janus_deny",
            "janus_deny_reason",
            "janus_withdraw"
        ]
    );
    assert_eq!(ids(&find("approved")), ["janus_revoke", "janus_withdraw"]);
    assert_eq!(
        ids(&find("active")),
        ["janus_revoke", "janus_extend", "janus_withdraw"]
    );
    assert!(ids(&find("expired")).is_empty(), "no buttons on an ended request");
    assert!(ids(&find("denied")).is_empty());
}

#[test]
fn what_people_write_cannot_ping_or_forge_links() {
    let message = card_message(&card(&pending(), &policy())).to_string();
    assert!(!message.contains("<!channel>"));
    assert!(!message.contains("<https://evil.example"));
    assert!(message.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"));
}

#[test]
fn the_ttl_menu_offers_the_approval_options_up_to_the_maximum() {
    let mut policy = policy();
    policy.approval_ttl_options = vec![3_600, 7_200, 14_400, 57_600];
    let message = card_message(&card(&pending(), &policy));
    let menu = message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .find(|element| element["action_id"] == "janus_ttl")
        .unwrap();
    let values: Vec<&str> = menu["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|option| option["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        ["jr-4k2m7x5q:3600", "jr-4k2m7x5q:7200", "jr-4k2m7x5q:14400"]
    );
}
