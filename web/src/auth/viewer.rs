//! [`Viewer`]: the signed-in person behind a request, as every page and API handler sees them.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{AUTHORIZATION, LOCATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use janus_core::accounts::csrf_token;
use janus_core::config::AuthMode;
use janus_core::domain::{AccessRequest, Actor, Policy, Principal};
use serde_json::json;

use super::cookies;
use crate::{ApiError, AppState};

/// The signed-in person behind a request, resolved once per request (cached in its extensions).
///
/// Use it as an extractor:
/// - `viewer: Viewer` — the page or call needs someone signed in. Anonymous requests are
///   rejected with [`AuthRejection`]: a `303` to `/auth/login?next=<this path>` for pages, a
///   `401` with `HX-Redirect` for htmx requests, and a `401` JSON error
///   (`{"error":{"code":"unauthenticated",…}}`) under `/api/`.
/// - `viewer: Option<Viewer>` — anonymous is fine (`None`).
/// - [`super::CsrfForm<T>`] — a state-changing form post: checks [`Viewer::csrf_token`].
///
/// Authorization is not decided here: commands go through `Workflow::execute`, which refuses
/// self-approval and non-approvers and audits the refusal. `is_admin` and `approver_of` are for
/// showing the right pages and buttons, and for filtering what a person may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub principal: Principal,
    /// Groups from the identity provider at sign-in (OIDC `groupsClaim`); empty otherwise.
    pub groups: BTreeSet<String>,
    /// In `janus.adminEmails`.
    pub is_admin: bool,
    /// Clusters this person may approve (by email, approver group, or as an admin: all of them).
    pub approver_of: BTreeSet<String>,
    /// How the request proved who it is.
    pub credential: Credential,
    csrf: String,
    /// The session was made by redeeming a signed link (`links.mode: link`).
    link_session: bool,
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A dashboard session; `id` is its public id (as listed on the user's page).
    Session { id: String },
    /// A personal API token (`/api/` only); `id` is its public id.
    ApiToken { id: String },
    /// The trusted proxy header (`auth.mode: header`).
    Header,
}

impl Viewer {
    /// Builds a viewer for `principal`, deriving admin and approver rights from the policy.
    pub fn new(
        state: &AppState,
        principal: Principal,
        groups: BTreeSet<String>,
        credential: Credential,
        csrf: String,
    ) -> Viewer {
        let policy = state.workflow.policy();
        let is_admin = policy.is_admin(&principal);
        let approver_of = policy.approvable_clusters(&actor_for(&principal, &groups));
        Viewer {
            principal,
            groups,
            is_admin,
            approver_of,
            credential,
            csrf,
            link_session: false,
        }
    }

    /// True when this session came from a signed link (`links.mode: link`) rather than a sign-in:
    /// it may use the dashboard but not mint API tokens, so an intercepted link cannot be turned
    /// into lasting access.
    pub fn is_link_session(&self) -> bool {
        self.link_session
    }

    /// The value every state-changing form must send back as the `_csrf` field (or the
    /// `X-CSRF-Token` header). Bound to this session; empty for API-token requests, which cannot
    /// post forms.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// The actor to pass to `Workflow::execute` / `submit` (carries the groups).
    pub fn actor(&self) -> Actor {
        actor_for(&self.principal, &self.groups)
    }

    /// The session's public id, when signed in with a session.
    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session { id } => Some(id),
            _ => None,
        }
    }

    pub fn is_approver_of(&self, cluster: &str) -> bool {
        self.approver_of.contains(cluster)
    }

    /// Whether this person may see `request` ([`Policy::may_see`], the rule every entry point
    /// shares).
    pub fn can_see(&self, policy: &Policy, request: &AccessRequest) -> bool {
        policy.may_see(&self.actor(), request)
    }
}

fn actor_for(principal: &Principal, groups: &BTreeSet<String>) -> Actor {
    if groups.is_empty() {
        Actor::Person(principal.clone())
    } else {
        Actor::Member {
            principal: principal.clone(),
            groups: groups.clone(),
        }
    }
}

/// Why a request that needs a viewer has none.
#[derive(Debug)]
pub enum AuthRejection {
    /// Nobody is signed in; `api` decides JSON vs a redirect to the sign-in page.
    SignInRequired { api: bool, htmx: bool, next: String },
    /// A bearer token was sent but is unknown, revoked or expired.
    InvalidToken,
    /// The sign-in store could not be read.
    Unavailable,
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::SignInRequired { api: true, .. } => {
                let mut response = ApiError::unauthorized(
                    "unauthenticated",
                    "Sign in first: send your session cookie or an API token as `Authorization: Bearer jat_…`.",
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            AuthRejection::SignInRequired { htmx, next, .. } => {
                let target = format!("/auth/login?next={}", encode_component(&next));
                let Ok(target) = HeaderValue::from_str(&target) else {
                    return StatusCode::UNAUTHORIZED.into_response();
                };
                if htmx {
                    let mut response = StatusCode::UNAUTHORIZED.into_response();
                    response.headers_mut().insert("HX-Redirect", target);
                    response
                } else {
                    let mut response = StatusCode::SEE_OTHER.into_response();
                    response.headers_mut().insert(LOCATION, target);
                    response
                }
            }
            AuthRejection::InvalidToken => {
                let mut response = ApiError::unauthorized(
                    "invalid_token",
                    "The API token is unknown, revoked or expired; create a new one on your Janus page.",
                )
                .into_response();
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                response
            }
            AuthRejection::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The database is unavailable; try again shortly.",
            )
            .into_response(),
        }
    }
}

/// Percent-encodes a query component (everything but RFC 3986 unreserved characters and `/`).
pub(crate) fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// What resolving the request found, cached in the request's extensions.
#[derive(Debug, Clone)]
enum Resolved {
    Viewer(Box<Viewer>),
    Anonymous,
    InvalidToken,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Viewer, AuthRejection> {
        match resolve(parts, state).await? {
            Resolved::Viewer(viewer) => Ok(*viewer),
            Resolved::InvalidToken => Err(AuthRejection::InvalidToken),
            Resolved::Anonymous => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |path| path.as_str())
                    .to_owned();
                Err(AuthRejection::SignInRequired {
                    api: is_api(parts),
                    htmx: parts.headers.contains_key("HX-Request"),
                    next,
                })
            }
        }
    }
}

impl OptionalFromRequestParts<AppState> for Viewer {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Viewer>, AuthRejection> {
        match resolve(parts, state).await? {
            Resolved::Viewer(viewer) => Ok(Some(*viewer)),
            Resolved::InvalidToken => Err(AuthRejection::InvalidToken),
            Resolved::Anonymous => Ok(None),
        }
    }
}

fn is_api(parts: &Parts) -> bool {
    parts.uri.path().starts_with("/api/")
}

/// The TCP peer's address (from `axum::serve`'s connect info); never a forwarded header.
pub(crate) fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

async fn resolve(parts: &mut Parts, state: &AppState) -> Result<Resolved, AuthRejection> {
    if let Some(resolved) = parts.extensions.get::<Resolved>() {
        return Ok(resolved.clone());
    }
    let resolved = identify(parts, state).await?;
    parts.extensions.insert(resolved.clone());
    Ok(resolved)
}

async fn identify(parts: &Parts, state: &AppState) -> Result<Resolved, AuthRejection> {
    let unavailable = |error: janus_core::accounts::AccountsError| {
        tracing::error!(%error, "cannot read sign-in state");
        AuthRejection::Unavailable
    };
    if is_api(parts)
        && let Some(token) = bearer(parts)
    {
        let Some(record) = state.accounts.api_token(token).await.map_err(unavailable)? else {
            audit_refusal(
                state,
                "anonymous",
                "invalid_token",
                json!({ "ip": ip_text(parts) }),
            )
            .await;
            return Ok(Resolved::InvalidToken);
        };
        let credential = Credential::ApiToken { id: record.id };
        let viewer = Viewer::new(
            state,
            record.principal,
            BTreeSet::new(),
            credential,
            String::new(),
        );
        return Ok(Resolved::Viewer(Box::new(viewer)));
    }
    if state.config.auth.mode == AuthMode::Header
        && let Some(viewer) = from_header(parts, state).await
    {
        return Ok(Resolved::Viewer(Box::new(viewer)));
    }
    if let Some(secret) = cookies::read(&parts.headers, &cookies::session_name(&state.config))
        && let Some(session) = state.accounts.session(secret).await.map_err(unavailable)?
    {
        let credential = Credential::Session { id: session.id };
        let groups = session.groups.into_iter().collect();
        let mut viewer = Viewer::new(state, session.principal, groups, credential, csrf_token(secret));
        viewer.link_session = session.method == "link";
        return Ok(Resolved::Viewer(Box::new(viewer)));
    }
    Ok(Resolved::Anonymous)
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn ip_text(parts: &Parts) -> String {
    peer_ip(parts).map(|ip| ip.to_string()).unwrap_or_default()
}

/// The trusted header's principal, if the TCP peer is a trusted proxy. A header from anyone else
/// is ignored and audited.
async fn from_header(parts: &Parts, state: &AppState) -> Option<Viewer> {
    let settings = &state.config.auth.header;
    let raw = parts.headers.get(settings.name.as_str())?;
    let claimed = raw
        .to_str()
        .unwrap_or("<not text>")
        .chars()
        .take(254)
        .collect::<String>();
    let peer = peer_ip(parts);
    let trusted = peer.is_some_and(|ip| {
        let ip = canonical_ip(ip);
        settings
            .trusted_proxy_networks()
            .iter()
            .any(|network| network.contains(&ip))
    });
    if !trusted {
        tracing::warn!(peer = ?peer, "identity header from an untrusted address ignored");
        audit_refusal(
            state,
            "anonymous",
            "untrusted_header",
            json!({ "ip": ip_text(parts), "header": settings.name, "claimed": claimed }),
        )
        .await;
        return None;
    }
    let Ok(principal) = Principal::parse(&claimed) else {
        audit_refusal(
            state,
            "anonymous",
            "header_not_an_email",
            json!({ "ip": ip_text(parts), "claimed": claimed }),
        )
        .await;
        return None;
    };
    let csrf = state.derived_secret(&format!("csrf|header|{principal}"));
    Some(Viewer::new(
        state,
        principal,
        BTreeSet::new(),
        Credential::Header,
        csrf,
    ))
}

/// An IPv4 address that arrived as IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is compared as IPv4.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Appends an `auth.refused` event; a failure to audit is logged, never shown.
pub(crate) async fn audit_refusal(state: &AppState, actor: &str, code: &str, details: serde_json::Value) {
    crate::audit::refusal(state, actor, None, code, details).await;
}
