//! The web's two ways of writing to the audit log from a handler: [`record`] for an event whose loss
//! must not fail the answer, and [`refusal`], the one shape of an `auth.refused` event.

use janus_core::domain::{AccessRequest, AuditAction, NewEvent};
use serde_json::{Value, json};

use crate::AppState;

/// Appends `event`; a failure to audit is logged (`could not audit {what}`), never shown.
pub(crate) async fn record(state: &AppState, event: NewEvent, what: &str) {
    let action = event.action;
    if let Err(error) = state.workflow.audit(event).await {
        tracing::error!(%error, action = action.as_str(), "could not audit {what}");
    }
}

/// Appends an `auth.refused` event by `actor`, with `code` added to `details` and, when the refusal
/// is about a request, that request's id and cluster.
pub(crate) async fn refusal(
    state: &AppState,
    actor: &str,
    request: Option<&AccessRequest>,
    code: &str,
    details: Value,
) {
    let mut details = details;
    if let Some(map) = details.as_object_mut() {
        map.insert("code".to_owned(), json!(code));
    }
    let event = NewEvent {
        action: AuditAction::AuthRefused,
        actor: actor.to_owned(),
        request_id: request.map(|request| request.id.clone()),
        cluster: request.map(|request| request.cluster.clone()),
        details,
    };
    record(state, event, "a refusal").await;
}
