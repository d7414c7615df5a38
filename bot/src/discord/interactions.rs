//! One verified interaction: PING, an application command, autocomplete, a click on the
//! card (button or TTL menu), or a modal.
//!
//! Every click is authorized by the workflow for the person who clicked, against the
//! request as it is now: a non-approver, the requester approving their own request, or a
//! click on a card that moved on gets an ephemeral refusal, changes nothing, and is audited
//! (`crate::chat::act`). The card itself is edited by the outbox, whatever caused the change.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use janus_core::domain::RequestId;
use janus_core::duration::parse_duration;
use serde_json::Value;
use serenity::model::application::{
    ActionRowComponent, ComponentInteraction, ComponentInteractionDataKind, Interaction, ModalInteraction,
};

use super::embed::{DENY_MODAL, EXTEND_MODAL, deny_modal, ephemeral, extend_modal, pong};
use super::{CHANNEL, Discord, command};
use crate::card::CardAction;
use crate::chat;

pub(super) async fn handle(discord: Arc<Discord>, body: &[u8]) -> Response {
    let interaction: Interaction = match serde_json::from_slice(body) {
        Ok(interaction) => interaction,
        Err(error) => {
            tracing::debug!(%error, "a signed Discord body did not parse");
            return discord
                .refuse(
                    StatusCode::BAD_REQUEST,
                    "malformed",
                    "The body is not a Discord interaction.",
                )
                .await;
        }
    };
    match interaction {
        Interaction::Ping(_) => Json(pong()).into_response(),
        Interaction::Command(command) => command::handle(discord, command).await,
        Interaction::Autocomplete(command) => command::autocomplete(&discord, &command).await,
        Interaction::Component(component) => {
            let token = component.token.clone();
            let task = discord.clone();
            match click_modal(&discord, &component) {
                Some(modal) => Json(modal).into_response(),
                None => {
                    discord
                        .answer_within_deadline(token, async move { click(&task, component).await })
                        .await
                }
            }
        }
        Interaction::Modal(modal) => {
            let token = modal.token.clone();
            let task = discord.clone();
            discord
                .answer_within_deadline(token, async move { submitted(&task, modal).await })
                .await
        }
        _ => Json(ephemeral("Janus does not handle this kind of interaction.")).into_response(),
    }
}

/// The action and request a component's custom id names.
fn parse_custom_id(custom_id: &str) -> Option<(CardAction, Option<RequestId>)> {
    let (action, id) = custom_id.split_once(':')?;
    Some((CardAction::parse(action)?, RequestId::parse(id)))
}

/// Buttons that open a form answer with it at once (a modal must be the first answer). Who
/// may submit it is decided when it is submitted.
fn click_modal(discord: &Discord, component: &ComponentInteraction) -> Option<Value> {
    let (action, Some(id)) = parse_custom_id(&component.data.custom_id)? else {
        return None;
    };
    match action {
        CardAction::DenyWithReason => Some(deny_modal(id.as_str())),
        CardAction::Extend => Some(extend_modal(
            id.as_str(),
            &discord.workflow.policy().request_ttl_choices(),
        )),
        _ => None,
    }
}

async fn click(discord: &Discord, component: ComponentInteraction) -> Value {
    let Some((action, id)) = parse_custom_id(&component.data.custom_id) else {
        return ephemeral("That control is not one of Janus's.");
    };
    let Some(id) = id else {
        return ephemeral("That button does not name a request Janus knows.");
    };
    let user = component.user.id.get().to_string();
    let principal = match discord.principal(&user).await {
        Ok(principal) => principal,
        Err(problem) => return ephemeral(&problem),
    };
    let ttl_seconds = match (action, &component.data.kind) {
        (CardAction::TtlOverride, ComponentInteractionDataKind::StringSelect { values }) => {
            match values.first().and_then(|value| value.parse::<u64>().ok()) {
                Some(ttl) => Some(ttl),
                None => return ephemeral("Choose one of the TTLs on the menu."),
            }
        }
        (CardAction::TtlOverride, _) => return ephemeral("Choose one of the TTLs on the menu."),
        _ => None,
    };
    let Some((expected, command)) = action.command(ttl_seconds) else {
        return ephemeral("Use the form to ask for more time.");
    };
    let outcome = discord
        .act(&id, expected, command, &principal)
        .await
        .map(|request| action.done(&request));
    match outcome {
        Ok(text) | Err(text) => ephemeral(&text),
    }
}

/// The value typed into the modal's field `field`.
fn field(modal: &ModalInteraction, field: &str) -> Option<String> {
    modal
        .data
        .components
        .iter()
        .flat_map(|row| row.components.iter())
        .find_map(|component| match component {
            ActionRowComponent::InputText(input) if input.custom_id == field => input.value.clone(),
            _ => None,
        })
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

async fn submitted(discord: &Discord, modal: ModalInteraction) -> Value {
    let Some((form, id)) = modal.data.custom_id.split_once(':') else {
        return ephemeral("That form is not one of Janus's.");
    };
    let Some(id) = RequestId::parse(id) else {
        return ephemeral("That form does not name a request Janus knows.");
    };
    let user = modal.user.id.get().to_string();
    let principal = match discord.principal(&user).await {
        Ok(principal) => principal,
        Err(problem) => return ephemeral(&problem),
    };
    let reason = field(&modal, "reason");
    let outcome = match form {
        DENY_MODAL => chat::deny(&discord.workflow, CHANNEL, &id, reason, &principal)
            .await
            .map(|_| format!("You denied {id}.")),
        EXTEND_MODAL => {
            let Some(raw) = field(&modal, "ttl") else {
                return ephemeral("Say how much more time you need, e.g. 1h.");
            };
            let ttl_seconds = match parse_duration(&raw) {
                Ok(ttl) => ttl,
                Err(problem) => return ephemeral(&problem.to_string()),
            };
            let Some(reason) = reason else {
                return ephemeral("Give a reason for the extension.");
            };
            chat::request_extension(&discord.workflow, CHANNEL, &id, ttl_seconds, reason, &principal).await
        }
        _ => Err("That form is not one of Janus's.".to_owned()),
    };
    match outcome {
        Ok(text) | Err(text) => ephemeral(&text),
    }
}

#[cfg(test)]
mod tests;
