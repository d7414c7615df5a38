//! `/api/v1/tokens`: personal API tokens (create — shown once —, list, revoke).
//!
//! A token may list and revoke its owner's tokens but not create new ones: a leaked token cannot
//! mint itself a successor. Creating one needs a signed-in browser (or the trusted header).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use janus_core::accounts::{AccountsError, ApiTokenRecord};
use janus_core::time::format_rfc3339;
use serde::Deserialize;
use serde_json::{Value, json};

use super::JsonBody;
use crate::auth::{Credential, Viewer};
use crate::{ApiError, AppState};

fn view(token: &ApiTokenRecord) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "createdAt": format_rfc3339(token.created_at),
        "expiresAt": format_rfc3339(token.expires_at),
        "lastUsedAt": token.last_used_at.map(format_rfc3339),
        "revokedAt": token.revoked_at.map(format_rfc3339),
    })
}

fn accounts_error(error: AccountsError) -> ApiError {
    match error {
        AccountsError::Store(source) => ApiError::from(janus_core::workflow::WorkflowError::Store(source)),
        AccountsError::InvalidTokenName => ApiError::bad_request("invalid_token_name", error.to_string()),
        AccountsError::InvalidTokenLifetime => {
            ApiError::bad_request("invalid_token_lifetime", error.to_string())
        }
    }
}

/// `GET /api/v1/tokens` → `{"items":[…]}` (never the secrets).
pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Json<Value>, ApiError> {
    let tokens = state
        .accounts
        .api_tokens(&viewer.principal)
        .await
        .map_err(accounts_error)?;
    Ok(Json(
        json!({ "items": tokens.iter().map(view).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewToken {
    name: String,
    #[serde(default)]
    expires_in_seconds: Option<u64>,
}

/// `POST /api/v1/tokens {"name", "expiresInSeconds"?}` → 201 with `token` (shown only now).
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<Response, ApiError> {
    if viewer.is_link_session() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "link_session_cannot_create_tokens",
            "A session opened from a terminal link cannot create API tokens; sign in to Janus first.",
        ));
    }
    if matches!(viewer.credential, Credential::ApiToken { .. }) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "token_cannot_create_tokens",
            "An API token cannot create API tokens; create one from your page in the dashboard.",
        ));
    }
    let lifetime = body.expires_in_seconds.map(Duration::from_secs);
    let (secret, record) = state
        .accounts
        .create_api_token(&viewer.principal, &body.name, lifetime)
        .await
        .map_err(accounts_error)?;
    let mut answer = view(&record);
    answer["token"] = json!(secret.expose());
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /api/v1/tokens/{id}` → 204; 404 when it is not the caller's live token.
pub async fn revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let revoked = state
        .accounts
        .revoke_api_token(&viewer.principal, &id)
        .await
        .map_err(accounts_error)?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "You have no live API token with that id.",
        ))
    }
}
