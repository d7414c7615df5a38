//! `/api/v1/requests*`: the request contract of DESIGN §6.1.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use janus_core::domain::{
    AccessRequest, Approval, Command, Draft, Origin, Platform, RequestId, RequestState,
};
use janus_core::store::RequestFilter;
use janus_core::time::format_rfc3339;
use serde::Deserialize;
use serde_json::{Value, json};

use super::JsonBody;
use crate::auth::Viewer;
use crate::links::terminal_link;
use crate::{ApiError, AppState};

/// The longest a `GET …?waitFor=` may wait.
const MAX_WAIT: Duration = Duration::from_secs(60);
const DEFAULT_WAIT: Duration = Duration::from_secs(25);
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;

fn time(at: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    at.map_or(Value::Null, |at| Value::String(format_rfc3339(at)))
}

fn approvals(approvals: &[Approval]) -> Value {
    approvals
        .iter()
        .map(|approval| {
            let mut item = json!({ "by": approval.by.as_str(), "at": format_rfc3339(approval.at) });
            if let Some(ttl) = approval.ttl_seconds {
                item["ttlSeconds"] = json!(ttl);
            }
            if let Some(reason) = &approval.reason {
                item["reason"] = json!(reason);
            }
            item
        })
        .collect()
}

/// A request as the API shows it to `viewer` (the terminal link only to its requester).
pub fn view(state: &AppState, viewer: &Viewer, request: &AccessRequest) -> Value {
    let platform = match request.origin.platform {
        Platform::Web => "web",
        Platform::Api => "api",
        Platform::Slack => "slack",
        Platform::Discord => "discord",
    };
    let extension = request.extension.as_ref().map_or(Value::Null, |extension| {
        json!({
            "ttlSeconds": extension.ttl_seconds,
            "reason": extension.reason,
            "requestedAt": format_rfc3339(extension.requested_at),
            "approvals": approvals(&extension.approvals),
        })
    });
    let link = if request.requester == viewer.principal {
        terminal_link(state, request).map_or(Value::Null, Value::String)
    } else {
        Value::Null
    };
    json!({
        "id": request.id.as_str(),
        "state": request.state.as_str(),
        "requester": request.requester.as_str(),
        "cluster": request.cluster,
        "namespaces": request.namespaces,
        "profile": request.profile,
        "ttlSeconds": request.ttl_seconds,
        "requestedTtlSeconds": request.requested_ttl_seconds,
        "reason": request.reason,
        "approvals": approvals(&request.approvals),
        "approvalsRequired": state.workflow.policy().approvals_required(&request.cluster),
        "createdAt": format_rfc3339(request.created_at),
        "decidedAt": time(request.decided_at),
        "activatedAt": time(request.activated_at),
        "expiresAt": time(request.expires_at),
        "endedAt": time(request.ended_at),
        "endReason": request.end_reason,
        "denyReason": request.deny_reason,
        "credentials": request.credentials.as_str(),
        "extension": extension,
        "extensions": request.extensions,
        "origin": platform,
        "link": link,
    })
}

pub(super) fn parse_id(id: &str) -> Result<RequestId, ApiError> {
    RequestId::parse(id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "Request {} was not found.",
                id.chars().take(40).collect::<String>()
            ),
        )
    })
}

pub(super) fn not_found(id: &RequestId) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("Request {id} was not found."),
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRequest {
    cluster: String,
    namespaces: Vec<String>,
    #[serde(default)]
    ttl_seconds: Option<u64>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    profile: Option<String>,
}

/// `POST /api/v1/requests` → 201 and the request.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    JsonBody(body): JsonBody<NewRequest>,
) -> Result<Response, ApiError> {
    let draft = Draft {
        cluster: body.cluster,
        namespaces: body.namespaces,
        ttl_seconds: body.ttl_seconds,
        reason: body.reason,
        profile: body.profile,
        origin: Origin {
            platform: Platform::Api,
            channel: None,
            message: None,
            thread: None,
        },
    };
    let request = state.workflow.submit(&viewer.principal, draft).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &viewer, &request))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    cluster: Option<String>,
    requester: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/requests[?state=&cluster=&requester=&limit=]` → `{"items":[…]}`, newest first,
/// only what the caller may see.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let wanted_state = match query.state.as_deref().filter(|text| !text.is_empty()) {
        None => None,
        Some(text) => Some(RequestState::parse(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_state",
                "state must be one of pending, approved, active, expired, denied, revoked, withdrawn, failed.",
            )
        })?),
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}."),
        ));
    }
    let requester = query
        .requester
        .as_deref()
        .filter(|text| !text.is_empty())
        .map(|text| text.trim().to_lowercase());
    let base = RequestFilter {
        state: wanted_state,
        cluster: query.cluster.filter(|text| !text.is_empty()),
        requester,
        limit: Some(limit),
    };
    let found = state.workflow.visible_requests(&viewer.actor(), &base).await?;
    let items: Vec<Value> = found
        .iter()
        .map(|request| view(&state, &viewer, request))
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetQuery {
    /// `active` (Active or ended), `decided` (no longer Pending) or `ended` (terminal).
    wait_for: Option<String>,
    /// How long to wait: `25s`, `1m`, `30` (seconds); at most 60 s, default 25 s.
    timeout: Option<String>,
}

/// `GET /api/v1/requests/{id}[?waitFor=active&timeout=25s]`: the request; with `waitFor`, answers
/// as soon as the request reaches that point (or when the timeout passes, with its current state).
pub async fn get_one(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<GetQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let done: Option<fn(RequestState) -> bool> = match query.wait_for.as_deref() {
        None | Some("") => None,
        Some("active") => Some(|state| !matches!(state, RequestState::Pending | RequestState::Approved)),
        Some("decided") => Some(|state| state != RequestState::Pending),
        Some("ended") => Some(RequestState::is_terminal),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_wait_for",
                "waitFor must be active, decided or ended.",
            ));
        }
    };
    let wait = match query.timeout.as_deref() {
        None => DEFAULT_WAIT,
        Some(text) => Duration::from_secs(
            janus_core::duration::parse_duration(text)
                .map_err(|error| ApiError::bad_request("invalid_timeout", error.to_string()))?,
        )
        .min(MAX_WAIT),
    };
    let Some(done) = done else {
        let request = state.workflow.get(&id).await?;
        if !viewer.can_see(state.workflow.policy(), &request) {
            return Err(not_found(&id));
        }
        return Ok(Json(view(&state, &viewer, &request)));
    };
    // Subscribe before reading, so a change between the read and the wait is not missed.
    let mut changes = state.workflow.subscribe();
    let deadline = state.workflow.clock().sleep(wait);
    tokio::pin!(deadline);
    loop {
        let request = state.workflow.get(&id).await?;
        if !viewer.can_see(state.workflow.policy(), &request) {
            return Err(not_found(&id));
        }
        if done(request.state) {
            return Ok(Json(view(&state, &viewer, &request)));
        }
        let finished = loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) if change.request.id != id => continue,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break false,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break true,
                },
                () = &mut deadline => break true,
                () = state.stopped() => break true,
            }
        };
        if finished {
            let request = state.workflow.get(&id).await?;
            return Ok(Json(view(&state, &viewer, &request)));
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecisionBody {
    #[serde(default)]
    ttl_seconds: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtendBody {
    ttl_seconds: u64,
    #[serde(default)]
    reason: String,
}

/// Runs `command` (chosen from the request as it is now) as the viewer, expecting the state it
/// was chosen for.
async fn act(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    choose: impl FnOnce(&AccessRequest) -> Result<Command, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(id)?;
    let current = state.workflow.get(&id).await?;
    let command = choose(&current)?;
    let request = state
        .workflow
        .execute(&id, Some(current.state), command, &viewer.actor())
        .await?;
    Ok(Json(view(state, viewer, &request)))
}

/// `POST …/approve {"ttlSeconds"?, "reason"?}`: approves a Pending request, or the pending
/// extension of an Active one.
pub async fn approve(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Json<Value>, ApiError> {
    act(&state, &viewer, &id, |request| {
        if request.state == RequestState::Active && request.extension.is_some() {
            if body.ttl_seconds.is_some() {
                return Err(ApiError::bad_request(
                    "ttl_not_allowed",
                    "An extension is approved for the time it asked; leave out ttlSeconds.",
                ));
            }
            return Ok(Command::ApproveExtension);
        }
        Ok(Command::Approve {
            ttl_seconds: body.ttl_seconds,
            reason: body.reason,
        })
    })
    .await
}

/// `POST …/deny {"reason"?}`: denies a Pending request, or the pending extension of an Active one.
pub async fn deny(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Json<Value>, ApiError> {
    if body.ttl_seconds.is_some() {
        return Err(ApiError::bad_request(
            "ttl_not_allowed",
            "A denial takes no ttlSeconds.",
        ));
    }
    act(&state, &viewer, &id, |request| {
        if request.state == RequestState::Active && request.extension.is_some() {
            Ok(Command::DenyExtension { reason: body.reason })
        } else {
            Ok(Command::Deny { reason: body.reason })
        }
    })
    .await
}

/// `POST …/withdraw`: the requester takes it back.
pub async fn withdraw(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(_): JsonBody<EmptyBody>,
) -> Result<Json<Value>, ApiError> {
    act(&state, &viewer, &id, |_| Ok(Command::Withdraw)).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST …/revoke {"reason"?}`: an approver or admin ends it.
pub async fn revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    act(&state, &viewer, &id, |_| {
        Ok(Command::Revoke { reason: body.reason })
    })
    .await
}

/// `POST …/extend {"ttlSeconds", "reason"}`: the requester asks for more time on an Active request.
pub async fn extend(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ExtendBody>,
) -> Result<Json<Value>, ApiError> {
    act(&state, &viewer, &id, |_| {
        Ok(Command::RequestExtension {
            ttl_seconds: body.ttl_seconds,
            reason: body.reason,
        })
    })
    .await
}
