//! The terminal page (DESIGN §6.4), rendered by `/t/{id}` once the signed link is accepted, and by
//! `/t/{id}?watch=<session>` for an admin watching a live session read-only.
//!
//! The page is a frame for `terminal.js`: the namespace tab strip, one pane (a second one with
//! "Split"), the logs and events sidebar and the quick commands. Everything it shows comes from
//! the terminal socket and the side-panel endpoints (`docs/terminal-protocol.md`), each of which
//! authorizes every request on its own; the page itself grants nothing.
//!
//! **Content-Security-Policy.** Like every dashboard page: no inline script, nothing from
//! elsewhere. xterm.js's DOM renderer creates `<style>` elements (theme, cell size) and sets
//! `style` attributes on some cells, so this page alone allows `<style>` elements carrying a
//! per-response nonce (`terminal.js` stamps it on the elements xterm.js creates) and inline style
//! attributes; no style can load anything from elsewhere (`img-src`, `font-src` stay `'self'`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use janus_core::domain::{AccessRequest, RequestId, RequestState};

use super::display::Moment;
use super::shell::zone;
use super::{PageError, refuse};
use crate::AppState;
use crate::assets::{AssetUrls, urls};
use crate::auth::Viewer;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/requests/{id}/terminal", get(open_own))
}

/// `GET /requests/{id}/terminal` (the "Open terminal" button): the requester of an Active request
/// is sent to a freshly signed link; anyone else gets the 404 of a request they may not see.
async fn open_own(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(request_id) = RequestId::parse(&id) else {
        return Err(PageError::NotFound);
    };
    let Some(request) = state.workflow.get_request(&request_id).await? else {
        return Err(PageError::NotFound);
    };
    if request.requester != viewer.principal {
        let path = format!("/requests/{request_id}/terminal");
        return Err(refuse(&state, &viewer, "not_the_requester", &path, PageError::NotFound).await);
    }
    if request.state != RequestState::Active {
        return Err(PageError::BadRequest(format!(
            "Request {request_id} is {}, not active, so it has no terminal.",
            request.state
        )));
    }
    match crate::links::terminal_link(&state, &request) {
        Some(link) => Ok(Redirect::to(&link).into_response()),
        None => Err(PageError::NotFound),
    }
}

#[derive(Template)]
#[template(path = "terminal.html")]
pub(crate) struct TerminalPage {
    pub request_id: String,
    pub cluster: String,
    pub requester: String,
    pub email: String,
    pub namespaces: Vec<String>,
    /// The namespaces as a JSON array, for `terminal.js`.
    pub namespaces_json: String,
    pub expires: Option<Moment>,
    /// The live session an admin watches (read-only), if any.
    pub watch: Option<String>,
    pub nonce: String,
    pub assets: &'static AssetUrls,
}

impl TerminalPage {
    pub fn new(
        state: &AppState,
        viewer: &Viewer,
        request: &AccessRequest,
        watch: Option<String>,
    ) -> TerminalPage {
        TerminalPage {
            request_id: request.id.to_string(),
            cluster: request.cluster.clone(),
            requester: request.requester.to_string(),
            email: viewer.principal.to_string(),
            namespaces_json: serde_json::to_string(&request.namespaces).unwrap_or_else(|_| "[]".to_owned()),
            namespaces: request.namespaces.clone(),
            expires: request.expires_at.map(|at| zone(state).moment(at)),
            watch,
            nonce: nonce(),
            assets: urls(),
        }
    }

    /// The page with its own security headers (see the module doc).
    pub fn respond(&self) -> Response {
        let body = match self.render() {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "the terminal page could not be rendered");
                return crate::html::refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Terminal unavailable",
                    "The terminal page could not be shown; try again, and tell your Janus admin if it persists.",
                );
            }
        };
        let mut response = (StatusCode::OK, Html(body)).into_response();
        let headers = response.headers_mut();
        if let Ok(policy) = HeaderValue::from_str(&content_security_policy(&self.nonce)) {
            headers.insert(CONTENT_SECURITY_POLICY, policy);
        }
        for (name, value) in [
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (X_FRAME_OPTIONS, "DENY"),
            // The address holds the link's signature: never send it anywhere.
            (REFERRER_POLICY, "no-referrer"),
            (CACHE_CONTROL, "no-store"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

pub(crate) fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; style-src-elem 'self' 'nonce-{nonce}'; \
         style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// 128 random bits, base64url (a CSP nonce).
fn nonce() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
