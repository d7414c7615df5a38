//! `POST /slack/interactions`: card buttons, the TTL menu, and modal submissions.
//!
//! Every click is authorized by the workflow for the person who clicked, against the
//! request as it is now: a non-approver, the requester approving their own request, or a
//! click on a card that moved on gets an ephemeral refusal, changes nothing, and is
//! audited. The card itself is updated by the outbox, whatever caused the change.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use janus_core::domain::{Draft, RequestId};
use janus_core::duration::parse_duration;
use serde::Deserialize;
use serde_json::{Value, json};

use super::blocks::{DENY_MODAL, EXTEND_MODAL, REQUEST_MODAL, deny_modal, ephemeral, extend_modal};
use super::slash::origin;
use super::{CHANNEL, Slack, bad_request};
use crate::card::CardAction;
use crate::chat;

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: User,
    #[serde(default)]
    trigger_id: Option<String>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    actions: Vec<Action>,
    #[serde(default)]
    state: Option<State>,
    #[serde(default)]
    view: Option<View>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct State {
    #[serde(default)]
    values: Value,
}

#[derive(Debug, Deserialize)]
struct View {
    callback_id: String,
    #[serde(default)]
    private_metadata: String,
    #[serde(default)]
    state: State,
}

#[derive(Debug, Deserialize)]
struct Form {
    payload: String,
}

pub(super) async fn handle(slack: Arc<Slack>, body: &[u8]) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<Form>(body) else {
        return bad_request("The body has no payload field.");
    };
    let payload: Payload = match serde_json::from_str(&form.payload) {
        Ok(payload) => payload,
        Err(_) => return bad_request("The payload is not a Slack interaction."),
    };
    match payload.kind.as_str() {
        "block_actions" => {
            // Clicks are answered at once; the outcome reaches the clicker through the
            // response URL and everyone else through the card update.
            tokio::spawn(async move { click(&slack, payload).await });
            StatusCode::OK.into_response()
        }
        "view_submission" => submission(&slack, payload).await,
        _ => StatusCode::OK.into_response(),
    }
}

async fn click(slack: &Slack, payload: Payload) {
    let Some(action) = payload.actions.first() else {
        return;
    };
    let Some(kind) = CardAction::parse(&action.action_id) else {
        return;
    };
    if kind == CardAction::TtlOverride {
        return; // a choice on the menu; it applies when Approve is clicked
    }
    let Some(id) = action.value.as_deref().and_then(RequestId::parse) else {
        tell(
            slack,
            &payload,
            "That button does not name a request Janus knows.",
        )
        .await;
        return;
    };
    let principal = match slack.principal(&payload.user.id).await {
        Ok(principal) => principal,
        Err(problem) => return tell(slack, &payload, &problem).await,
    };
    match kind {
        CardAction::DenyWithReason => {
            return open(slack, &payload, &deny_modal(id.as_str())).await;
        }
        CardAction::Extend => {
            let view = extend_modal(id.as_str(), &slack.workflow.policy().request_ttl_choices());
            return open(slack, &payload, &view).await;
        }
        _ => {}
    }
    let ttl_seconds = (kind == CardAction::Approve)
        .then(|| chosen_ttl(payload.state.as_ref(), &id))
        .flatten();
    let Some((expected, command)) = kind.command(ttl_seconds) else {
        return;
    };
    let outcome = slack
        .act(&id, expected, command, &principal)
        .await
        .map(|request| kind.done(&request));
    match outcome {
        Ok(text) | Err(text) => tell(slack, &payload, &text).await,
    }
}

/// The TTL an approver picked on this card's menu, if any.
fn chosen_ttl(state: Option<&State>, id: &RequestId) -> Option<u64> {
    let blocks = state?.values.as_object()?;
    blocks.values().find_map(|actions| {
        let value = actions
            .get(CardAction::TtlOverride.id())?
            .get("selected_option")?
            .get("value")?
            .as_str()?;
        let (request, ttl) = value.split_once(':')?;
        (request == id.as_str()).then(|| ttl.parse().ok()).flatten()
    })
}

async fn open(slack: &Slack, payload: &Payload, view: &Value) {
    let Some(trigger) = &payload.trigger_id else {
        return;
    };
    if let Err(error) = slack.api.open_view(trigger, view).await {
        tracing::warn!(%error, "views.open failed");
        tell(slack, payload, "Janus could not open the form; try again.").await;
    }
}

/// An ephemeral message to the person who clicked.
async fn tell(slack: &Slack, payload: &Payload, text: &str) {
    let Some(url) = &payload.response_url else { return };
    if let Err(error) = slack.api.respond(url, &ephemeral(text)).await {
        tracing::warn!(%error, "could not answer a Slack click");
    }
}

/// A modal was submitted: validate, act, and either close it or show the problem on the
/// field it concerns.
async fn submission(slack: &Slack, payload: Payload) -> Response {
    let Some(view) = &payload.view else {
        return bad_request("A view submission without a view.");
    };
    let principal = match slack.principal(&payload.user.id).await {
        Ok(principal) => principal,
        Err(problem) => return field_error("reason", &problem),
    };
    let text = |block: &str| -> Option<String> {
        let value = &view.state.values[block]["value"];
        value["value"]
            .as_str()
            .or_else(|| value["selected_option"]["value"].as_str())
            .map(str::to_owned)
    };
    match view.callback_id.as_str() {
        REQUEST_MODAL => {
            let Some(cluster) = text("cluster") else {
                return field_error("cluster", "Choose a cluster.");
            };
            let picked = view.state.values["namespaces"]["value"]["selected_options"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut namespaces = Vec::new();
            for option in &picked {
                let Some((ns_cluster, name)) = option["value"].as_str().and_then(|v| v.split_once('/'))
                else {
                    continue;
                };
                if ns_cluster != cluster {
                    return field_error(
                        "namespaces",
                        &format!("`{name}` is on {ns_cluster}, not on {cluster}."),
                    );
                }
                namespaces.push(name.to_owned());
            }
            let ttl_seconds = text("ttl").and_then(|ttl| parse_duration(&ttl).ok());
            let draft = Draft {
                cluster,
                namespaces,
                ttl_seconds,
                reason: text("reason").unwrap_or_default(),
                profile: None,
                origin: origin((!view.private_metadata.is_empty()).then(|| view.private_metadata.clone())),
            };
            match slack.workflow.submit(&principal, draft).await {
                Ok(request) => {
                    let channel = view.private_metadata.clone();
                    let note = format!("Request {} submitted, waiting for approval.", request.id);
                    let (api, user) = (slack.api.clone(), payload.user.id.clone());
                    if !channel.is_empty() {
                        tokio::spawn(async move {
                            if let Err(error) = api
                                .post_ephemeral(&channel, &user, &json!({ "text": note }))
                                .await
                            {
                                tracing::warn!(%error, "could not confirm a submission");
                            }
                        });
                    }
                    StatusCode::OK.into_response()
                }
                Err(error) => {
                    let block = match &error {
                        janus_core::workflow::WorkflowError::Refused(refusal) => match refusal.code() {
                            code if code.contains("namespace") => "namespaces",
                            code if code.contains("ttl") => "ttl",
                            code if code.contains("cluster") => "cluster",
                            _ => "reason",
                        },
                        _ => "reason",
                    };
                    field_error(block, &error.to_string())
                }
            }
        }
        DENY_MODAL | EXTEND_MODAL => {
            let Some(id) = RequestId::parse(&view.private_metadata) else {
                return bad_request("The form does not name a request.");
            };
            let reason = text("reason").filter(|reason| !reason.trim().is_empty());
            let result = if view.callback_id == DENY_MODAL {
                chat::deny(&slack.workflow, CHANNEL, &id, reason, &principal)
                    .await
                    .map(drop)
            } else {
                let Some(ttl_seconds) = text("ttl").and_then(|ttl| parse_duration(&ttl).ok()) else {
                    return field_error("ttl", "Choose how much more time you need.");
                };
                let reason = reason.unwrap_or_default();
                chat::request_extension(&slack.workflow, CHANNEL, &id, ttl_seconds, reason, &principal)
                    .await
                    .map(drop)
            };
            match result {
                Ok(_) => StatusCode::OK.into_response(),
                Err(problem) => field_error("reason", &problem),
            }
        }
        _ => StatusCode::OK.into_response(),
    }
}

/// Keeps the modal open with `message` under the field `block`.
fn field_error(block: &str, message: &str) -> Response {
    Json(json!({ "response_action": "errors", "errors": { block: message } })).into_response()
}
