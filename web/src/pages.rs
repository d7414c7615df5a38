//! The dashboard (DESIGN §6.1): server-rendered askama templates (`web/templates/`) with htmx for
//! partial updates and server-sent events for live ones. Every page works without JavaScript:
//! forms post normally and answer with a redirect or a page; with htmx the same forms answer with
//! a fragment.
//!
//! - `/` — my requests (live and recent) and the request form; withdraw and extend.
//! - `/admin` — approvers (their clusters) and admins (all): pending, active, history, filters,
//!   approve / deny / revoke, bulk deny and revoke.
//! - `/requests/{id}` — a request and its timeline from the audit log.
//! - `/admin/audit` (+ JSON Lines and CSV export), `/admin/clusters` (+ join tokens),
//!   `/admin/commands` (quick commands), `/admin/settings` — admins only.
//! - `/events` — server-sent events: one `request` event (and one `request-<id>`) per committed
//!   change the viewer may see.
//!
//! **Invariant:** pages decide only what to show. Every command goes through
//! `Workflow::execute`/`submit` with the viewer's actor, which refuses self-approval and
//! non-approvers and audits the refusal; admin pages check `Viewer::is_admin` and audit refusals.
//! Every state-changing form is a [`crate::auth::CsrfForm`].

mod actions;
mod admin;
mod audit;
mod clusters;
mod commands;
mod detail;
pub(crate) mod display;
mod events;
mod home;
mod settings;
mod shell;
pub(crate) mod terminal_view;
#[cfg(test)]
mod tests;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use janus_core::workflow::WorkflowError;
use serde_json::json;

use crate::auth::Viewer;
use crate::{AppState, html};

/// No inline scripts or styles, nothing from elsewhere, no framing.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Every dashboard route, with the security headers.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .merge(home::routes())
        .merge(actions::routes())
        .merge(admin::routes())
        .merge(detail::routes())
        .merge(audit::routes())
        .merge(clusters::routes())
        .merge(commands::routes())
        .merge(settings::routes())
        .merge(terminal_view::routes())
        .merge(events::routes())
        .layer(axum::middleware::map_response(security_headers))
}

pub(crate) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (X_FRAME_OPTIONS, "DENY"),
        (REFERRER_POLICY, "same-origin"),
    ] {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// Renders a template as an uncached HTML response.
pub(crate) fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, Html(body)).into_response();
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "a page could not be rendered");
            html::refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Page unavailable",
                "This page could not be shown; try again, and tell your Janus admin if it persists.",
            )
        }
    }
}

/// Whether the request came from htmx (`HX-Request: true`): answer with a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Htmx(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for Htmx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Htmx, Self::Rejection> {
        Ok(Htmx(
            parts
                .headers
                .get("HX-Request")
                .is_some_and(|value| value.as_bytes() == b"true"),
        ))
    }
}

/// Why a page cannot be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageError {
    NotFound,
    Forbidden(&'static str),
    BadRequest(String),
    Unavailable,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::NotFound => html::refusal(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page or request, or you may not see it; check the link.",
            ),
            PageError::Forbidden(message) => html::refusal(StatusCode::FORBIDDEN, "Not allowed", message),
            PageError::BadRequest(message) => {
                html::refusal(StatusCode::BAD_REQUEST, "Not understood", &message)
            }
            PageError::Unavailable => html::refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The database is unavailable; try again shortly.",
            ),
        }
    }
}

impl From<janus_core::store::StoreError> for PageError {
    fn from(error: janus_core::store::StoreError) -> PageError {
        tracing::error!(%error, "database error on a page");
        PageError::Unavailable
    }
}

impl From<WorkflowError> for PageError {
    fn from(error: WorkflowError) -> PageError {
        match error {
            WorkflowError::NotFound(_) => PageError::NotFound,
            other => {
                tracing::error!(error = %other, "workflow error on a page");
                PageError::Unavailable
            }
        }
    }
}

/// Audits a page refusal (`auth.refused`, with `code` and the path) and returns the error to show.
pub(crate) async fn refuse(
    state: &AppState,
    viewer: &Viewer,
    code: &str,
    path: &str,
    error: PageError,
) -> PageError {
    tracing::warn!(actor = %viewer.principal, code, path, "page refused");
    let details = json!({ "path": path });
    crate::audit::refusal(state, viewer.principal.as_str(), None, code, details).await;
    error
}

/// Admin pages: admins only; anyone else gets a 403 and an audit event.
pub(crate) async fn require_admin(state: &AppState, viewer: &Viewer, path: &str) -> Result<(), PageError> {
    if viewer.is_admin {
        return Ok(());
    }
    Err(refuse(
        state,
        viewer,
        "not_admin",
        path,
        PageError::Forbidden("Only Janus admins may open this page; ask an admin if you need it."),
    )
    .await)
}

/// A urlencoded form as name/value pairs (repeated names allowed, as checkboxes send them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed, if not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, value)| key == name && !value.trim().is_empty())
            .map(|(_, value)| value.trim())
    }

    /// Every non-empty value of `name`, trimmed.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, value)| key == name && !value.trim().is_empty())
            .map(|(_, value)| value.trim())
            .collect()
    }
}
