//! [`CsrfForm`]: a state-changing dashboard form post, accepted only with the session's CSRF token.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, ORIGIN};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;
use subtle::ConstantTimeEq as _;

use super::viewer::{AuthRejection, Viewer, audit_refusal};
use crate::AppState;
use crate::html;

/// The form field that carries the token.
pub const CSRF_FIELD: &str = "_csrf";
/// The header that may carry it instead (htmx: `hx-headers='{"X-CSRF-Token": "…"}'`).
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// Dashboard forms are small.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A urlencoded form post by a signed-in person, carrying their session's CSRF token (the
/// `_csrf` field or the `X-CSRF-Token` header). `T` is the form (unknown fields, `_csrf`
/// included, are ignored unless `T` denies them).
///
/// Refusals: nobody signed in → the [`Viewer`] rejection (sign-in redirect); a missing or wrong
/// token, or an `Origin` other than `webui.baseUrl` → **403** page and an `auth.refused` event
/// (`csrf`); not a urlencoded body → 415; over 64 KiB → 413; a body that does not fit `T` → 400.
///
/// ```ignore
/// async fn revoke(viewer: Viewer, CsrfForm(form): CsrfForm<RevokeForm>) -> Response { … }
/// ```
#[derive(Debug, Clone)]
pub struct CsrfForm<T>(pub T);

/// The form of a button that only posts (sign out, revoke, unlink): its anti-forgery field and nothing else.
#[derive(Debug, serde::Deserialize)]
pub struct NoFields {}

/// Why a form post was refused.
#[derive(Debug)]
pub enum CsrfRejection {
    SignIn(AuthRejection),
    Forbidden,
    UnsupportedMediaType,
    TooLarge,
    Malformed(String),
}

impl IntoResponse for CsrfRejection {
    fn into_response(self) -> Response {
        match self {
            CsrfRejection::SignIn(rejection) => rejection.into_response(),
            CsrfRejection::Forbidden => html::refusal(
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form was not sent from your current Janus page (or it has expired); reload the page and try again.",
            ),
            CsrfRejection::UnsupportedMediaType => html::refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Form refused",
                "Send the form as application/x-www-form-urlencoded.",
            ),
            CsrfRejection::TooLarge => html::refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form refused",
                "The form is too large; shorten what you typed and try again.",
            ),
            CsrfRejection::Malformed(message) => {
                html::refusal(StatusCode::BAD_REQUEST, "Form refused", &message)
            }
        }
    }
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = CsrfRejection;

    async fn from_request(request: Request, state: &AppState) -> Result<CsrfForm<T>, CsrfRejection> {
        let (mut parts, body) = request.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state)
            .await
            .map_err(CsrfRejection::SignIn)?;
        let is_form = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value.split(';').next().is_some_and(|media| {
                    media
                        .trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
        if !is_form {
            return Err(CsrfRejection::UnsupportedMediaType);
        }
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| CsrfRejection::TooLarge)?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| CsrfRejection::Malformed("The form could not be read.".to_owned()))?;
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                fields
                    .iter()
                    .find(|(name, _)| name == CSRF_FIELD)
                    .map(|(_, value)| value.clone())
            });
        let expected = viewer.csrf_token();
        let token_ok = match &sent {
            Some(sent) if !expected.is_empty() => bool::from(sent.as_bytes().ct_eq(expected.as_bytes())),
            _ => false,
        };
        let origin_ok = parts
            .headers
            .get(ORIGIN)
            .and_then(|value| value.to_str().ok())
            .is_none_or(|origin| same_origin(origin, &state.config.webui.base_url));
        if !token_ok || !origin_ok {
            let reason = if token_ok {
                "foreign_origin"
            } else if sent.is_some() {
                "wrong_token"
            } else {
                "missing_token"
            };
            tracing::warn!(actor = %viewer.principal, path = %parts.uri.path(), reason, "form refused: CSRF check failed");
            audit_refusal(
                state,
                viewer.principal.as_str(),
                "csrf",
                json!({ "path": parts.uri.path(), "reason": reason }),
            )
            .await;
            return Err(CsrfRejection::Forbidden);
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes)
            .map_err(|error| CsrfRejection::Malformed(format!("The form is not valid: {error}.")))?;
        Ok(CsrfForm(form))
    }
}

/// `Origin` is scheme://host[:port]; compare it to the configured base URL's origin.
fn same_origin(origin: &str, base_url: &str) -> bool {
    let Ok(base) = url::Url::parse(base_url) else {
        return false;
    };
    let expected = base.origin().ascii_serialization();
    origin.trim_end_matches('/').eq_ignore_ascii_case(&expected)
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_compare_by_scheme_host_and_port() {
        assert!(super::same_origin(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080"
        ));
        assert!(super::same_origin(
            "https://janus.example.com",
            "https://janus.example.com/"
        ));
        assert!(!super::same_origin(
            "https://evil.example",
            "https://janus.example.com"
        ));
        assert!(!super::same_origin(
            "http://janus.example.com",
            "https://janus.example.com"
        ));
    }
}
