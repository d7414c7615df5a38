//! What every sign-in method shares: the identity it proves, the ways it can be refused, the
//! sign-in in progress kept server-side, and turning an identity into a session.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::header::{LOCATION, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use janus_core::accounts::{ClientInfo, SESSION_LIFETIME};
use janus_core::domain::Principal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{cookies, local_redirect, viewer::audit_refusal};
use crate::{AppState, html};

/// Who a sign-in method proved someone is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub principal: Principal,
    pub groups: Vec<String>,
    /// `oidc`, `github`, `local`, `link`.
    pub method: &'static str,
}

/// A sign-in at an identity provider in progress, stored server-side under the hash of the
/// browser's login cookie and taken (once) by the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// `oidc` or `github`.
    pub kind: String,
    /// The OAuth `state` the provider must hand back.
    pub state: String,
    #[serde(default)]
    pub nonce: String,
    pub pkce_verifier: String,
    pub next: String,
}

/// Why a sign-in was refused. Each is audited as `auth.refused` with [`SignInError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("The identity provider cannot be reached right now; try again in a minute.")]
    ProviderUnavailable(String),
    #[error("The identity provider refused the sign-in ({0}); try again or ask your administrator.")]
    ProviderRefused(String),
    #[error(
        "This sign-in was not started from this browser, was already used, or took too long; start again."
    )]
    NoPendingLogin,
    #[error("The sign-in response does not match the sign-in this browser started; start again.")]
    BadState,
    #[error("The identity provider's answer is not from the configured issuer; ask your administrator.")]
    WrongIssuer,
    #[error(
        "The identity provider did not accept the sign-in code (it may have been used already); start again."
    )]
    CodeRejected(String),
    #[error("The identity provider's token could not be verified; start again.")]
    InvalidIdToken(String),
    #[error("Your account has no email address Janus can use; ask your administrator.")]
    NoEmail,
    #[error(
        "Your email address is not verified with the identity provider; verify it there, then sign in again."
    )]
    EmailNotVerified,
    #[error("Accounts of `{0}` may not sign in to Janus; sign in with an account of an allowed domain.")]
    DomainNotAllowed(String),
    #[error("The email or password is not correct.")]
    BadPassword,
    #[error("Too many failed sign-ins from your address; wait a few minutes and try again.")]
    Throttled,
    #[error("This Janus does not sign in that way; use the sign-in page.")]
    WrongMode,
    #[error("Sign-in is handled by your organisation's proxy, and this request did not come through it.")]
    NoTrustedHeader,
    #[error("The database is unavailable; try again shortly.")]
    Unavailable,
}

impl SignInError {
    pub fn code(&self) -> &'static str {
        match self {
            SignInError::ProviderUnavailable(_) => "provider_unavailable",
            SignInError::ProviderRefused(_) => "provider_refused",
            SignInError::NoPendingLogin => "no_pending_login",
            SignInError::BadState => "bad_state",
            SignInError::WrongIssuer => "wrong_issuer",
            SignInError::CodeRejected(_) => "code_rejected",
            SignInError::InvalidIdToken(_) => "invalid_id_token",
            SignInError::NoEmail => "no_email",
            SignInError::EmailNotVerified => "email_not_verified",
            SignInError::DomainNotAllowed(_) => "domain_not_allowed",
            SignInError::BadPassword => "bad_password",
            SignInError::Throttled => "throttled",
            SignInError::WrongMode => "wrong_mode",
            SignInError::NoTrustedHeader => "no_trusted_header",
            SignInError::Unavailable => "unavailable",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            SignInError::ProviderUnavailable(_) | SignInError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            SignInError::Throttled => StatusCode::TOO_MANY_REQUESTS,
            SignInError::BadPassword | SignInError::NoTrustedHeader => StatusCode::UNAUTHORIZED,
            SignInError::NoPendingLogin | SignInError::BadState | SignInError::WrongMode => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// Detail for the audit log and the server log (never shown to the person).
    fn detail(&self) -> Option<&str> {
        match self {
            SignInError::ProviderUnavailable(detail)
            | SignInError::ProviderRefused(detail)
            | SignInError::CodeRejected(detail)
            | SignInError::InvalidIdToken(detail)
            | SignInError::DomainNotAllowed(detail) => Some(detail),
            _ => None,
        }
    }
}

/// Audits a refused sign-in and renders its page (clearing the login cookie).
pub async fn refuse(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    error: SignInError,
) -> Response {
    let ip = peer.map(|ip| ip.to_string()).unwrap_or_default();
    tracing::warn!(code = error.code(), detail = error.detail().unwrap_or(""), %ip, "sign-in refused");
    if !matches!(
        error,
        SignInError::Unavailable | SignInError::ProviderUnavailable(_)
    ) {
        let details = json!({ "ip": ip, "detail": error.detail(), "userAgent": user_agent(headers) });
        audit_refusal(state, "anonymous", error.code(), details).await;
    }
    let mut response = html::refusal(error.status(), "Sign-in refused", &error.to_string());
    append_cookie(
        &mut response,
        &cookies::clear(&state.config, &cookies::login_name(&state.config)),
    );
    response
}

/// Checks `allowedDomains` (exact, lower-case; empty allows all).
pub fn check_domain(principal: &Principal, allowed: &[String]) -> Result<(), SignInError> {
    if allowed.is_empty() || allowed.iter().any(|domain| domain == principal.domain()) {
        Ok(())
    } else {
        Err(SignInError::DomainNotAllowed(principal.domain().to_owned()))
    }
}

/// Starts a session for `identity`: sets the session cookie (clearing the login cookie) and
/// redirects to `next` (local paths only). `lifetime` caps the session's lifetime.
pub async fn establish(
    state: &AppState,
    identity: &Identity,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    next: Option<&str>,
    lifetime: Option<Duration>,
) -> Response {
    let client = ClientInfo {
        user_agent: user_agent(headers),
        ip: peer.map(|ip| ip.to_string()).unwrap_or_default(),
    };
    let started = state
        .accounts
        .sign_in(
            &identity.principal,
            &identity.groups,
            identity.method,
            &client,
            lifetime,
        )
        .await;
    let (secret, session) = match started {
        Ok(started) => started,
        Err(error) => {
            tracing::error!(%error, "cannot start a session");
            return refuse(state, headers, peer, SignInError::Unavailable).await;
        }
    };
    tracing::info!(actor = %identity.principal, method = identity.method, session = %session.id, "signed in");
    if let Err(error) = state.accounts.purge().await {
        tracing::warn!(%error, "could not purge ended sessions");
    }
    let max_age = lifetime
        .map_or(SESSION_LIFETIME, |asked| asked.min(SESSION_LIFETIME))
        .as_secs();
    let mut response = redirect(&local_redirect(next));
    let config = &state.config;
    append_cookie(
        &mut response,
        &cookies::set(config, &cookies::session_name(config), secret.expose(), max_age),
    );
    append_cookie(
        &mut response,
        &cookies::clear(config, &cookies::login_name(config)),
    );
    response
}

/// A `303 See Other` to `location` (already a safe local path or a provider URL).
pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

pub fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

pub fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// Group names from a claim value: an array of strings, or one string. At most 200, each at
/// most 256 characters; anything else is ignored.
pub fn groups_from_claim(value: Option<&serde_json::Value>) -> Vec<String> {
    let names: Vec<&str> = match value {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(serde_json::Value::as_str).collect(),
        Some(serde_json::Value::String(one)) => vec![one.as_str()],
        _ => Vec::new(),
    };
    let unique: BTreeSet<String> = names
        .into_iter()
        .filter(|name| !name.is_empty() && name.chars().count() <= 256)
        .take(200)
        .map(str::to_owned)
        .collect();
    unique.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_exactly() {
        let principal = Principal::parse("alice@example.com").unwrap();
        assert!(check_domain(&principal, &[]).is_ok());
        assert!(check_domain(&principal, &["example.com".into()]).is_ok());
        assert_eq!(
            check_domain(&principal, &["other.com".into(), "sub.example.com".into()]),
            Err(SignInError::DomainNotAllowed("example.com".into()))
        );
    }

    #[test]
    fn groups_come_from_arrays_or_a_string() {
        assert_eq!(
            groups_from_claim(Some(&json!(["sre", "dev", "sre", 5]))),
            vec!["dev", "sre"]
        );
        assert_eq!(groups_from_claim(Some(&json!("sre"))), vec!["sre"]);
        assert!(groups_from_claim(Some(&json!({"a": 1}))).is_empty());
        assert!(groups_from_claim(None).is_empty());
    }
}
