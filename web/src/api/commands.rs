//! `GET /api/v1/requests/{id}/terminal/commands`: the quick commands of the request's cluster, for
//! the terminal page's buttons. Like the terminal itself: the requester of an Active request, or
//! an admin (who may watch its sessions). Anyone else who may see the request gets a 403 and an
//! `auth.refused` event; a request one may not see is a 404 like a missing one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use janus_core::domain::RequestState;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::openapi::{Conflict, Forbidden, NotFound, Unauthorized};
use super::requests::{parse_id, visible};
use crate::auth::Viewer;
use crate::{ApiError, AppState};

/// One quick command.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QuickCommand)]
pub struct QuickCommandView {
    id: String,
    name: String,
    /// One line; the terminal sends it followed by Enter.
    command: String,
}

/// The commands of a request's cluster, by name.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QuickCommandList)]
pub struct QuickCommandListView {
    items: Vec<QuickCommandView>,
}

#[utoipa::path(
    get,
    operation_id = "listQuickCommands",
    tag = "requests",
    path = "/api/v1/requests/{id}/terminal/commands",
    summary = "The quick commands of the request's cluster (managed by admins on /admin/commands), for its terminal. The requester of an active request, or an admin.",
    params(("id" = String, Path, description = "The request's id, `jr-…`.")),
    responses(
        (status = 200, description = "The commands, by name.", body = QuickCommandListView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<QuickCommandListView>, ApiError> {
    let id = parse_id(&id)?;
    let request = visible(&state, &viewer, &id).await?;
    if request.requester != viewer.principal && !viewer.is_admin {
        let details = json!({ "path": format!("/api/v1/requests/{id}/terminal/commands") });
        let actor = viewer.principal.as_str();
        crate::audit::refusal(&state, actor, Some(&request), "not_the_requester", details).await;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_the_requester",
            "Only the requester (or an admin) may use this request's terminal.",
        ));
    }
    if request.state != RequestState::Active {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_active",
            format!(
                "Request {id} is {}, not active; quick commands are for its terminal while access lasts.",
                request.state
            ),
        ));
    }
    let items = state
        .workflow
        .quick_commands(Some(&request.cluster))
        .await?
        .into_iter()
        .map(|command| QuickCommandView {
            id: command.id,
            name: command.name,
            command: command.command,
        })
        .collect();
    Ok(Json(QuickCommandListView { items }))
}
