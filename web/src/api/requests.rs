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
use serde::de::IntoDeserializer;
use serde::{Deserialize, Serialize};
// `IntoParams` stays unimported: utoipa's `params(…)` expansion names it in full.
use utoipa::ToSchema;

use super::JsonBody;
use super::openapi::{
    BadRequest, BodyRefusals, CommandRefusals, Conflict, CredentialsName, NotFound, StateName,
    TooManyRequests, Unauthorized,
};
use crate::auth::Viewer;
use crate::links::terminal_link;
use crate::{ApiError, AppState};

/// The longest a `GET …?waitFor=` may wait.
const MAX_WAIT: Duration = Duration::from_secs(60);
const DEFAULT_WAIT: Duration = Duration::from_secs(25);
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;

fn time(at: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    at.map(format_rfc3339)
}

/// One approval of a request or of its extension.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Approval)]
pub struct ApprovalView {
    by: String,
    #[schema(format = DateTime)]
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

fn approvals(approvals: &[Approval]) -> Vec<ApprovalView> {
    approvals
        .iter()
        .map(|approval| ApprovalView {
            by: approval.by.as_str().to_owned(),
            at: format_rfc3339(approval.at),
            ttl_seconds: approval.ttl_seconds,
            reason: approval.reason.clone(),
        })
        .collect()
}

/// An extension an Active request asked for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Extension)]
pub struct ExtensionView {
    ttl_seconds: u64,
    reason: String,
    #[schema(format = DateTime)]
    requested_at: String,
    approvals: Vec<ApprovalView>,
}

/// Where a request was made.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Origin)]
pub enum OriginName {
    Web,
    Api,
    Slack,
    Discord,
}

/// A request as the API shows it. Every key is always present (`null` when unset).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Request)]
pub struct RequestView {
    id: String,
    state: StateName,
    requester: String,
    cluster: String,
    namespaces: Vec<String>,
    profile: String,
    ttl_seconds: u64,
    requested_ttl_seconds: u64,
    reason: String,
    approvals: Vec<ApprovalView>,
    approvals_required: u32,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime, required = true)]
    decided_at: Option<String>,
    #[schema(format = DateTime, required = true)]
    activated_at: Option<String>,
    #[schema(format = DateTime, required = true)]
    expires_at: Option<String>,
    #[schema(format = DateTime, required = true)]
    ended_at: Option<String>,
    #[schema(required = true)]
    end_reason: Option<String>,
    /// Who ended it: a person's email, `system` or `agent:<cluster>`.
    #[schema(required = true)]
    ended_by: Option<String>,
    /// The reason given with the denial or revocation that ended it.
    #[schema(required = true)]
    deny_reason: Option<String>,
    credentials: CredentialsName,
    #[schema(required = true)]
    extension: Option<ExtensionView>,
    extensions: u32,
    origin: OriginName,
    /// The signed terminal link, for the requester of an active request.
    #[schema(required = true)]
    link: Option<String>,
}

/// Requests, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RequestList)]
pub struct RequestListView {
    items: Vec<RequestView>,
}

/// A request as the API shows it to `viewer` (the terminal link only to its requester).
pub fn view(state: &AppState, viewer: &Viewer, request: &AccessRequest) -> RequestView {
    let origin = match request.origin.platform {
        Platform::Web => OriginName::Web,
        Platform::Api => OriginName::Api,
        Platform::Slack => OriginName::Slack,
        Platform::Discord => OriginName::Discord,
    };
    let extension = request.extension.as_ref().map(|extension| ExtensionView {
        ttl_seconds: extension.ttl_seconds,
        reason: extension.reason.clone(),
        requested_at: format_rfc3339(extension.requested_at),
        approvals: approvals(&extension.approvals),
    });
    let link = if request.requester == viewer.principal {
        terminal_link(state, request)
    } else {
        None
    };
    RequestView {
        id: request.id.as_str().to_owned(),
        state: StateName(request.state),
        requester: request.requester.as_str().to_owned(),
        cluster: request.cluster.clone(),
        namespaces: request.namespaces.clone(),
        profile: request.profile.clone(),
        ttl_seconds: request.ttl_seconds,
        requested_ttl_seconds: request.requested_ttl_seconds,
        reason: request.reason.clone(),
        approvals: approvals(&request.approvals),
        approvals_required: state.workflow.policy().approvals_required(&request.cluster),
        created_at: format_rfc3339(request.created_at),
        decided_at: time(request.decided_at),
        activated_at: time(request.activated_at),
        expires_at: time(request.expires_at),
        ended_at: time(request.ended_at),
        end_reason: request.end_reason.clone(),
        ended_by: request.ended_by.clone(),
        deny_reason: request.deny_reason.clone(),
        credentials: CredentialsName(request.credentials),
        extension,
        extensions: request.extensions,
        origin,
        link,
    }
}

pub(super) fn parse_id(id: &str) -> Result<RequestId, ApiError> {
    RequestId::parse(id).ok_or_else(|| not_found(&id.chars().take(40).collect::<String>()))
}

/// Request `id`, if the viewer may see it; one they may not see is a 404 like a missing one.
pub(super) async fn visible(
    state: &AppState,
    viewer: &Viewer,
    id: &RequestId,
) -> Result<AccessRequest, ApiError> {
    Ok(state.workflow.visible(&viewer.actor(), id).await?)
}

/// The 404 of a request that is missing, malformed or not the caller's to see (`shown` is its id).
fn not_found(shown: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("Request {shown} was not found."),
    )
}

/// A new request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRequest {
    cluster: String,
    #[schema(min_items = 1)]
    namespaces: Vec<String>,
    #[serde(default)]
    #[schema(minimum = 600)]
    ttl_seconds: Option<u64>,
    #[serde(default)]
    #[schema(max_length = 500)]
    reason: String,
    #[serde(default)]
    profile: Option<String>,
}

/// `POST /api/v1/requests` → 201 and the request.
#[utoipa::path(
    post,
    operation_id = "createRequest",
    tag = "requests",
    path = "/api/v1/requests",
    summary = "Submit a request.",
    request_body = NewRequest,
    responses(
        (status = 201, description = "The new, pending request.", body = RequestView),
        BodyRefusals,
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
    )
)]
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(value_type = Option<StateName>)]
    state: Option<String>,
    cluster: Option<String>,
    #[param(format = Email)]
    requester: Option<String>,
    #[param(minimum = 1, maximum = 500, default = 100)]
    limit: Option<i64>,
}

/// `GET /api/v1/requests[?state=&cluster=&requester=&limit=]` → `{"items":[…]}`, newest first,
/// only what the caller may see.
#[utoipa::path(
    get,
    operation_id = "listRequests",
    tag = "requests",
    path = "/api/v1/requests",
    summary = "List requests the caller may see (own, and those of clusters they approve), newest first.",
    params(ListQuery),
    responses(
        (status = 200, description = "The requests.", body = RequestListView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ListQuery>,
) -> Result<Json<RequestListView>, ApiError> {
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
    let items = found
        .iter()
        .map(|request| view(&state, &viewer, request))
        .collect();
    Ok(Json(RequestListView { items }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// `active` (Active or ended), `decided` (no longer Pending) or `ended` (terminal).
    #[param(value_type = Option<WaitFor>)]
    wait_for: Option<String>,
    /// How long to wait: `25s`, `1m`, `30` (seconds); at most 60 s, default 25 s.
    #[param(example = "25s")]
    timeout: Option<String>,
}

/// What a long poll waits for.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WaitFor {
    /// Active, or ended without becoming active.
    Active,
    /// No longer Pending.
    Decided,
    /// Ended.
    Ended,
}

impl WaitFor {
    fn parse(text: &str) -> Option<WaitFor> {
        let text: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = text.into_deserializer();
        WaitFor::deserialize(text).ok()
    }

    fn reached(self, state: RequestState) -> bool {
        match self {
            WaitFor::Active => !matches!(state, RequestState::Pending | RequestState::Approved),
            WaitFor::Decided => state != RequestState::Pending,
            WaitFor::Ended => state.is_terminal(),
        }
    }
}

/// `GET /api/v1/requests/{id}[?waitFor=active&timeout=25s]`: the request; with `waitFor`, answers
/// as soon as the request reaches that point (or when the timeout passes, with its current state).
#[utoipa::path(
    get,
    operation_id = "getRequest",
    tag = "requests",
    path = "/api/v1/requests/{id}",
    summary = "One request. With `waitFor`, answers as soon as the request is active or ended (`active`), decided (`decided`) or ended (`ended`), or after `timeout` with its current state.",
    params(("id" = String, Path, description = "The request's id, `jr-…`."), GetQuery),
    responses(
        (status = 200, description = "The request.", body = RequestView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<GetQuery>,
) -> Result<Json<RequestView>, ApiError> {
    let id = parse_id(&id)?;
    let done = match query.wait_for.as_deref() {
        None | Some("") => None,
        Some(text) => Some(WaitFor::parse(text).ok_or_else(|| {
            ApiError::bad_request("invalid_wait_for", "waitFor must be active, decided or ended.")
        })?),
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
        let request = visible(&state, &viewer, &id).await?;
        return Ok(Json(view(&state, &viewer, &request)));
    };
    // Subscribe before reading, so a change between the read and the wait is not missed.
    let mut changes = state.workflow.subscribe();
    let deadline = state.workflow.clock().sleep(wait);
    tokio::pin!(deadline);
    loop {
        let request = visible(&state, &viewer, &id).await?;
        if done.reached(request.state) {
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

/// An approval's or a denial's details.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = Decision)]
pub struct DecisionBody {
    #[serde(default)]
    ttl_seconds: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
}

/// No details.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Empty)]
pub struct EmptyBody {}

/// More time for an Active request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = Extend)]
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
) -> Result<Json<RequestView>, ApiError> {
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
#[utoipa::path(
    post,
    operation_id = "approveRequest",
    tag = "requests",
    path = "/api/v1/requests/{id}/approve",
    summary = "Approve a pending request (or the pending extension of an active one). Never the requester.",
    params(("id" = String, Path, description = "The request's id, `jr-…`.")),
    request_body(content = Option<DecisionBody>, description = "Optional; an empty body reads as `{}`."),
    responses(
        (status = 200, description = "The request after the command.", body = RequestView),
        CommandRefusals,
    )
)]
pub async fn approve(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Json<RequestView>, ApiError> {
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
#[utoipa::path(
    post,
    operation_id = "denyRequest",
    tag = "requests",
    path = "/api/v1/requests/{id}/deny",
    summary = "Deny a pending request (or the pending extension of an active one).",
    params(("id" = String, Path, description = "The request's id, `jr-…`.")),
    request_body(content = Option<DecisionBody>, description = "Optional; an empty body reads as `{}`."),
    responses(
        (status = 200, description = "The request after the command.", body = RequestView),
        CommandRefusals,
    )
)]
pub async fn deny(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Json<RequestView>, ApiError> {
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
#[utoipa::path(
    post,
    operation_id = "withdrawRequest",
    tag = "requests",
    path = "/api/v1/requests/{id}/withdraw",
    summary = "The requester takes the request back (pending, approved or active).",
    params(("id" = String, Path, description = "The request's id, `jr-…`.")),
    request_body(content = Option<EmptyBody>, description = "Optional; an empty body reads as `{}`."),
    responses(
        (status = 200, description = "The request after the command.", body = RequestView),
        CommandRefusals,
    )
)]
pub async fn withdraw(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(_): JsonBody<EmptyBody>,
) -> Result<Json<RequestView>, ApiError> {
    act(&state, &viewer, &id, |_| Ok(Command::Withdraw)).await
}

/// An optional reason.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Reason)]
pub struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST …/revoke {"reason"?}`: an approver or admin ends it.
#[utoipa::path(
    post,
    operation_id = "revokeRequest",
    tag = "requests",
    path = "/api/v1/requests/{id}/revoke",
    summary = "An approver or admin ends the request (pending, approved or active).",
    params(("id" = String, Path, description = "The request's id, `jr-…`.")),
    request_body(content = Option<ReasonBody>, description = "Optional; an empty body reads as `{}`."),
    responses(
        (status = 200, description = "The request after the command.", body = RequestView),
        CommandRefusals,
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<RequestView>, ApiError> {
    act(&state, &viewer, &id, |_| {
        Ok(Command::Revoke { reason: body.reason })
    })
    .await
}

/// `POST …/extend {"ttlSeconds", "reason"}`: the requester asks for more time on an Active request.
#[utoipa::path(
    post,
    operation_id = "extendRequest",
    tag = "requests",
    path = "/api/v1/requests/{id}/extend",
    summary = "The requester asks for more time on an active request; approved like a request.",
    params(("id" = String, Path, description = "The request's id, `jr-…`.")),
    request_body(content = ExtendBody, description = "How much more time, and why."),
    responses(
        (status = 200, description = "The request after the command.", body = RequestView),
        CommandRefusals,
    )
)]
pub async fn extend(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ExtendBody>,
) -> Result<Json<RequestView>, ApiError> {
    act(&state, &viewer, &id, |_| {
        Ok(Command::RequestExtension {
            ttl_seconds: body.ttl_seconds,
            reason: body.reason,
        })
    })
    .await
}
