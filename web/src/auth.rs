//! Who is asking: sign-in (OIDC, GitHub, trusted header, local), server-side sessions, personal API
//! tokens, CSRF, and the one extractor every page and API handler uses, [`Viewer`].
//!
//! How a request is identified, first match wins:
//! 1. on `/api/…` only, `Authorization: Bearer jat_…` — a personal API token (an invalid or
//!    expired token is a 401, never a fall-back to the cookie);
//! 2. with `auth.mode: header`, the configured header (`X-Forwarded-Email`) — only when the TCP
//!    peer is in `trustedProxyCidrs` (`X-Forwarded-For` is never consulted); from anyone else the
//!    header is ignored and the attempt is audited (`auth.header_refused`);
//! 3. the session cookie — a server-side session row found by the SHA-256 of the cookie's secret.
//!
//! State-changing dashboard forms use [`CsrfForm`]; the JSON API instead requires
//! `Content-Type: application/json`, which no cross-site form can send.

mod account;
mod cookies;
mod csrf;
mod flow;
mod github;
pub mod local;
mod oidc;
mod routes;
mod viewer;

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

pub use cookies::{clear as clear_cookie, login_name as login_cookie_name, read as read_cookie};
pub use cookies::{secure as cookies_are_secure, session_name as session_cookie_name, set as set_cookie};
pub use csrf::{CSRF_FIELD, CSRF_HEADER, CsrfForm, NoFields};
pub use flow::{Identity, SignInError, establish as establish_session, redirect as see_other};
pub use routes::routes;
pub use viewer::{AuthRejection, Credential, Viewer};

/// Sign-in state kept in memory: the OIDC provider's discovered metadata, and failed local
/// sign-ins per address.
#[derive(Debug, Default)]
pub struct AuthRuntime {
    discovery: oidc::Discovery,
    throttle: local::Throttle,
}

/// The TCP peer's address (never a forwarded header); `None` without connect info.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Peer, Self::Rejection> {
        Ok(Peer(viewer::peer_ip(parts)))
    }
}

/// `next` as a local path to redirect to after sign-in: it must start with one `/` and not `//`
/// or `/\` (both mean another host to a browser), and hold no control characters or backslashes.
/// Anything else becomes `/`.
pub fn local_redirect(next: Option<&str>) -> String {
    let Some(next) = next.map(str::trim) else {
        return "/".to_owned();
    };
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && next.len() <= 2_000;
    if safe { next.to_owned() } else { "/".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::local_redirect;

    #[test]
    fn only_local_paths_are_followed() {
        for (next, expected) in [
            (Some("/admin?state=pending"), "/admin?state=pending"),
            (Some("/t/jr-abcdefgh?p=a%40b.c"), "/t/jr-abcdefgh?p=a%40b.c"),
            (None, "/"),
            (Some(""), "/"),
            (Some("https://evil.example"), "/"),
            (Some("//evil.example"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("\\\\evil.example"), "/"),
            (Some("/%0d%0aLocation:x"), "/%0d%0aLocation:x"),
            (Some("/\r\nSet-Cookie: x"), "/"),
            (Some("javascript:alert(1)"), "/"),
            (Some(" //evil.example"), "/"),
            (Some("/\tevil"), "/"),
        ] {
            assert_eq!(local_redirect(next), expected, "{next:?}");
        }
    }
}
