//! The terminal relay (docs/terminal-protocol.md): the browser socket `/ws/terminal`, the agent's
//! session long-poll and dial-back (`/agent/v1/sessions`), the side panels and the recordings.
//!
//! Central never holds a Kubernetes token: it pairs the browser's socket with the socket the
//! cluster's agent dials back, relays bytes, and decides who may open what. Every socket and
//! every side-panel call is authorized on its own (the signed-in principal is the requester,
//! the request is Active, the namespace is granted); every refusal is audited
//! (`terminal.refused`).

use janus_core::domain::AuditAction;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocket;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use janus_core::agent_protocol::{SessionKind, SessionOffer};
use janus_core::domain::{AccessRequest, NewEvent, RequestId, RequestState};
use janus_core::queue::WorkSignal;
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot};

use crate::AppState;
use crate::auth::Viewer;

mod agent;
mod panels;
mod relay;

/// Each terminal socket reads through a buffer this large (tungstenite's default, 128 KiB, is
/// resident per socket once used; two sockets per session add up at a thousand sessions).
const SOCKET_READ_BUFFER: usize = 16 * 1024;
/// How long an offered session waits for the agent's dial.
const DIAL_WINDOW: Duration = Duration::from_secs(20);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ws/terminal", get(relay::browser_socket))
        .route("/agent/v1/sessions", get(agent::next_sessions))
        .route("/agent/v1/sessions/{sid}", get(agent::dial))
        .route("/api/v1/requests/{id}/terminal/pods", get(panels::pods))
        .route("/api/v1/requests/{id}/terminal/logs", get(panels::logs))
        .route("/api/v1/requests/{id}/terminal/events", get(panels::events))
        .route("/api/v1/requests/{id}/recordings", get(panels::recordings))
        .route("/api/v1/recordings/{sid}", get(panels::recording))
}

/// Offered sessions waiting for their agent, and the live ones (for watchers). In-process: an
/// agent's dial must reach the replica that offered the session (docs §4).
#[derive(Debug, Clone, Default)]
pub struct Hub {
    inner: Arc<HubInner>,
}

#[derive(Debug, Default)]
struct HubInner {
    /// Offers not yet handed to an agent, by cluster.
    offers: Mutex<HashMap<String, Vec<SessionOffer>>>,
    signal: WorkSignal,
    /// Offers handed out (or not yet), by session id, until the agent dials.
    pending: Mutex<HashMap<String, Pending>>,
    /// Open exec sessions, by session id.
    live: Mutex<HashMap<String, Live>>,
}

#[derive(Debug)]
struct Pending {
    offer: SessionOffer,
    socket: oneshot::Sender<WebSocket>,
}

/// What a watcher of a live session receives.
#[derive(Debug, Clone)]
pub(crate) enum Watched {
    Output(axum::body::Bytes),
    Control(String),
}

#[derive(Debug, Clone)]
struct Live {
    request_id: String,
    feed: broadcast::Sender<Watched>,
}

/// Removes a session from the hub when its owner is done with it.
pub(crate) struct Offered {
    hub: Hub,
    sid: String,
    pub(crate) socket: oneshot::Receiver<WebSocket>,
}

impl Drop for Offered {
    fn drop(&mut self) {
        self.hub.withdraw(&self.sid);
    }
}

impl Hub {
    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Offers a session to the cluster's agent and wakes its long-poll at once.
    pub(crate) fn offer(&self, offer: SessionOffer) -> Offered {
        let (sender, receiver) = oneshot::channel();
        let sid = offer.session.clone();
        let cluster = offer.cluster.clone();
        Self::lock(&self.inner.pending).insert(
            sid.clone(),
            Pending {
                offer: offer.clone(),
                socket: sender,
            },
        );
        Self::lock(&self.inner.offers)
            .entry(cluster.clone())
            .or_default()
            .push(offer);
        self.inner.signal.notify(&cluster);
        Offered {
            hub: self.clone(),
            sid,
            socket: receiver,
        }
    }

    fn withdraw(&self, sid: &str) {
        Self::lock(&self.inner.pending).remove(sid);
        for offers in Self::lock(&self.inner.offers).values_mut() {
            offers.retain(|offer| offer.session != sid);
        }
    }

    /// Takes the offers waiting for `cluster` (subscribe to [`Hub::subscribe`] first).
    fn take_offers(&self, cluster: &str) -> Vec<SessionOffer> {
        Self::lock(&self.inner.offers).remove(cluster).unwrap_or_default()
    }

    fn subscribe(&self, cluster: &str) -> tokio::sync::watch::Receiver<u64> {
        self.inner.signal.subscribe(cluster)
    }

    /// Claims a pending session for a dial (single use).
    fn claim(&self, sid: &str) -> Option<Pending> {
        Self::lock(&self.inner.pending).remove(sid)
    }

    pub(crate) fn go_live(&self, sid: &str, request_id: &str) -> broadcast::Sender<Watched> {
        let (feed, _) = broadcast::channel(64);
        Self::lock(&self.inner.live).insert(
            sid.to_owned(),
            Live {
                request_id: request_id.to_owned(),
                feed: feed.clone(),
            },
        );
        feed
    }

    pub(crate) fn end(&self, sid: &str) {
        Self::lock(&self.inner.live).remove(sid);
    }

    /// The live session `sid`: its request and a feed of what it shows.
    pub(crate) fn watch(&self, sid: &str) -> Option<(String, broadcast::Receiver<Watched>)> {
        Self::lock(&self.inner.live)
            .get(sid)
            .map(|live| (live.request_id.clone(), live.feed.subscribe()))
    }

    /// How many sessions are live (for the benchmark and tests).
    pub fn live_sessions(&self) -> usize {
        Self::lock(&self.inner.live).len()
    }
}

/// A new session id: `ts-` and 256 random bits.
pub(crate) fn new_session_id() -> String {
    janus_core::accounts::random_secret("ts-").expose().to_owned()
}

/// A refusal: HTTP status, machine code, the sentence shown.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn forbidden(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            code,
            message: message.into(),
        }
    }

    fn bad(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

/// Audits a refusal (`terminal.refused`) and returns it.
pub(crate) async fn refuse(
    state: &AppState,
    actor: &str,
    request: Option<&AccessRequest>,
    what: &str,
    refusal: Refusal,
) -> Refusal {
    let event = NewEvent {
        action: AuditAction::TerminalRefused,
        actor: actor.to_owned(),
        request_id: request.map(|request| request.id.clone()),
        cluster: request.map(|request| request.cluster.clone()),
        details: json!({"code": refusal.code, "what": what, "message": refusal.message}),
    };
    crate::audit::record(state, event, "a terminal refusal").await;
    tracing::info!(actor, code = refusal.code, what, "terminal refused");
    refusal
}

/// Appends a terminal event to the audit log (opened, closed, command).
pub(crate) async fn audit(
    state: &AppState,
    action: AuditAction,
    actor: &str,
    request: &AccessRequest,
    details: Value,
) {
    let event = NewEvent {
        action,
        actor: actor.to_owned(),
        request_id: Some(request.id.clone()),
        cluster: Some(request.cluster.clone()),
        details,
    };
    crate::audit::record(state, event, "a terminal event").await;
}

/// A Kubernetes object name as the picker sends it (DNS subdomain characters only).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'.')
}

/// The request, when `viewer` may use its terminal in `namespace` now: they are its requester,
/// it is Active, and the namespace is one of its grant. `admin_too` lets an admin through (for
/// watching and the read-only side panels).
pub(crate) async fn authorize(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    namespace: Option<&str>,
    what: &str,
    admin_too: bool,
) -> Result<AccessRequest, Refusal> {
    let actor = viewer.principal.to_string();
    let found = match RequestId::parse(id) {
        Some(request_id) => state.workflow.get(&request_id).await.ok(),
        None => None,
    };
    let Some(request) = found else {
        let refusal = Refusal::forbidden("unknown_request", "There is no such request.");
        return Err(refuse(state, &actor, None, what, refusal).await);
    };
    match may_use(viewer, &request, namespace, admin_too) {
        Ok(()) => Ok(request),
        Err(refusal) => Err(refuse(state, &actor, Some(&request), what, refusal).await),
    }
}

/// Why `viewer` may not use `request`'s terminal in `namespace` now, if they may not (the rule of
/// [`authorize`], without its audit).
fn may_use(
    viewer: &Viewer,
    request: &AccessRequest,
    namespace: Option<&str>,
    admin_too: bool,
) -> Result<(), Refusal> {
    if request.requester != viewer.principal && !(admin_too && viewer.is_admin) {
        return Err(Refusal::forbidden(
            "not_the_requester",
            "Only the requester may open a terminal for this request.",
        ));
    }
    if request.state != RequestState::Active {
        let message = format!("Request {} is {}, not active.", request.id, request.state);
        return Err(Refusal::forbidden("not_active", message));
    }
    if let Some(namespace) = namespace
        && !request.namespaces.iter().any(|granted| granted == namespace)
    {
        let shown: String = namespace.chars().take(63).collect();
        let message = format!("Namespace {shown:?} is not granted by request {}.", request.id);
        return Err(Refusal::forbidden("namespace_not_granted", message));
    }
    Ok(())
}

/// A WebSocket handshake from another site is refused: the `Origin`, when sent, must be this
/// server's own (the `Host` it was reached at, or `webui.baseUrl`).
fn same_origin(headers: &HeaderMap, base_url: &str) -> bool {
    let Some(origin) = headers.get("origin").and_then(|value| value.to_str().ok()) else {
        return true;
    };
    let base = base_url.trim().trim_end_matches('/');
    if !base.is_empty() && origin.eq_ignore_ascii_case(base) {
        return true;
    }
    let Some(host) = headers.get("host").and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or_default();
    origin_host.eq_ignore_ascii_case(host)
}

/// Builds an offer bound to one request, namespace, pod and container.
pub(crate) fn offer_for(
    state: &AppState,
    request: &AccessRequest,
    kind: SessionKind,
    namespace: &str,
    pod: &str,
    container: &str,
) -> SessionOffer {
    let now = state.workflow.clock().now();
    SessionOffer {
        session: new_session_id(),
        kind,
        cluster: request.cluster.clone(),
        request_id: request.id.to_string(),
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        container: container.to_owned(),
        cols: 80,
        rows: 24,
        tail_lines: None,
        follow: false,
        dial_by: now + chrono::Duration::from_std(DIAL_WINDOW).unwrap_or_default(),
    }
}
