//! `/auth/sessions`: a person's sessions (revocable one by one, or all at once) and personal API
//! tokens (created here — shown once — and revoked here). Plain HTML; the dashboard restyles it.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use janus_core::time::format_rfc3339;
use serde::Deserialize;

use super::flow::{append_cookie, redirect};
use super::{CSRF_FIELD, CsrfForm, NoFields, Viewer, cookies};
use crate::{ApiError, AppState, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/sessions", get(page))
        .route("/auth/sessions/{id}/revoke", post(revoke_session))
        .route("/auth/tokens", post(create_token))
        .route("/auth/tokens/{id}/revoke", post(revoke_token))
}

fn unavailable(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "cannot read or change sign-in state");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "The database is unavailable; try again shortly.",
    )
    .into_response()
}

fn form(action: &str, csrf: &str, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\
         <button type=\"submit\">{}</button></form>",
        html::escape(action),
        html::escape(csrf),
        html::escape(label)
    )
}

async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    let sessions = match state.accounts.sessions(&viewer.principal).await {
        Ok(sessions) => sessions,
        Err(error) => return unavailable(error),
    };
    let tokens = match state.accounts.api_tokens(&viewer.principal).await {
        Ok(tokens) => tokens,
        Err(error) => return unavailable(error),
    };
    let now = state.workflow.clock().now();
    let csrf = viewer.csrf_token();
    let mut body = format!(
        "<p>Signed in as <strong>{}</strong>{}.</p>\n",
        html::escape(viewer.principal.as_str()),
        if viewer.is_admin { " (admin)" } else { "" }
    );
    body.push_str(
        "<h2>Sessions</h2>\n<table><thead><tr><th>Started</th><th>Last seen</th><th>Method</th>\
                   <th>Browser</th><th>Address</th><th>Status</th><th></th></tr></thead><tbody>\n",
    );
    for session in &sessions {
        let current = viewer.session_id() == Some(session.id.as_str());
        let status = if session.revoked_at.is_some() {
            "signed out"
        } else if !session.is_live(now) {
            "expired"
        } else if current {
            "this browser"
        } else {
            "active"
        };
        let action = if session.is_live(now) {
            form(&format!("/auth/sessions/{}/revoke", session.id), csrf, "Sign out")
        } else {
            String::new()
        };
        body.push_str(&format!(
            "<tr id=\"session-{id}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td><td>{action}</td></tr>\n",
            format_rfc3339(session.created_at),
            format_rfc3339(session.last_seen_at),
            html::escape(&session.method),
            html::escape(&session.user_agent),
            html::escape(&session.ip),
            id = html::escape(&session.id),
        ));
    }
    body.push_str("</tbody></table>\n");
    body.push_str(&form("/auth/logout-everywhere", csrf, "Sign out everywhere"));
    body.push_str("\n<h2>API tokens</h2>\n<p>For the <code>janus</code> CLI and scripts: \
                   <code>janus login --url … --token …</code>.</p>\n<table><thead><tr><th>Name</th>\
                   <th>Created</th><th>Expires</th><th>Last used</th><th>Status</th><th></th></tr></thead><tbody>\n");
    for token in &tokens {
        let status = if token.revoked_at.is_some() {
            "revoked"
        } else if token.is_live(now) {
            "active"
        } else {
            "expired"
        };
        let action = if token.is_live(now) {
            form(&format!("/auth/tokens/{}/revoke", token.id), csrf, "Revoke")
        } else {
            String::new()
        };
        body.push_str(&format!(
            "<tr id=\"token-{id}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td><td>{action}</td></tr>\n",
            html::escape(&token.name),
            format_rfc3339(token.created_at),
            format_rfc3339(token.expires_at),
            token.last_used_at.map(format_rfc3339).unwrap_or_else(|| "never".to_owned()),
            id = html::escape(&token.id),
        ));
    }
    body.push_str("</tbody></table>\n");
    body.push_str(&format!(
        "<form method=\"post\" action=\"/auth/tokens\"><input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\
         <label>Name <input name=\"name\" required maxlength=\"100\"></label>\
         <label>Valid for (days) <input name=\"days\" type=\"number\" min=\"1\" max=\"365\" value=\"30\"></label>\
         <button type=\"submit\">Create token</button></form>\n",
        html::escape(csrf)
    ));
    body.push_str(&crate::discord_link::section(&state, &viewer).await);
    html::page(StatusCode::OK, "Your sessions and API tokens", &body)
}

/// `POST /auth/sessions/{id}/revoke`: ends one of the viewer's sessions.
async fn revoke_session(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Response {
    if let Err(error) = state.accounts.sign_out(&viewer.principal, &id).await {
        return unavailable(error);
    }
    let mut response = redirect("/auth/sessions");
    if viewer.session_id() == Some(id.as_str()) {
        append_cookie(
            &mut response,
            &cookies::clear(&state.config, &cookies::session_name(&state.config)),
        );
    }
    response
}

#[derive(Debug, Deserialize)]
struct NewToken {
    #[serde(default)]
    name: String,
    #[serde(default)]
    days: Option<String>,
}

/// `POST /auth/tokens`: creates a token and shows it once.
async fn create_token(
    State(state): State<AppState>,
    viewer: Viewer,
    CsrfForm(form): CsrfForm<NewToken>,
) -> Response {
    let days = match form
        .days
        .as_deref()
        .map(str::trim)
        .filter(|days| !days.is_empty())
    {
        None => 30,
        Some(days) => match days.parse::<u64>() {
            Ok(days) if (1..=365).contains(&days) => days,
            _ => {
                return html::refusal(
                    StatusCode::BAD_REQUEST,
                    "Token not created",
                    "Valid for must be a whole number of days from 1 to 365.",
                );
            }
        },
    };
    let lifetime = Duration::from_secs(days * 86_400);
    match state
        .accounts
        .create_api_token(&viewer.principal, &form.name, Some(lifetime))
        .await
    {
        Ok((secret, record)) => {
            let body = format!(
                "<p>Copy your token now; Janus shows it only once.</p>\n<pre id=\"token\">{}</pre>\n\
                 <p>Name: {} · expires {}</p>\n<p><a href=\"/auth/sessions\">Back</a></p>",
                html::escape(secret.expose()),
                html::escape(&record.name),
                format_rfc3339(record.expires_at)
            );
            html::page(StatusCode::CREATED, "API token created", &body)
        }
        Err(janus_core::accounts::AccountsError::Store(error)) => unavailable(error),
        Err(error) => html::refusal(StatusCode::BAD_REQUEST, "Token not created", &error.to_string()),
    }
}

/// `POST /auth/tokens/{id}/revoke`.
async fn revoke_token(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Response {
    match state.accounts.revoke_api_token(&viewer.principal, &id).await {
        Ok(_) => redirect("/auth/sessions"),
        Err(error) => unavailable(error),
    }
}
