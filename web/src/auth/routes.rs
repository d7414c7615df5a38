//! `/auth/*`: sign-in (every mode), the OAuth callback, sign-out, sign-out everywhere.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use janus_core::config::AuthMode;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use super::flow::{self, PendingLogin, SignInError, append_cookie, establish, redirect, refuse};
use super::{CsrfForm, NoFields, Peer, Viewer, cookies, github, local, local_redirect, oidc};
use crate::{AppState, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", get(login).post(local_login))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", post(logout))
        .route("/auth/logout-everywhere", post(logout_everywhere))
        .merge(super::account::routes())
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// `GET /auth/login?next=/path`: signed in already → `next`; otherwise start the configured
/// method (a redirect to the identity provider, or the local form).
async fn login(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    viewer: Option<Viewer>,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = local_redirect(query.next.as_deref());
    if viewer.is_some() {
        return redirect(&next);
    }
    let started = match state.config.auth.mode {
        AuthMode::Oidc => oidc::start(&state, &next).await,
        AuthMode::Github => github::start(&state, &next),
        AuthMode::Local => return local_form(&state, &next, None),
        AuthMode::Header => return refuse(&state, &headers, peer, SignInError::NoTrustedHeader).await,
    };
    let (url, pending) = match started {
        Ok(started) => started,
        Err(error) => return refuse(&state, &headers, peer, error).await,
    };
    let Ok(data) = serde_json::to_string(&pending) else {
        return refuse(&state, &headers, peer, SignInError::Unavailable).await;
    };
    let secret = match state.accounts.begin_login(&data).await {
        Ok(secret) => secret,
        Err(error) => {
            tracing::error!(%error, "cannot store a sign-in in progress");
            return refuse(&state, &headers, peer, SignInError::Unavailable).await;
        }
    };
    with_login_cookie(&state, redirect(&url), secret.expose())
}

/// `response` with the login cookie set to `secret` for the time a sign-in may take.
fn with_login_cookie(state: &AppState, mut response: Response, secret: &str) -> Response {
    let lifetime = janus_core::accounts::LOGIN_FLOW_LIFETIME.as_secs();
    let config = &state.config;
    append_cookie(
        &mut response,
        &cookies::set(config, &cookies::login_name(config), secret, lifetime),
    );
    response
}

/// The local sign-in form. Its anti-forgery value is derived from a fresh login cookie, so a
/// form posted from another site (which cannot read the cookie) is refused.
fn local_form(state: &AppState, next: &str, error: Option<&str>) -> Response {
    let secret = janus_core::accounts::random_secret("");
    let token = janus_core::accounts::csrf_token(secret.expose());
    let email = local::admin_email(&state.config);
    let error = error.map_or_else(String::new, |message| {
        format!("<p role=\"alert\">{}</p>\n", html::escape(message))
    });
    let body = format!(
        "{error}<form method=\"post\" action=\"/auth/login\">\n\
         <input type=\"hidden\" name=\"_csrf\" value=\"{token}\">\n\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\n\
         <label>Email <input type=\"email\" name=\"email\" value=\"{email}\" autocomplete=\"username\" required></label>\n\
         <label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required autofocus></label>\n\
         <button type=\"submit\">Sign in</button>\n</form>\n\
         <p>Local sign-in is for development: the password was printed once when Janus first started.</p>",
        next = html::escape(next),
        email = html::escape(email.as_str()),
    );
    let response = html::page(axum::http::StatusCode::OK, "Sign in", &body);
    with_login_cookie(state, response, secret.expose())
}

#[derive(Debug, Deserialize)]
struct LocalLogin {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /auth/login` (local mode).
async fn local_login(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LocalLogin>,
) -> Response {
    if state.config.auth.mode != AuthMode::Local {
        return refuse(&state, &headers, peer, SignInError::WrongMode).await;
    }
    let cookie = cookies::read(&headers, &cookies::login_name(&state.config));
    let expected = cookie.map(janus_core::accounts::csrf_token).unwrap_or_default();
    if expected.is_empty() || !bool::from(form.csrf.as_bytes().ct_eq(expected.as_bytes())) {
        return refuse(&state, &headers, peer, SignInError::BadState).await;
    }
    match local::sign_in(&state, &form.email, &form.password, peer).await {
        Ok(identity) => establish(&state, &identity, &headers, peer, form.next.as_deref(), None).await,
        Err(error @ SignInError::BadPassword) => {
            let refused = refuse(&state, &headers, peer, error.clone()).await;
            let next = local_redirect(form.next.as_deref());
            let mut page = local_form(&state, &next, Some(&error.to_string()));
            *page.status_mut() = refused.status();
            page
        }
        Err(error) => refuse(&state, &headers, peer, error).await,
    }
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// `GET /auth/callback`: the identity provider sends the browser back here.
async fn callback(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    match finish(&state, &headers, &query).await {
        Ok((identity, next)) => establish(&state, &identity, &headers, peer, Some(&next), None).await,
        Err(error) => refuse(&state, &headers, peer, error).await,
    }
}

async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    query: &CallbackQuery,
) -> Result<(flow::Identity, String), SignInError> {
    let cookie =
        cookies::read(headers, &cookies::login_name(&state.config)).ok_or(SignInError::NoPendingLogin)?;
    let data = state
        .accounts
        .finish_login(cookie)
        .await
        .map_err(|_| SignInError::Unavailable)?
        .ok_or(SignInError::NoPendingLogin)?;
    let pending: PendingLogin = serde_json::from_str(&data).map_err(|_| SignInError::NoPendingLogin)?;
    if let Some(error) = &query.error {
        return Err(SignInError::ProviderRefused(error.chars().take(100).collect()));
    }
    let sent_state = query.state.as_deref().unwrap_or_default();
    if sent_state.is_empty() || !bool::from(sent_state.as_bytes().ct_eq(pending.state.as_bytes())) {
        return Err(SignInError::BadState);
    }
    let code = query
        .code
        .as_deref()
        .filter(|code| !code.is_empty())
        .ok_or(SignInError::BadState)?;
    let identity = match (state.config.auth.mode, pending.kind.as_str()) {
        (AuthMode::Oidc, "oidc") => oidc::finish(state, &pending, code, query.iss.as_deref()).await?,
        (AuthMode::Github, "github") => github::finish(state, &pending, code).await?,
        _ => return Err(SignInError::WrongMode),
    };
    Ok((identity, pending.next))
}

/// `POST /auth/logout`: ends this session.
async fn logout(State(state): State<AppState>, viewer: Viewer, CsrfForm(_): CsrfForm<NoFields>) -> Response {
    if let Some(id) = viewer.session_id()
        && let Err(error) = state.accounts.sign_out(&viewer.principal, id).await
    {
        tracing::error!(%error, "cannot end a session");
        return crate::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The database is unavailable; try again shortly.",
        )
        .into_response();
    }
    signed_out(&state, "You are signed out of Janus on this browser.")
}

/// `POST /auth/logout-everywhere`: ends every session of this person.
async fn logout_everywhere(
    State(state): State<AppState>,
    viewer: Viewer,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Response {
    match state.accounts.sign_out_everywhere(&viewer.principal).await {
        Ok(count) => signed_out(
            &state,
            &format!("You are signed out of Janus everywhere ({count} sessions ended)."),
        ),
        Err(error) => {
            tracing::error!(%error, "cannot end sessions");
            crate::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The database is unavailable; try again shortly.",
            )
            .into_response()
        }
    }
}

fn signed_out(state: &AppState, message: &str) -> Response {
    let body = format!(
        "<p>{}</p>\n<p><a href=\"/auth/login\">Sign in again</a></p>",
        html::escape(message)
    );
    let mut response = html::page(axum::http::StatusCode::OK, "Signed out", &body);
    append_cookie(
        &mut response,
        &cookies::clear(&state.config, &cookies::session_name(&state.config)),
    );
    response
}
