//! Block Kit: the card, the modals and the ephemeral replies as Slack JSON.
//!
//! Text a person wrote (reasons, names) is escaped for mrkdwn, so a reason cannot ping
//! `<!channel>` or forge a link.

use janus_core::domain::RequestState;
use janus_core::duration::format_duration;
use serde_json::{Value, json};

use crate::card::{Card, CardAction};

/// Modal callback ids.
pub const REQUEST_MODAL: &str = "janus_request";
pub const DENY_MODAL: &str = "janus_deny";
pub const EXTEND_MODAL: &str = "janus_extend";

/// Escapes `&`, `<` and `>`, the three characters Slack's mrkdwn gives meaning to.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn mrkdwn(text: impl Into<String>) -> Value {
    json!({ "type": "mrkdwn", "text": text.into() })
}

fn plain(text: impl Into<String>) -> Value {
    json!({ "type": "plain_text", "text": text.into(), "emoji": false })
}

fn emoji(state: RequestState) -> &'static str {
    match state {
        RequestState::Pending => ":hourglass_flowing_sand:",
        RequestState::Approved => ":gear:",
        RequestState::Active => ":large_green_circle:",
        RequestState::Denied => ":no_entry:",
        RequestState::Expired => ":alarm_clock:",
        RequestState::Revoked => ":octagonal_sign:",
        RequestState::Withdrawn => ":leftwards_arrow_with_hook:",
        RequestState::Failed => ":x:",
    }
}

/// The card as a message: `text` (notifications, screen readers) and `blocks`.
pub fn card_message(card: &Card) -> Value {
    let mut headline = format!("{} *{}*", emoji(card.state), escape(&card.headline));
    if let Some(at) = card.expires_at {
        headline.push_str(&format!(
            " · until <!date^{}^{{date_short_pretty}} {{time}}|{} UTC>",
            at.timestamp(),
            at.format("%Y-%m-%d %H:%M")
        ));
    }
    let mut blocks = vec![
        json!({ "type": "header", "text": plain(&card.title) }),
        json!({ "type": "section", "text": mrkdwn(headline) }),
        json!({
            "type": "section",
            "fields": [
                mrkdwn(format!("*Requester*\n{}", escape(&card.requester))),
                mrkdwn(format!("*Cluster*\n{}", escape(&card.cluster))),
                mrkdwn(format!("*Namespaces*\n{}", escape(&card.namespaces.join(", ")))),
                mrkdwn(format!("*TTL*\n{}", card.ttl)),
            ]
        }),
        json!({ "type": "section", "text": mrkdwn(format!("*Reason*\n{}", escape(&card.reason))) }),
    ];
    if !card.notes.is_empty() {
        let notes = card
            .notes
            .iter()
            .map(|note| mrkdwn(escape(note)))
            .collect::<Vec<_>>();
        blocks.push(json!({ "type": "context", "elements": notes }));
    }
    if !card.actions.is_empty() {
        let elements = card
            .actions
            .iter()
            .map(|action| element(*action, card))
            .collect::<Vec<_>>();
        blocks.push(json!({ "type": "actions", "block_id": "janus_actions", "elements": elements }));
    }
    json!({
        "text": format!("{}: {} ({} on {})", card.title, card.headline, card.requester, card.cluster),
        "blocks": blocks,
    })
}

fn element(action: CardAction, card: &Card) -> Value {
    let button = |style: Option<&str>| {
        let mut button = json!({
            "type": "button",
            "action_id": action.id(),
            "text": plain(action.label()),
            "value": card.request_id,
        });
        if let Some(style) = style {
            button["style"] = json!(style);
        }
        button
    };
    match action {
        CardAction::Approve | CardAction::ApproveExtension => button(Some("primary")),
        CardAction::Deny => {
            let mut deny = button(Some("danger"));
            deny["confirm"] = json!({
                "title": plain("Deny this request?"),
                "text": mrkdwn(format!("{} will be told it was denied.", escape(&card.requester))),
                "confirm": plain("Deny"),
                "deny": plain("Cancel"),
                "style": "danger",
            });
            deny
        }
        CardAction::Revoke => {
            let mut revoke = button(Some("danger"));
            revoke["confirm"] = json!({
                "title": plain("Revoke this access?"),
                "text": mrkdwn("Credentials are deleted and open terminals close at once."),
                "confirm": plain("Revoke"),
                "deny": plain("Cancel"),
                "style": "danger",
            });
            revoke
        }
        CardAction::DenyExtension => button(Some("danger")),
        CardAction::TtlOverride => json!({
            "type": "static_select",
            "action_id": action.id(),
            "placeholder": plain(format!("TTL: {} (requested)", card.ttl)),
            "options": card.ttl_options.iter().map(|ttl| ttl_option(card, *ttl)).collect::<Vec<_>>(),
        }),
        CardAction::DenyWithReason | CardAction::Withdraw | CardAction::Extend => button(None),
    }
}

fn ttl_option(card: &Card, ttl: u64) -> Value {
    json!({ "text": plain(format_duration(ttl)), "value": format!("{}:{ttl}", card.request_id) })
}

/// A reply only the person who acted sees.
pub fn ephemeral(text: &str) -> Value {
    json!({ "response_type": "ephemeral", "replace_original": false, "text": text })
}

/// A short message with the requester's own buttons (direct messages).
pub fn direct_message(text: &str, card: &Card) -> Value {
    let mine = card
        .actions
        .iter()
        .copied()
        .filter(|action| matches!(action, CardAction::Withdraw | CardAction::Extend))
        .map(|action| element(action, card))
        .collect::<Vec<_>>();
    let mut blocks = vec![json!({ "type": "section", "text": mrkdwn(escape(text)) })];
    if !mine.is_empty() {
        blocks.push(json!({ "type": "actions", "block_id": "janus_actions", "elements": mine }));
    }
    json!({ "text": text, "blocks": blocks })
}

/// The terminal link message (the URL is signed; it is never logged).
pub fn link_message(card: &Card, url: &str) -> Value {
    let until = card
        .expires_at
        .map(|at| format!(" until {} UTC", at.format("%H:%M")))
        .unwrap_or_default();
    json!({
        "text": format!("Access active{until}: open the terminal"),
        "blocks": [{ "type": "section", "text": mrkdwn(format!(
            "{} Access for {} active{until} — <{url}|open terminal>",
            emoji(RequestState::Active), escape(&card.requester)
        )) }],
    })
}

/// Options for a static select.
fn options(items: &[(String, String)]) -> Vec<Value> {
    items
        .iter()
        .map(|(label, value)| json!({ "text": plain(label.clone()), "value": value }))
        .collect()
}

/// The request modal: cluster, namespaces (grouped by cluster), TTL and reason.
/// `namespaces` is (cluster, namespace names); `metadata` travels back on submission.
pub fn request_modal(
    clusters: &[(String, String)],
    namespaces: &[(String, Vec<String>)],
    ttls: &[u64],
    default_ttl: u64,
    metadata: &str,
) -> Value {
    let groups = namespaces
        .iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(cluster, names)| {
            let items = names
                .iter()
                .take(100)
                .map(|name| (name.clone(), format!("{cluster}/{name}")))
                .collect::<Vec<_>>();
            json!({ "label": plain(cluster.clone()), "options": options(&items) })
        })
        .collect::<Vec<_>>();
    let ttl_items = ttls
        .iter()
        .map(|ttl| (format_duration(*ttl), ttl.to_string()))
        .collect::<Vec<_>>();
    let default = (format_duration(default_ttl), default_ttl.to_string());
    json!({
        "type": "modal",
        "callback_id": REQUEST_MODAL,
        "private_metadata": metadata,
        "title": plain("Request access"),
        "submit": plain("Request"),
        "close": plain("Cancel"),
        "blocks": [
            { "type": "input", "block_id": "cluster", "label": plain("Cluster"),
              "element": { "type": "static_select", "action_id": "value", "options": options(clusters) } },
            { "type": "input", "block_id": "namespaces", "label": plain("Namespaces"),
              "element": { "type": "multi_static_select", "action_id": "value", "option_groups": groups } },
            { "type": "input", "block_id": "ttl", "label": plain("TTL"),
              "element": { "type": "static_select", "action_id": "value", "options": options(&ttl_items),
                           "initial_option": { "text": plain(default.0), "value": default.1 } } },
            { "type": "input", "block_id": "reason", "label": plain("Reason"),
              "element": { "type": "plain_text_input", "action_id": "value", "multiline": true,
                           "max_length": 500 } },
        ],
    })
}

/// Deny with an optional reason.
pub fn deny_modal(request_id: &str) -> Value {
    json!({
        "type": "modal",
        "callback_id": DENY_MODAL,
        "private_metadata": request_id,
        "title": plain("Deny request"),
        "submit": plain("Deny"),
        "close": plain("Cancel"),
        "blocks": [
            { "type": "input", "block_id": "reason", "optional": true, "label": plain(format!("Why deny {request_id}?")),
              "element": { "type": "plain_text_input", "action_id": "value", "max_length": 500 } },
        ],
    })
}

/// Ask for more time on an Active request.
pub fn extend_modal(request_id: &str, ttls: &[u64]) -> Value {
    let ttl_items = ttls
        .iter()
        .map(|ttl| (format_duration(*ttl), ttl.to_string()))
        .collect::<Vec<_>>();
    json!({
        "type": "modal",
        "callback_id": EXTEND_MODAL,
        "private_metadata": request_id,
        "title": plain("Extend access"),
        "submit": plain("Ask"),
        "close": plain("Cancel"),
        "blocks": [
            { "type": "input", "block_id": "ttl", "label": plain("More time"),
              "element": { "type": "static_select", "action_id": "value", "options": options(&ttl_items) } },
            { "type": "input", "block_id": "reason", "label": plain("Reason"),
              "element": { "type": "plain_text_input", "action_id": "value", "max_length": 500 } },
        ],
    })
}

#[cfg(test)]
mod tests;
