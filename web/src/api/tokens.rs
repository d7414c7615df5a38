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
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JsonBody;
use super::openapi::{BodyRefusals, Forbidden, Unauthorized};
use crate::auth::{Credential, Viewer};
use crate::{ApiError, AppState};

/// A personal API token, never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Token)]
pub struct TokenView {
    id: String,
    name: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    #[schema(format = DateTime, required = true)]
    last_used_at: Option<String>,
    #[schema(format = DateTime, required = true)]
    revoked_at: Option<String>,
}

/// The caller's tokens.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TokenList)]
pub struct TokenListView {
    items: Vec<TokenView>,
}

/// A new token with its secret, shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NewTokenResponse)]
pub struct NewTokenView {
    #[serde(flatten)]
    record: TokenView,
    token: String,
}

fn view(token: &ApiTokenRecord) -> TokenView {
    TokenView {
        id: token.id.clone(),
        name: token.name.clone(),
        created_at: format_rfc3339(token.created_at),
        expires_at: format_rfc3339(token.expires_at),
        last_used_at: token.last_used_at.map(format_rfc3339),
        revoked_at: token.revoked_at.map(format_rfc3339),
    }
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
#[utoipa::path(
    get,
    operation_id = "listTokens",
    tag = "tokens",
    path = "/api/v1/tokens",
    summary = "The caller's API tokens (never their secrets).",
    responses(
        (status = 200, description = "The tokens.", body = TokenListView),
        (status = 401, response = Unauthorized),
    )
)]
pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Json<TokenListView>, ApiError> {
    let tokens = state
        .accounts
        .api_tokens(&viewer.principal)
        .await
        .map_err(accounts_error)?;
    Ok(Json(TokenListView {
        items: tokens.iter().map(view).collect(),
    }))
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewToken {
    #[schema(max_length = 100)]
    name: String,
    #[serde(default)]
    #[schema(minimum = 60, maximum = 31_536_000)]
    expires_in_seconds: Option<u64>,
}

/// `POST /api/v1/tokens {"name", "expiresInSeconds"?}` → 201 with `token` (shown only now).
#[utoipa::path(
    post,
    operation_id = "createToken",
    tag = "tokens",
    path = "/api/v1/tokens",
    summary = "Create an API token; the secret is in `token`, shown only in this response. Not allowed with an API token.",
    request_body = NewToken,
    responses(
        (status = 201, description = "The new token.", body = NewTokenView),
        BodyRefusals,
        (status = 403, response = Forbidden),
    )
)]
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
    let answer = NewTokenView {
        record: view(&record),
        token: secret.expose().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /api/v1/tokens/{id}` → 204; 404 when it is not the caller's live token.
#[utoipa::path(
    delete,
    operation_id = "revokeToken",
    tag = "tokens",
    path = "/api/v1/tokens/{id}",
    summary = "Revoke one of the caller's API tokens.",
    params(("id" = String, Path, description = "The token's id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, response = Unauthorized),
        (status = 404, description = "The caller has no live API token with that id.", body = crate::error::ErrorBody),
    )
)]
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
