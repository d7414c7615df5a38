//! The buttons on a request: withdraw, extend, approve (with a TTL from `approvalTtlOptions` and a
//! note), deny (with a reason), revoke, and decisions on an extension. Each posts a
//! [`CsrfForm`] carrying the state the page showed; the workflow applies it only if the request is
//! still in that state, and decides whether this viewer may do it.
//!
//! With htmx the answer is a message for the page's `#flash` region (and an `HX-Trigger:
//! janus-changed` so lists refresh at once); without it, a redirect back to the page on success or
//! a page saying what went wrong.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use janus_core::domain::{Command, RequestId, RequestState};
use janus_core::duration::parse_duration;
use janus_core::workflow::WorkflowError;

use super::shell::{Nav, Shell};
use super::{Fields, Htmx, render};
use crate::auth::{CsrfForm, Viewer, local_redirect};
use crate::{ApiError, AppState};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/requests/{id}/{action}", post(act))
        .route("/requests/{id}/extension/{decision}", post(decide_extension))
}

#[derive(Template)]
#[template(path = "partials/flash.html")]
pub(crate) struct Flash {
    pub ok: bool,
    pub message: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    pub shell: Shell,
    pub heading: String,
    pub ok: bool,
    pub message: String,
    pub back: String,
}

/// `POST /requests/{id}/{withdraw|extend|approve|deny|revoke}`.
async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    Htmx(htmx): Htmx,
    viewer: Viewer,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(fields);
    let reason = fields.get("reason").map(str::to_owned);
    let command = match action.as_str() {
        "withdraw" => Ok(Command::Withdraw),
        "revoke" => Ok(Command::Revoke { reason }),
        "deny" => Ok(Command::Deny { reason }),
        "approve" => match fields.get("ttl").map(str::parse::<u64>).transpose() {
            Ok(ttl_seconds) => Ok(Command::Approve { ttl_seconds, reason }),
            Err(_) => Err("Pick a duration from the list.".to_owned()),
        },
        "extend" => match fields.get("ttl").map(parse_duration) {
            None => Err("Say how much more time you need, like 1h or 30m.".to_owned()),
            Some(Err(error)) => Err(error.to_string()),
            Some(Ok(ttl_seconds)) => Ok(Command::RequestExtension {
                ttl_seconds,
                reason: reason.unwrap_or_default(),
            }),
        },
        _ => {
            return outcome(
                &state,
                &viewer,
                htmx,
                &fields,
                Err((StatusCode::NOT_FOUND, "There is no such action.".to_owned())),
            );
        }
    };
    let result = match command {
        Ok(command) => execute(&state, &viewer, &id, &fields, command).await,
        Err(message) => Err((StatusCode::BAD_REQUEST, message)),
    };
    outcome(&state, &viewer, htmx, &fields, result)
}

/// `POST /requests/{id}/extension/{approve|deny}`.
async fn decide_extension(
    State(state): State<AppState>,
    Path((id, decision)): Path<(String, String)>,
    Htmx(htmx): Htmx,
    viewer: Viewer,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(fields);
    let command = match decision.as_str() {
        "approve" => Command::ApproveExtension,
        "deny" => Command::DenyExtension {
            reason: fields.get("reason").map(str::to_owned),
        },
        _ => {
            let error = Err((StatusCode::NOT_FOUND, "There is no such action.".to_owned()));
            return outcome(&state, &viewer, htmx, &fields, error);
        }
    };
    let result = execute(&state, &viewer, &id, &fields, command).await;
    outcome(&state, &viewer, htmx, &fields, result)
}

/// Runs `command` on request `id` as the viewer, expecting the state the form was rendered in.
/// Returns what to tell the viewer.
pub(super) async fn execute(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    fields: &Fields,
    command: Command,
) -> Result<String, (StatusCode, String)> {
    let Some(request_id) = RequestId::parse(id) else {
        return Err((StatusCode::NOT_FOUND, format!("There is no request {id}.")));
    };
    let expected = fields.get("state").and_then(RequestState::parse);
    let verb = command.verb();
    match state
        .workflow
        .execute(&request_id, expected, command, &viewer.actor())
        .await
    {
        Ok(request) => Ok(format!("{request_id} {verb}; it is now {}.", request.state)),
        Err(WorkflowError::NotFound(_)) => Err((StatusCode::NOT_FOUND, format!("There is no request {id}."))),
        Err(error) => {
            let error = ApiError::from(error);
            Err((error.status, error.message))
        }
    }
}

/// The answer to a form: a flash fragment for htmx, a redirect or a message page otherwise.
pub(super) fn outcome(
    state: &AppState,
    viewer: &Viewer,
    htmx: bool,
    fields: &Fields,
    result: Result<String, (StatusCode, String)>,
) -> Response {
    let back = local_redirect(fields.get("back"));
    match (htmx, result) {
        (true, Ok(message)) => {
            let mut response = render(StatusCode::OK, &Flash { ok: true, message });
            response
                .headers_mut()
                .insert("HX-Trigger", HeaderValue::from_static("janus-changed"));
            response
        }
        (true, Err((status, message))) => render(status, &Flash { ok: false, message }),
        (false, Ok(_)) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(location) = HeaderValue::from_str(&back) {
                response.headers_mut().insert(LOCATION, location);
            }
            response
        }
        (false, Err((status, message))) => {
            let page = MessagePage {
                shell: Shell::new(state, viewer, "Not done", Nav::None),
                heading: "That did not work".to_owned(),
                ok: false,
                message,
                back,
            };
            render(status, &page)
        }
    }
}
