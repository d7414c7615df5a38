//! The JSON API, `/api/v1/*` (DESIGN §6.1): requests (create, list, get with long-poll, approve,
//! deny, withdraw, revoke, extend), personal API tokens, `me`, and the OpenAPI document.
//!
//! - **Who**: a session cookie, a personal API token (`Authorization: Bearer jat_…`), or in
//!   `auth.mode: header` the trusted header — exactly as the pages ([`crate::auth::Viewer`]).
//! - **Authorization** is the workflow's: every command goes through `Workflow::execute`, which
//!   refuses self-approval and non-approvers (403 with the domain's code) and audits the refusal.
//!   Reading is limited to one's own requests and those of clusters one approves (admins: all);
//!   anything else is a 404, so ids cannot be probed.
//! - **Input**: state-changing calls (POST) need `Content-Type: application/json` (415 otherwise,
//!   so no cross-site form can reach them); bodies are capped at 64 KiB (413); malformed bodies
//!   are a 400 with a sentence. Errors are `{"error":{"code","message"}}`.
//! - The routes are registered through [`ApiRoutes`], which records each (method, path). The
//!   OpenAPI document is derived with `utoipa` from each handler's `#[utoipa::path]` and the body
//!   types (`openapi.rs`); tests check it lists exactly that table.

mod commands;
mod openapi;
mod requests;
mod tokens;

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::routing::{MethodRouter, any, delete, get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::{Credential, Viewer};
use crate::{ApiError, AppState};

pub use openapi::document as openapi_document;

/// Request bodies are small.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Routes that remember what they registered, for the OpenAPI check.
struct ApiRoutes {
    router: Router<AppState>,
    table: Vec<(Method, &'static str)>,
}

impl ApiRoutes {
    fn new() -> ApiRoutes {
        ApiRoutes {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    fn add(mut self, method: Method, path: &'static str, handler: MethodRouter<AppState>) -> ApiRoutes {
        self.router = self.router.route(path, handler);
        self.table.push((method, path));
        self
    }
}

fn build() -> ApiRoutes {
    ApiRoutes::new()
        .add(Method::GET, "/api/v1/openapi.json", get(openapi_json))
        .add(Method::GET, "/api/v1/me", get(me))
        .add(Method::GET, "/api/v1/requests", get(requests::list))
        .add(Method::POST, "/api/v1/requests", post(requests::create))
        .add(Method::GET, "/api/v1/requests/{id}", get(requests::get_one))
        .add(
            Method::POST,
            "/api/v1/requests/{id}/approve",
            post(requests::approve),
        )
        .add(Method::POST, "/api/v1/requests/{id}/deny", post(requests::deny))
        .add(
            Method::POST,
            "/api/v1/requests/{id}/withdraw",
            post(requests::withdraw),
        )
        .add(
            Method::POST,
            "/api/v1/requests/{id}/revoke",
            post(requests::revoke),
        )
        .add(
            Method::POST,
            "/api/v1/requests/{id}/extend",
            post(requests::extend),
        )
        .add(
            Method::GET,
            "/api/v1/requests/{id}/terminal/commands",
            get(commands::list),
        )
        .add(Method::GET, "/api/v1/tokens", get(tokens::list))
        .add(Method::POST, "/api/v1/tokens", post(tokens::create))
        .add(Method::DELETE, "/api/v1/tokens/{id}", delete(tokens::revoke))
}

/// The API's routes, plus a JSON 404 for any other path under `/api/v1/` (the application's own
/// fallback stays free for the dashboard).
pub fn routes() -> Router<AppState> {
    build().router.route("/api/v1/{*rest}", any(not_found))
}

/// Every (method, path) the API router serves, in registration order. Paths use axum's
/// `{param}` syntax, which is also OpenAPI's.
pub fn route_table() -> Vec<(String, String)> {
    build()
        .table
        .into_iter()
        .map(|(method, path)| (method.as_str().to_owned(), path.to_owned()))
        .collect()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "There is no such API route; see /api/v1/openapi.json.",
    )
}

/// This document.
#[utoipa::path(
    get,
    operation_id = "openapi",
    tag = "api",
    path = "/api/v1/openapi.json",
    summary = "This document.",
    security(()),
    responses((status = 200, description = "OpenAPI 3.1 document.", content_type = "application/json", body = Object))
)]
async fn openapi_json(State(state): State<AppState>) -> Json<Value> {
    Json(openapi::document(&state.config.webui.base_url))
}

/// Who the caller is (`GET /api/v1/me`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Me)]
struct MeView {
    principal: String,
    groups: BTreeSet<String>,
    is_admin: bool,
    approver_of: BTreeSet<String>,
    credential: CredentialKind,
}

/// How the caller signed in.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum CredentialKind {
    Session,
    Token,
    Header,
}

/// `GET /api/v1/me`: who the caller is and what they may approve.
#[utoipa::path(
    get,
    operation_id = "me",
    tag = "api",
    path = "/api/v1/me",
    summary = "Who the caller is and which clusters they approve.",
    responses(
        (status = 200, description = "The caller.", body = MeView),
        (status = 401, response = openapi::Unauthorized),
    )
)]
async fn me(viewer: Viewer) -> Json<MeView> {
    let credential = match &viewer.credential {
        Credential::Session { .. } => CredentialKind::Session,
        Credential::ApiToken { .. } => CredentialKind::Token,
        Credential::Header => CredentialKind::Header,
    };
    Json(MeView {
        principal: viewer.principal.as_str().to_owned(),
        groups: viewer.groups,
        is_admin: viewer.is_admin,
        approver_of: viewer.approver_of,
        credential,
    })
}

/// A JSON request body: `Content-Type: application/json` required (415), at most 64 KiB (413),
/// and it must parse as `T` (400). An empty body reads as `{}`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<JsonBody<T>, ApiError> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as JSON with `Content-Type: application/json`.",
            ));
        }
        let (_, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("The body is larger than {} KiB.", MAX_BODY_BYTES / 1024),
            )
        })?;
        let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"{}")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|error| {
            ApiError::bad_request("malformed_body", format!("The JSON body is not valid: {error}."))
        })
    }
}
