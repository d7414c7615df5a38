//! What every chat adapter does the same way, whatever the platform.
//!
//! - [`act`]: run a workflow command for the person who typed or clicked, against the
//!   request as it is now. The workflow decides (approver? own request? still in the state
//!   the card showed?); a refusal the workflow did not audit itself (a stale card, an
//!   invalid move) is audited here as `command.refused`, so every refused click leaves a
//!   trace. The error is the sentence shown ephemerally to that person.
//! - [`audit`]: append an audit event, logging (never failing) when the store is down.
//! - [`deny`], [`request_extension`]: the two commands a chat form submits, as [`act`].
//! - [`list_requests`]: `/janus list`, a person's recent requests, one [`Summary`] line each.

use chrono::{DateTime, Utc};
use janus_core::domain::{
    AccessRequest, Actor, AuditAction, Command, NewEvent, Principal, RequestId, RequestState,
};
use janus_core::duration::format_duration;
use janus_core::store::RequestFilter;
use janus_core::workflow::{Workflow, WorkflowError};
use serde_json::json;

/// Appends an audit event; a failure is logged, never shown.
pub async fn audit(
    workflow: &Workflow,
    action: AuditAction,
    actor: &str,
    id: Option<&RequestId>,
    details: serde_json::Value,
) {
    let event = NewEvent {
        action,
        actor: actor.to_owned(),
        request_id: id.cloned(),
        cluster: None,
        details,
    };
    if let Err(error) = workflow.audit(event).await {
        tracing::error!(%error, "could not write an audit event");
    }
}

/// Audits that a chat user could not be identified as a principal (`chat.identity_refused`,
/// actor `<platform>:<user id>`); `code` says why (`no_email`, `bad_email`, `unlinked`).
pub async fn identity_refused(workflow: &Workflow, platform: &str, user_id: &str, code: &str) {
    audit(
        workflow,
        AuditAction::ChatIdentityRefused,
        &format!("{platform}:{user_id}"),
        None,
        serde_json::json!({ "platform": platform, "code": code }),
    )
    .await;
}

/// Runs `command` on `id` as `actor`, from `platform` (`slack`, `discord`). `expected` is
/// the state the clicked card showed: a click on a card that moved on is refused.
pub async fn act(
    workflow: &Workflow,
    platform: &'static str,
    id: &RequestId,
    expected: Option<RequestState>,
    command: Command,
    actor: &Principal,
) -> Result<AccessRequest, String> {
    let verb = command.verb();
    let person = Actor::Person(actor.clone());
    match workflow.execute(id, expected, command, &person).await {
        Ok(request) => Ok(request),
        Err(error) => {
            let audited =
                matches!(&error, WorkflowError::Refused(refusal) if refusal.is_authorization_refusal());
            if !audited {
                let code = match &error {
                    WorkflowError::Refused(refusal) => refusal.code(),
                    WorkflowError::NotFound(_) => "not_found",
                    WorkflowError::Conflict => "conflict",
                    _ => "unavailable",
                };
                audit(
                    workflow,
                    AuditAction::CommandRefused,
                    &person.audit_name(),
                    Some(id),
                    json!({ "command": verb, "code": code, "platform": platform }),
                )
                .await;
            }
            Err(error.to_string())
        }
    }
}

/// Denies the pending request `id` as `actor`, with the reason the form gave (if any).
pub async fn deny(
    workflow: &Workflow,
    platform: &'static str,
    id: &RequestId,
    reason: Option<String>,
    actor: &Principal,
) -> Result<AccessRequest, String> {
    let command = Command::Deny { reason };
    act(
        workflow,
        platform,
        id,
        Some(RequestState::Pending),
        command,
        actor,
    )
    .await
}

/// Asks for `ttl_seconds` more on the active request `id` as `actor`; `Ok` is the sentence
/// that says an approver must approve it.
pub async fn request_extension(
    workflow: &Workflow,
    platform: &'static str,
    id: &RequestId,
    ttl_seconds: u64,
    reason: String,
    actor: &Principal,
) -> Result<String, String> {
    let command = Command::RequestExtension { ttl_seconds, reason };
    act(workflow, platform, id, Some(RequestState::Active), command, actor)
        .await
        .map(|_| {
            format!(
                "Asked for {} more on {id}; an approver must approve it.",
                format_duration(ttl_seconds)
            )
        })
}

/// How a platform writes the one-line summary of a request (`/janus list`, `/janus status`).
#[derive(Debug)]
pub struct Summary {
    /// The heading of a list, bold in the platform's markup.
    pub heading: &'static str,
    /// Writes the cluster name.
    pub cluster: fn(&str) -> String,
    /// Escapes free text (the namespaces).
    pub escape: fn(&str) -> String,
    /// Writes when an active grant ends, after "until ".
    pub until: fn(DateTime<Utc>) -> String,
}

impl Summary {
    /// `` `id` cluster · namespaces · ttl · state``, and `until …` while active.
    pub fn line(&self, request: &AccessRequest) -> String {
        let mut line = format!(
            "`{}` {} · {} · {} · {}",
            request.id,
            (self.cluster)(&request.cluster),
            (self.escape)(&request.namespaces.join(",")),
            format_duration(request.ttl_seconds),
            request.state
        );
        if let (RequestState::Active, Some(at)) = (request.state, request.expires_at) {
            line.push_str(&format!(" until {}", (self.until)(at)));
        }
        line
    }
}

/// `/janus list`: the last ten requests `principal` made that they may see, as the text of
/// the reply; a store failure is logged and answered with a sentence.
pub async fn list_requests(workflow: &Workflow, principal: &Principal, summary: &Summary) -> String {
    let filter = RequestFilter {
        requester: Some(principal.to_string()),
        limit: Some(10),
        ..RequestFilter::default()
    };
    match workflow
        .visible_requests(&Actor::Person(principal.clone()), &filter)
        .await
    {
        Ok(requests) if requests.is_empty() => "You have no requests.".to_owned(),
        Ok(requests) => {
            let mut lines = vec![summary.heading.to_owned()];
            lines.extend(requests.iter().map(|request| summary.line(request)));
            lines.join("\n")
        }
        Err(error) => {
            tracing::warn!(%error, "listing requests failed");
            "Janus could not list your requests right now; try again shortly.".to_owned()
        }
    }
}
