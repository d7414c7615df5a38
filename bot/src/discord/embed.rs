//! The card as a Discord message: one embed with the same fields as Slack's card, and
//! message components (buttons; the TTL menu). Also the interaction responses Janus sends.
//!
//! Nothing a person wrote can ping: every message carries `allowed_mentions: {parse: []}`,
//! and markdown characters in reasons and names are escaped so a reason cannot forge a
//! masked link or restyle the card.

use janus_core::domain::RequestState;
use janus_core::duration::format_duration;
use serde_json::{Value, json};

use crate::card::{ButtonStyle, Card, CardAction};

/// Interaction callback types (Discord's `InteractionCallbackType`).
const PONG: u8 = 1;
const CHANNEL_MESSAGE: u8 = 4;
const DEFERRED_CHANNEL_MESSAGE: u8 = 5;
const AUTOCOMPLETE_RESULT: u8 = 8;
const MODAL: u8 = 9;
/// Message flag: only the person who interacted sees it.
const EPHEMERAL: u64 = 1 << 6;

/// Modal custom ids (the request id follows after `:`).
pub const DENY_MODAL: &str = "janus_deny_modal";
pub const EXTEND_MODAL: &str = "janus_extend_modal";

/// Escapes Discord markdown, so what people write is shown as written.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    let mut line_start = true;
    for character in text.chars() {
        let special = matches!(
            character,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '[' | ']' | '<'
        ) || (line_start && matches!(character, '#' | '-'));
        if special {
            escaped.push('\\');
        }
        escaped.push(character);
        line_start = character == '\n' || (line_start && character == ' ');
    }
    escaped
}

fn colour(state: RequestState) -> u32 {
    match state {
        RequestState::Pending => 0xF1_C4_0F,
        RequestState::Approved => 0x34_98_DB,
        RequestState::Active => 0x2E_CC_71,
        RequestState::Denied | RequestState::Revoked | RequestState::Failed => 0xE7_4C_3C,
        RequestState::Expired | RequestState::Withdrawn => 0x95_A5_A6,
    }
}

fn style(style: ButtonStyle) -> u8 {
    match style {
        ButtonStyle::Primary => 3, // Success (green)
        ButtonStyle::Danger => 4,
        ButtonStyle::Default => 2, // Secondary
    }
}

/// The custom id of a card component: the action and the request it acts on.
pub fn custom_id(action: CardAction, request_id: &str) -> String {
    format!("{}:{request_id}", action.id())
}

/// The embed alone (also attached to direct messages).
pub fn card_embed(card: &Card) -> Value {
    let mut description = format!("**{}**", escape(&card.headline));
    if let Some(at) = card.expires_at {
        description.push_str(&format!(" · until <t:{}:f>", at.timestamp()));
    }
    let mut fields = vec![
        json!({ "name": "Requester", "value": escape(&card.requester), "inline": true }),
        json!({ "name": "Cluster", "value": escape(&card.cluster), "inline": true }),
        json!({ "name": "Namespaces", "value": escape(&card.namespaces.join(", ")), "inline": true }),
        json!({ "name": "TTL", "value": card.ttl, "inline": true }),
        json!({ "name": "Reason", "value": field_value(&card.reason), "inline": false }),
    ];
    if !card.notes.is_empty() {
        let notes = card
            .notes
            .iter()
            .map(|note| escape(note))
            .collect::<Vec<_>>()
            .join("\n");
        fields.push(json!({ "name": "Notes", "value": field_value(&notes), "inline": false }));
    }
    json!({
        "title": card.title,
        "description": description,
        "color": colour(card.state),
        "fields": fields,
        "footer": { "text": format!("{} · {}", card.request_id, card.state) },
    })
}

/// Field values are at most 1024 characters and never empty.
fn field_value(text: &str) -> String {
    if text.trim().is_empty() {
        return "—".to_owned();
    }
    let escaped = escape(text);
    if escaped.chars().count() <= 1024 {
        return escaped;
    }
    let mut cut: String = escaped.chars().take(1021).collect();
    if cut.ends_with('\\') {
        cut.pop();
    }
    cut.push('…');
    cut
}

/// The whole card message (create and edit bodies alike; an ended card has no components).
pub fn card_message(card: &Card) -> Value {
    json!({
        "content": "",
        "embeds": [card_embed(card)],
        "components": components(card),
        "allowed_mentions": { "parse": [] },
    })
}

fn components(card: &Card) -> Vec<Value> {
    let mut buttons = Vec::new();
    let mut rows = Vec::new();
    for action in &card.actions {
        match action {
            // Discord shows one Deny, which asks for an (optional) reason in a modal.
            CardAction::Deny if card.actions.contains(&CardAction::DenyWithReason) => {}
            CardAction::TtlOverride => {}
            action => {
                let label = match action {
                    CardAction::DenyWithReason => "Deny",
                    other => other.label(),
                };
                buttons.push(json!({
                    "type": 2,
                    "style": style(action.style()),
                    "label": label,
                    "custom_id": custom_id(*action, &card.request_id),
                }));
            }
        }
    }
    if !buttons.is_empty() {
        rows.push(json!({ "type": 1, "components": buttons }));
    }
    if card.actions.contains(&CardAction::TtlOverride) && !card.ttl_options.is_empty() {
        let options = card
            .ttl_options
            .iter()
            .take(25)
            .map(|ttl| json!({ "label": format!("Approve for {}", format_duration(*ttl)), "value": ttl.to_string() }))
            .collect::<Vec<_>>();
        rows.push(json!({
            "type": 1,
            "components": [{
                "type": 3,
                "custom_id": custom_id(CardAction::TtlOverride, &card.request_id),
                "placeholder": format!("Approve with another TTL (requested {})", card.ttl),
                "min_values": 1,
                "max_values": 1,
                "options": options,
            }],
        }));
    }
    rows
}

/// A direct message to the requester: the sentence and the card's embed.
pub fn direct_message(text: &str, card: &Card) -> Value {
    json!({ "content": text, "embeds": [card_embed(card)], "allowed_mentions": { "parse": [] } })
}

/// The terminal link, posted in the card's thread (or sent privately).
pub fn link_message(card: &Card, url: &str) -> Value {
    json!({
        "content": format!(
            "Terminal for {} on {} ({}): {url}\nThe link works for {} only, until the access ends.",
            card.request_id,
            escape(&card.cluster),
            escape(&card.namespaces.join(", ")),
            escape(&card.requester)
        ),
        "allowed_mentions": { "parse": [] },
        "flags": 4, // SUPPRESS_EMBEDS: no preview of the link
    })
}

/// The answer to PING.
pub fn pong() -> Value {
    json!({ "type": PONG })
}

/// An ephemeral message as the interaction's answer.
pub fn ephemeral(text: &str) -> Value {
    json!({ "type": CHANNEL_MESSAGE, "data": ephemeral_data(text) })
}

/// The body of an ephemeral message (also for `@original` edits and follow-ups).
pub fn ephemeral_data(text: &str) -> Value {
    json!({ "content": text, "flags": EPHEMERAL, "allowed_mentions": { "parse": [] } })
}

/// "Janus is thinking…", visible to the person only; the answer follows as an edit.
pub fn deferred() -> Value {
    json!({ "type": DEFERRED_CHANNEL_MESSAGE, "data": { "flags": EPHEMERAL } })
}

/// Autocomplete choices (at most 25, as Discord allows).
pub fn choices(choices: &[(String, String)]) -> Value {
    let choices = choices
        .iter()
        .take(25)
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect::<Vec<_>>();
    json!({ "type": AUTOCOMPLETE_RESULT, "data": { "choices": choices } })
}

fn text_input(id: &str, label: &str, paragraph: bool, required: bool, placeholder: &str) -> Value {
    json!({
        "type": 1,
        "components": [{
            "type": 4,
            "custom_id": id,
            "label": label,
            "style": if paragraph { 2 } else { 1 },
            "required": required,
            "max_length": 500,
            "placeholder": placeholder,
        }],
    })
}

/// The modal asking why a request is denied.
pub fn deny_modal(request_id: &str) -> Value {
    json!({
        "type": MODAL,
        "data": {
            "custom_id": format!("{DENY_MODAL}:{request_id}"),
            "title": format!("Deny {request_id}"),
            "components": [text_input("reason", "Reason (shown to the requester)", true, false, "Optional")],
        },
    })
}

/// The modal asking for more time.
pub fn extend_modal(request_id: &str, options: &[u64]) -> Value {
    let examples = options
        .iter()
        .map(|ttl| format_duration(*ttl))
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "type": MODAL,
        "data": {
            "custom_id": format!("{EXTEND_MODAL}:{request_id}"),
            "title": format!("Extend {request_id}"),
            "components": [
                text_input("ttl", "How much more time", false, true, &format!("e.g. {examples}")),
                text_input("reason", "Why", true, true, ""),
            ],
        },
    })
}

#[cfg(test)]
mod tests;
