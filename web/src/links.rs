//! `/t/{id}`: opening a signed terminal link (DESIGN §6.3).
//!
//! The link is checked by `janus_core::links` (signature in constant time, key id, expiry,
//! principal), then here: the request exists, is Active, and belongs to the link's principal.
//! - `links.mode: sso`: the holder must be signed in (else: sign in, then back here) as the
//!   link's principal.
//! - `links.mode: link`: an anonymous holder is signed in by the link, once: the link is spent
//!   (`link.redeemed`) and exchanged for a session that ends when the link or the grant would; the
//!   browser is sent back to the same URL, now signed in. A second use is refused. Someone signed
//!   in as another person is refused (sign out first).
//!
//! An accepted link shows the terminal page (`pages::terminal_view`). `/t/{id}?watch=<session>`
//! is the same page for an admin watching a live session of the request read-only; it needs no
//! link, only a signed-in admin (the socket checks the session again).
//!
//! Every refusal is a plain page and a `link.rejected` audit event with a stable code.

use janus_core::domain::AuditAction;
use std::time::Duration;

use axum::Router;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use janus_core::config::LinksMode;
use janus_core::domain::{AccessRequest, NewEvent, Principal, RequestId, RequestState};
use janus_core::links::{LinkParams, LinkRejection};
use serde_json::json;

use crate::auth::{Identity, Peer, Viewer};
use crate::pages::terminal_view::TerminalPage;
use crate::{AppState, html};

pub fn routes() -> Router<AppState> {
    Router::new().route("/t/{id}", get(open))
}

/// The terminal link of an Active request for its requester, valid until the grant ends or
/// `links.ttlSeconds` from now, whichever is first. `None` unless the request is Active.
pub fn terminal_link(state: &AppState, request: &AccessRequest) -> Option<String> {
    let workflow = &state.workflow;
    state.links.terminal_link(
        request,
        workflow.policy(),
        workflow.clock().now(),
        &state.config.webui.base_url,
    )
}

/// Why a link was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Link(LinkRejection),
    UnknownRequest,
    NotActive(RequestState),
    AlreadyUsed,
    NotAdmin,
    Unavailable,
}

impl Refusal {
    fn code(self) -> &'static str {
        match self {
            Refusal::Link(rejection) => rejection.code(),
            Refusal::UnknownRequest => "unknown_request",
            Refusal::NotActive(_) => "not_active",
            Refusal::AlreadyUsed => "already_used",
            Refusal::NotAdmin => "watch_not_admin",
            Refusal::Unavailable => "unavailable",
        }
    }

    fn message(self) -> String {
        match self {
            Refusal::Link(rejection) => rejection.to_string(),
            Refusal::UnknownRequest => {
                "This terminal link names a request Janus does not know; request access again.".to_owned()
            }
            Refusal::NotActive(state) => format!(
                "This request is {state}, not active, so its terminal cannot be opened; request access again if you still need it."
            ),
            Refusal::AlreadyUsed => {
                "This terminal link was already used to sign in; ask for a new link or sign in to Janus."
                    .to_owned()
            }
            Refusal::NotAdmin => {
                "Only Janus admins may watch someone else's terminal session; open your own terminal link instead."
                    .to_owned()
            }
            Refusal::Unavailable => "Janus cannot check this link right now; try again shortly.".to_owned(),
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Refusal::Link(LinkRejection::Malformed) => StatusCode::BAD_REQUEST,
            Refusal::UnknownRequest => StatusCode::NOT_FOUND,
            Refusal::NotActive(_) | Refusal::AlreadyUsed | Refusal::Link(LinkRejection::Expired) => {
                StatusCode::GONE
            }
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Link(_) | Refusal::NotAdmin => StatusCode::FORBIDDEN,
        }
    }
}

async fn refuse(
    state: &AppState,
    actor: Option<&Principal>,
    id: &str,
    refusal: Refusal,
    peer: Peer,
) -> Response {
    let actor = actor.map_or_else(|| "anonymous".to_owned(), Principal::to_string);
    tracing::warn!(%actor, request_id = id, code = refusal.code(), "terminal link refused");
    if refusal != Refusal::Unavailable {
        let event = NewEvent {
            action: AuditAction::LinkRejected,
            actor,
            request_id: RequestId::parse(id),
            cluster: None,
            details: json!({
                "code": refusal.code(),
                "ip": peer.0.map(|ip| ip.to_string()),
                "requestId": id.chars().take(40).collect::<String>(),
            }),
        };
        crate::audit::record(state, event, "a link refusal").await;
    }
    html::refusal(refusal.status(), "Terminal link refused", &refusal.message())
}

async fn open(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    viewer: Option<Viewer>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let signed_in = viewer.as_ref().map(|viewer| &viewer.principal);
    let here = uri.path_and_query().map_or("/", |path| path.as_str()).to_owned();
    if let Some(session) = watch_param(query.as_deref().unwrap_or("")) {
        return watch(&state, viewer, &id, session, peer, &headers, here).await;
    }
    let params = match LinkParams::from_query(query.as_deref().unwrap_or("")) {
        Ok(params) => params,
        Err(rejection) => return refuse(&state, signed_in, &id, Refusal::Link(rejection), peer).await,
    };
    if viewer.is_none() && state.config.links.mode == LinksMode::Sso {
        return crate::auth::AuthRejection::SignInRequired {
            api: false,
            htmx: headers.contains_key("HX-Request"),
            next: here,
        }
        .into_response();
    }
    let now = state.workflow.clock().now();
    let verified = match state
        .links
        .verify(&id, &params, signed_in.map(Principal::as_str), now.timestamp())
    {
        Ok(verified) => verified,
        Err(rejection) => return refuse(&state, signed_in, &id, Refusal::Link(rejection), peer).await,
    };
    let Some(request_id) = RequestId::parse(&verified.request_id) else {
        return refuse(&state, signed_in, &id, Refusal::UnknownRequest, peer).await;
    };
    let request = match state.workflow.get(&request_id).await {
        Ok(request) => request,
        Err(janus_core::workflow::WorkflowError::NotFound(_)) => {
            return refuse(&state, signed_in, &id, Refusal::UnknownRequest, peer).await;
        }
        Err(_) => return refuse(&state, signed_in, &id, Refusal::Unavailable, peer).await,
    };
    if request.requester.as_str() != verified.principal {
        return refuse(
            &state,
            signed_in,
            &id,
            Refusal::Link(LinkRejection::WrongPrincipal),
            peer,
        )
        .await;
    }
    if request.state != RequestState::Active {
        return refuse(&state, signed_in, &id, Refusal::NotActive(request.state), peer).await;
    }
    if let Some(viewer) = &viewer {
        return TerminalPage::new(&state, viewer, &request, None).respond();
    }
    // links.mode: link, nobody signed in: spend the link and sign its holder in.
    let link_expires = DateTime::<Utc>::from_timestamp(verified.expires_at, 0).unwrap_or(now);
    let session_end = request
        .expires_at
        .map_or(link_expires, |end| end.min(link_expires));
    let redeemed = state
        .accounts
        .redeem_link(&params.sig, &request.id, &request.requester, link_expires)
        .await;
    match redeemed {
        Ok(true) => {}
        Ok(false) => return refuse(&state, None, &id, Refusal::AlreadyUsed, peer).await,
        Err(_) => return refuse(&state, None, &id, Refusal::Unavailable, peer).await,
    }
    let identity = Identity {
        principal: request.requester.clone(),
        groups: Vec::new(),
        method: "link",
    };
    let lifetime = (session_end - now).to_std().unwrap_or(Duration::from_secs(1));
    crate::auth::establish_session(&state, &identity, &headers, peer.0, Some(&here), Some(lifetime)).await
}

/// `watch=<session>` from the query, if present. A session id that is not `[A-Za-z0-9_-]{1,64}`
/// is passed on empty, and refused as malformed.
fn watch_param(query: &str) -> Option<String> {
    let (_, value) = url::form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "watch")?;
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    Some(if valid { value.into_owned() } else { String::new() })
}

/// `/t/{id}?watch=<session>`: an admin watching a live session of an Active request, read-only.
async fn watch(
    state: &AppState,
    viewer: Option<Viewer>,
    id: &str,
    session: String,
    peer: Peer,
    headers: &HeaderMap,
    here: String,
) -> Response {
    let Some(viewer) = viewer else {
        return crate::auth::AuthRejection::SignInRequired {
            api: false,
            htmx: headers.contains_key("HX-Request"),
            next: here,
        }
        .into_response();
    };
    let actor = Some(&viewer.principal);
    if !viewer.is_admin {
        return refuse(state, actor, id, Refusal::NotAdmin, peer).await;
    }
    if session.is_empty() {
        return refuse(state, actor, id, Refusal::Link(LinkRejection::Malformed), peer).await;
    }
    let Some(request_id) = RequestId::parse(id) else {
        return refuse(state, actor, id, Refusal::UnknownRequest, peer).await;
    };
    let request = match state.workflow.get(&request_id).await {
        Ok(request) => request,
        Err(janus_core::workflow::WorkflowError::NotFound(_)) => {
            return refuse(state, actor, id, Refusal::UnknownRequest, peer).await;
        }
        Err(_) => return refuse(state, actor, id, Refusal::Unavailable, peer).await,
    };
    if request.state != RequestState::Active {
        return refuse(state, actor, id, Refusal::NotActive(request.state), peer).await;
    }
    TerminalPage::new(state, &viewer, &request, Some(session)).respond()
}
