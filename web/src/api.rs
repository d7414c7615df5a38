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
//! - The routes are registered through [`ApiRoutes`], which records each (method, path): the
//!   OpenAPI document is checked against that list in a test.

mod commands;
mod openapi;
mod requests;
mod tokens;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::routing::{MethodRouter, any, delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

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
        .add(Method::GET, "/api/v1/openapi.json", get(openapi))
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

async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(openapi::document(&state.config.webui.base_url))
}

/// `GET /api/v1/me`: who the caller is and what they may approve.
async fn me(viewer: Viewer) -> Json<Value> {
    let credential = match &viewer.credential {
        Credential::Session { .. } => "session",
        Credential::ApiToken { .. } => "token",
        Credential::Header => "header",
    };
    Json(json!({
        "principal": viewer.principal.as_str(),
        "groups": viewer.groups,
        "isAdmin": viewer.is_admin,
        "approverOf": viewer.approver_of,
        "credential": credential,
    }))
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
