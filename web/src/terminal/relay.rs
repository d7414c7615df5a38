//! `GET /ws/terminal`: one browser pane ⇄ one exec session at the agent.
//!
//! Binary frames are terminal bytes and are relayed untouched; text frames are typed control
//! messages (`{"v":1,"type":…}`), and a text frame that is not one is logged and dropped, never
//! sent to the shell. The session ends on the user's close, the shell's exit, `idleTimeoutSeconds`
//! without input (pings do not count; the grant stays), revoke or expiry (announced by the
//! workflow's change feed, `close_terminals`), or an error — and central tells the browser
//! why before it closes both sockets.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::{SinkExt as _, StreamExt as _};
use janus_core::agent_protocol::SessionKind;
use janus_core::domain::{AccessRequest, RequestState};
use janus_core::store::recordings::Recording;
use janus_core::terminal::{
    ClientControl, CloseReason, Diagnostic, DiagnosticCode, LineCapture, Recorder, ServerControl,
    parse_client_control,
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;

use super::{DIAL_WINDOW, Refusal, Watched, authorize, offer_for, refuse, same_origin, valid_name};
use crate::AppState;
use crate::auth::Viewer;

#[derive(Debug, Default, Deserialize)]
pub(super) struct SocketQuery {
    request: Option<String>,
    namespace: Option<String>,
    pod: Option<String>,
    container: Option<String>,
    cols: Option<u16>,
    rows: Option<u16>,
    watch: Option<String>,
}

fn size(value: Option<u16>, default: u16) -> u16 {
    value
        .filter(|value| (1..=janus_core::terminal::MAX_SIZE).contains(value))
        .unwrap_or(default)
}

pub(super) async fn browser_socket(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(query): Query<SocketQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let actor = viewer.principal.to_string();
    if !same_origin(&headers, &state.config.webui.base_url) {
        let refusal = Refusal::forbidden(
            "cross_origin",
            "The terminal may only be opened from Janus's own pages.",
        );
        return refuse(&state, &actor, None, "terminal", refusal)
            .await
            .into_response();
    }
    let cols = size(query.cols, 80);
    let rows = size(query.rows, 24);
    if let Some(sid) = query.watch.as_deref() {
        return watch(state, viewer, sid, upgrade).await;
    }
    let (Some(id), Some(namespace), Some(pod)) = (
        query.request.as_deref(),
        query.namespace.as_deref(),
        query.pod.as_deref(),
    ) else {
        return Refusal::bad(
            "missing_parameter",
            "Give request, namespace and pod (or watch=<session>).",
        )
        .into_response();
    };
    let container = query.container.clone().unwrap_or_default();
    if !valid_name(pod) || !(container.is_empty() || valid_name(&container)) {
        return Refusal::bad("bad_name", "The pod or container name is not a Kubernetes name.")
            .into_response();
    }
    let request = match authorize(&state, &viewer, id, Some(namespace), "terminal", false).await {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let spec = Spec {
        request,
        actor,
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        container,
        cols,
        rows,
    };
    upgrade
        .read_buffer_size(super::SOCKET_READ_BUFFER)
        .on_upgrade(move |socket| async move { run(state, socket, spec).await })
        .into_response()
}

struct Spec {
    request: AccessRequest,
    actor: String,
    namespace: String,
    pod: String,
    container: String,
    cols: u16,
    rows: u16,
}

fn text(control: &ServerControl) -> Message {
    Message::Text(control.to_text().into())
}

fn closing_message(reason: CloseReason, request: &AccessRequest) -> String {
    match reason {
        CloseReason::Revoked => match request.state {
            RequestState::Withdrawn => "Access was withdrawn; the session is closed.".to_owned(),
            _ => "Access was revoked; the session is closed.".to_owned(),
        },
        CloseReason::Expired => "Access expired; the session is closed.".to_owned(),
        CloseReason::Idle => {
            "Closed after a period without input. Access is still active: reconnect to continue.".to_owned()
        }
        CloseReason::Exit => "The shell exited.".to_owned(),
        CloseReason::User => "The session was closed.".to_owned(),
        CloseReason::Error => "The session failed.".to_owned(),
    }
}

/// Why a change of the request ends its terminals.
fn reason_for(request: &AccessRequest) -> CloseReason {
    match request.state {
        RequestState::Expired => CloseReason::Expired,
        _ => CloseReason::Revoked,
    }
}

fn seconds_since(start: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    let micros = (now - start).num_microseconds().unwrap_or(0);
    #[expect(
        clippy::cast_precision_loss,
        reason = "recording timestamps need microseconds, not 2^53 of them"
    )]
    let seconds = micros as f64 / 1e6;
    seconds.max(0.0)
}

async fn close_browser(browser: &mut WebSocket, reason: CloseReason, message: String) {
    let _ = browser
        .send(text(&ServerControl::Closed { reason, message }))
        .await;
    let _ = browser
        .send(Message::Close(Some(CloseFrame {
            code: close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
}

async fn run(state: AppState, mut browser: WebSocket, spec: Spec) {
    let clock = state.workflow.clock().clone();
    let request = spec.request.clone();
    let mut offer = offer_for(
        &state,
        &request,
        SessionKind::Exec,
        &spec.namespace,
        &spec.pod,
        &spec.container,
    );
    offer.cols = spec.cols;
    offer.rows = spec.rows;
    let sid = offer.session.clone();
    // Subscribed before the offer, so a revoke while the agent dials is not missed.
    let mut changes = state.workflow.subscribe();
    let mut offered = state.terminals.offer(offer);
    let dial_deadline = clock.sleep(DIAL_WINDOW);
    tokio::pin!(dial_deadline);
    let agent = loop {
        tokio::select! {
            socket = &mut offered.socket => break socket.ok(),
            () = &mut dial_deadline => break None,
            change = changes.recv() => {
                if let Ok(change) = change
                    && change.request.id == request.id
                    && change.close_terminals
                {
                    let reason = reason_for(&change.request);
                    close_browser(&mut browser, reason, closing_message(reason, &change.request)).await;
                    return;
                }
            }
            message = browser.recv() => match message {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(Message::Text(control))) => {
                    if let Ok(ClientControl::Ping) = parse_client_control(&control) {
                        let _ = browser.send(text(&ServerControl::Pong)).await;
                    }
                }
                Some(Ok(_)) => {}
            },
        }
    };
    drop(offered);
    let Some(agent) = agent else {
        let diagnostic = Diagnostic::new(
            "exec",
            &request.cluster,
            &spec.namespace,
            &spec.pod,
            DiagnosticCode::Unreachable,
            format!(
                "The agent of cluster {} did not open the session in time.",
                request.cluster
            ),
        );
        let _ = browser.send(text(&ServerControl::Error { diagnostic })).await;
        close_browser(
            &mut browser,
            CloseReason::Error,
            "The session could not be opened.".to_owned(),
        )
        .await;
        return;
    };
    let feed = state.terminals.go_live(&sid, &request.id.to_string());
    let started_at = clock.now();
    super::audit(
        &state,
        janus_core::domain::AuditAction::TerminalOpened,
        &spec.actor,
        &request,
        json!({"session": sid, "namespace": spec.namespace, "pod": spec.pod, "container": spec.container}),
    )
    .await;
    let relayed = Relay {
        state: &state,
        spec: &spec,
        sid: &sid,
        feed: &feed,
        started_at,
    }
    .relay(browser, agent, &mut changes)
    .await;
    state.terminals.end(&sid);
    let ended_at = clock.now();
    super::audit(
        &state,
        janus_core::domain::AuditAction::TerminalClosed,
        &spec.actor,
        &request,
        json!({"session": sid, "reason": relayed.reason.as_str(), "namespace": spec.namespace, "pod": spec.pod}),
    )
    .await;
    let (cast, truncated) = relayed.recorder.clone().finish();
    let recording = Recording {
        session: sid.clone(),
        request_id: request.id.to_string(),
        cluster: request.cluster.clone(),
        namespace: spec.namespace.clone(),
        pod: spec.pod.clone(),
        container: spec.container.clone(),
        requester: request.requester.to_string(),
        started_at,
        ended_at,
        end_reason: relayed.reason.as_str().to_owned(),
        bytes: i64::try_from(cast.len()).unwrap_or(i64::MAX),
        truncated,
    };
    if let Err(error) = state.workflow.save_recording(&recording, &cast).await {
        tracing::error!(%error, session = %sid, "could not store the session recording");
    }
    // The browser hears why last, when the audit log and the recording are complete.
    let mut browser = relayed.browser;
    let closed = ServerControl::Closed {
        reason: relayed.reason,
        message: relayed.message,
    }
    .to_text();
    let _ = browser.send(Message::Text(closed.clone().into())).await;
    let _ = browser
        .send(Message::Close(Some(CloseFrame {
            code: close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
    let _ = feed.send(Watched::Control(closed));
}

struct Relay<'a> {
    state: &'a AppState,
    spec: &'a Spec,
    sid: &'a str,
    feed: &'a broadcast::Sender<Watched>,
    started_at: DateTime<Utc>,
}

struct Relayed {
    reason: CloseReason,
    message: String,
    recorder: Recorder,
    browser: futures::stream::SplitSink<WebSocket, Message>,
}

impl Relay<'_> {
    async fn relay(
        self,
        browser: WebSocket,
        agent: WebSocket,
        changes: &mut broadcast::Receiver<janus_core::workflow::Change>,
    ) -> Relayed {
        let state = self.state;
        let spec = self.spec;
        let request = &spec.request;
        let clock = state.workflow.clock().clone();
        let idle_seconds = state.config.janus.idle_timeout_seconds;
        let idle = (idle_seconds > 0)
            .then(|| chrono::Duration::seconds(i64::try_from(idle_seconds).unwrap_or(i64::MAX / 2)));
        let title = format!("{}/{}/{}", request.cluster, spec.namespace, spec.pod);
        let mut recorder = Recorder::new(
            spec.cols,
            spec.rows,
            self.started_at.timestamp(),
            &title,
            usize::try_from(state.config.terminal.recording_max_bytes).unwrap_or(usize::MAX),
        );
        let mut capture = LineCapture::default();
        let mut last_input = clock.now();
        let (mut browser_tx, mut browser_rx) = browser.split();
        let (mut agent_tx, mut agent_rx) = agent.split();
        let mut exited = false;
        // The grant's end as the workflow knows it now: an approved extension moves it, and
        // the session follows instead of closing at the old end.
        let mut expires_at = request.expires_at;
        let (reason, message) = loop {
            let idle_at = idle.map(|idle| last_input + idle);
            // One timer for the earlier of the idle deadline and the grant's end.
            let wake_at = match (idle_at, expires_at) {
                (Some(idle_at), Some(expires_at)) => Some(idle_at.min(expires_at)),
                (idle_at, expires_at) => idle_at.or(expires_at),
            };
            let timer = {
                let clock = clock.clone();
                async move {
                    match wake_at {
                        Some(at) => clock.sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                }
            };
            tokio::select! {
                message = browser_rx.next() => match message {
                    Some(Ok(Message::Binary(bytes))) => {
                        last_input = clock.now();
                        recorder.input(seconds_since(self.started_at, last_input), &bytes);
                        for line in capture.feed(&bytes) {
                            super::audit(state, janus_core::domain::AuditAction::TerminalCommand, &spec.actor, request,
                                json!({"session": self.sid, "namespace": spec.namespace, "pod": spec.pod, "line": line})).await;
                        }
                        if agent_tx.send(Message::Binary(bytes)).await.is_err() {
                            break (CloseReason::Error, "The cluster's agent went away.".to_owned());
                        }
                    }
                    Some(Ok(Message::Text(control))) => match parse_client_control(&control) {
                        Ok(ClientControl::Resize { cols, rows }) => {
                            recorder.resize(seconds_since(self.started_at, clock.now()), cols, rows);
                            let _ = agent_tx.send(Message::Text(ClientControl::Resize { cols, rows }.to_text().into())).await;
                        }
                        Ok(ClientControl::Ping) => {
                            let _ = browser_tx.send(text(&ServerControl::Pong)).await;
                        }
                        Err(error) => tracing::debug!(session = %self.sid, %error, "control message ignored"),
                    },
                    Some(Ok(Message::Close(_)) | Err(_)) | None => {
                        break (CloseReason::User, closing_message(CloseReason::User, request));
                    }
                    Some(Ok(_)) => {}
                },
                message = agent_rx.next() => match message {
                    Some(Ok(Message::Binary(bytes))) => {
                        recorder.output(seconds_since(self.started_at, clock.now()), &bytes);
                        let _ = self.feed.send(Watched::Output(bytes.clone()));
                        if browser_tx.send(Message::Binary(bytes)).await.is_err() {
                            break (CloseReason::User, closing_message(CloseReason::User, request));
                        }
                    }
                    Some(Ok(Message::Text(control))) => match ServerControl::parse(&control) {
                        Some(ServerControl::Closed { reason, message }) => {
                            let reason = if exited { CloseReason::Exit } else { reason };
                            break (reason, message);
                        }
                        Some(control @ (ServerControl::Ready { .. } | ServerControl::Exit { .. } | ServerControl::Error { .. })) => {
                            if let ServerControl::Error { diagnostic } = &control {
                                tracing::warn!(action = %diagnostic.action, cluster = %diagnostic.cluster,
                                    namespace = %diagnostic.namespace, pod = %diagnostic.pod, code = diagnostic.code.as_str(),
                                    retryable = diagnostic.retryable, message = %diagnostic.message, "terminal diagnostic from the agent");
                            }
                            exited |= matches!(control, ServerControl::Exit { .. });
                            let frame = control.to_text();
                            let _ = self.feed.send(Watched::Control(frame.clone()));
                            let _ = browser_tx.send(Message::Text(frame.into())).await;
                        }
                        _ => {}
                    },
                    Some(Ok(Message::Close(_)) | Err(_)) | None => {
                        let reason = if exited { CloseReason::Exit } else { CloseReason::Error };
                        break (reason, closing_message(reason, request));
                    }
                    Some(Ok(_)) => {}
                },
                change = changes.recv() => match change {
                    Ok(change) if change.request.id == request.id && change.close_terminals => {
                        let reason = reason_for(&change.request);
                        break (reason, closing_message(reason, &change.request));
                    }
                    Ok(change) if change.request.id == request.id => expires_at = change.request.expires_at,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Missed changes: read the request again.
                        if let Ok(current) = state.workflow.get(&request.id).await {
                            if current.state != RequestState::Active {
                                let reason = reason_for(&current);
                                break (reason, closing_message(reason, &current));
                            }
                            expires_at = current.expires_at;
                        }
                    }
                    _ => {}
                },
                () = timer => {
                    let now = clock.now();
                    if expires_at.is_some_and(|at| now >= at)
                        && let Ok(current) = state.workflow.get(&request.id).await
                    {
                        // The end as the workflow knows it now: an extension approved a moment
                        // ago may not have reached this loop through the change feed yet.
                        expires_at = current.expires_at;
                    }
                    if expires_at.is_some_and(|at| now >= at) {
                        break (CloseReason::Expired, closing_message(CloseReason::Expired, request));
                    }
                    if idle_at.is_some_and(|at| now >= at) {
                        break (CloseReason::Idle, closing_message(CloseReason::Idle, request));
                    }
                }
            }
        };
        // Closing the agent's socket makes the agent end the exec stream.
        let _ = agent_tx.send(Message::Close(None)).await;
        Relayed {
            reason,
            message,
            recorder,
            browser: browser_tx,
        }
    }
}

/// An admin watching a live session: receives its output, sends nothing.
async fn watch(state: AppState, viewer: Viewer, sid: &str, upgrade: WebSocketUpgrade) -> Response {
    let actor = viewer.principal.to_string();
    if !viewer.is_admin {
        let refusal = Refusal::forbidden("not_an_admin", "Only admins may watch a session.");
        return refuse(&state, &actor, None, "watch", refusal)
            .await
            .into_response();
    }
    let Some((request_id, mut feed)) = state.terminals.watch(sid) else {
        let refusal = Refusal::forbidden("unknown_session", "There is no live session with this id.");
        return refuse(&state, &actor, None, "watch", refusal)
            .await
            .into_response();
    };
    let request = match authorize(&state, &viewer, &request_id, None, "watch", true).await {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let sid = sid.to_owned();
    upgrade
        .read_buffer_size(super::SOCKET_READ_BUFFER)
        .on_upgrade(move |mut socket| async move {
            super::audit(&state, janus_core::domain::AuditAction::TerminalWatched, &actor, &request, json!({"session": sid})).await;
            let ready = ServerControl::Ready {
                session: sid.clone(),
                shell: "watch".to_owned(),
            };
            let _ = socket.send(text(&ready)).await;
            loop {
                tokio::select! {
                    item = feed.recv() => match item {
                        Ok(Watched::Output(bytes)) => {
                            if socket.send(Message::Binary(bytes)).await.is_err() {
                                break;
                            }
                        }
                        Ok(Watched::Control(frame)) => {
                            let last = matches!(ServerControl::parse(&frame), Some(ServerControl::Closed { .. }));
                            let _ = socket.send(Message::Text(frame.into())).await;
                            if last {
                                let _ = socket.send(Message::Close(Some(CloseFrame { code: close_code::NORMAL, reason: "".into() }))).await;
                                break;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    message = socket.recv() => match message {
                        Some(Ok(Message::Text(control))) => {
                            if let Ok(ClientControl::Ping) = parse_client_control(&control) {
                                let _ = socket.send(text(&ServerControl::Pong)).await;
                            }
                        }
                        // Read-only: a watcher's input goes nowhere.
                        Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
        })
        .into_response()
}
