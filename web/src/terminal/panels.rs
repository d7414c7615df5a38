//! The terminal's side panels over HTTP (pods, logs, events: served by the agent with the
//! grant's token, through a short session) and the recordings.

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use janus_core::agent_protocol::SessionKind;
use janus_core::domain::AccessRequest;
use janus_core::terminal::{Diagnostic, DiagnosticCode, ServerControl};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{DIAL_WINDOW, Refusal, authorize, offer_for, refuse, valid_name};
use crate::AppState;
use crate::auth::Viewer;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PanelQuery {
    namespace: Option<String>,
    pod: Option<String>,
    container: Option<String>,
    tail_lines: Option<i64>,
    follow: Option<bool>,
}

fn diagnostic_response(diagnostic: &Diagnostic) -> Response {
    let status = match diagnostic.code {
        DiagnosticCode::RbacDenied => StatusCode::FORBIDDEN,
        DiagnosticCode::NotFound => StatusCode::NOT_FOUND,
        DiagnosticCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        DiagnosticCode::TokenNotReady => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    (
        status,
        axum::Json(json!({"error": {"code": diagnostic.code.as_str(), "message": diagnostic.message, "diagnostic": diagnostic}})),
    )
        .into_response()
}

/// Checks the call and the names; the request and namespace on success.
async fn check(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    query: &PanelQuery,
    what: &str,
    needs_pod: bool,
) -> Result<(AccessRequest, String), Response> {
    let Some(namespace) = query.namespace.as_deref() else {
        return Err(Refusal::bad("missing_parameter", "Give the namespace.").into_response());
    };
    let pod = query.pod.as_deref().unwrap_or_default();
    if (needs_pod && !valid_name(pod))
        || (!pod.is_empty() && !valid_name(pod))
        || query
            .container
            .as_deref()
            .is_some_and(|container| !container.is_empty() && !valid_name(container))
    {
        return Err(Refusal::bad("bad_name", "Give a valid pod (and container) name.").into_response());
    }
    // Admins may read the panels of a request they watch.
    match authorize(state, viewer, id, Some(namespace), what, true).await {
        Ok(request) => Ok((request, namespace.to_owned())),
        Err(refusal) => Err(refusal.into_response()),
    }
}

/// Opens a short session of `kind` at the agent; the agent's socket once it dialed.
async fn open(
    state: &AppState,
    request: &AccessRequest,
    kind: SessionKind,
    namespace: &str,
    query: &PanelQuery,
) -> Result<WebSocket, Response> {
    let pod = query.pod.clone().unwrap_or_default();
    let mut offer = offer_for(
        state,
        request,
        kind,
        namespace,
        &pod,
        query.container.as_deref().unwrap_or_default(),
    );
    offer.tail_lines = query.tail_lines.map(|lines| lines.clamp(1, 10_000));
    offer.follow = query.follow.unwrap_or(false);
    let mut offered = state.terminals.offer(offer);
    let clock = state.workflow.clock().clone();
    tokio::select! {
        socket = &mut offered.socket => socket.map_err(|_| unreachable(request, kind, namespace, &pod)),
        () = clock.sleep(DIAL_WINDOW) => Err(unreachable(request, kind, namespace, &pod)),
    }
}

fn unreachable(request: &AccessRequest, kind: SessionKind, namespace: &str, pod: &str) -> Response {
    diagnostic_response(&Diagnostic::new(
        kind.as_str(),
        &request.cluster,
        namespace,
        pod,
        DiagnosticCode::Unreachable,
        format!("The agent of cluster {} did not answer in time.", request.cluster),
    ))
}

/// Reads a one-shot session's answer: its `result`, or its diagnostic.
async fn result(mut socket: WebSocket) -> Response {
    while let Some(Ok(message)) = socket.recv().await {
        if let Message::Text(text) = message {
            match ServerControl::parse(&text) {
                Some(ServerControl::Result { body }) => return axum::Json(body).into_response(),
                Some(ServerControl::Error { diagnostic }) => return diagnostic_response(&diagnostic),
                Some(ServerControl::Closed { .. }) => break,
                _ => {}
            }
        }
    }
    (
        StatusCode::BAD_GATEWAY,
        axum::Json(json!({"error": {"code": "INTERNAL", "message": "The agent closed the session without an answer."}})),
    )
        .into_response()
}

pub(super) async fn pods(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<PanelQuery>,
) -> Response {
    one_answer(&state, &viewer, &id, &query, "pods", SessionKind::Pods).await
}

pub(super) async fn events(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<PanelQuery>,
) -> Response {
    one_answer(&state, &viewer, &id, &query, "events", SessionKind::Events).await
}

/// A requester's panel answered once by the agent (the pods, the events): checked, asked, relayed.
async fn one_answer(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    query: &PanelQuery,
    what: &str,
    kind: SessionKind,
) -> Response {
    let (request, namespace) = match check(state, viewer, id, query, what, false).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    match open(state, &request, kind, &namespace, query).await {
        Ok(socket) => result(socket).await,
        Err(response) => response,
    }
}

pub(super) async fn logs(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<PanelQuery>,
) -> Response {
    let (request, namespace) = match check(&state, &viewer, &id, &query, "logs", true).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let mut socket = match open(&state, &request, SessionKind::Logs, &namespace, &query).await {
        Ok(socket) => socket,
        Err(response) => return response,
    };
    if !query.follow.unwrap_or(false) {
        let mut text = Vec::new();
        while let Some(Ok(message)) = socket.recv().await {
            match message {
                Message::Binary(bytes) => text.extend_from_slice(&bytes),
                Message::Text(control) => match ServerControl::parse(&control) {
                    Some(ServerControl::Error { diagnostic }) => return diagnostic_response(&diagnostic),
                    Some(ServerControl::Closed { .. }) => break,
                    _ => {}
                },
                _ => {}
            }
        }
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
    }
    // Follow: one server-sent event per line, until the agent or the browser ends it (or the
    // request stops being Active: the agent closes the stream at cleanup and at expiry).
    let stream = futures::stream::unfold(
        (socket, Vec::<u8>::new(), false),
        |(mut socket, mut pending, done)| async move {
            if done {
                return None;
            }
            loop {
                if let Some(end) = pending.iter().position(|byte| *byte == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&line[..line.len() - 1]).replace('\r', "");
                    let event = format!("data: {line}\n\n");
                    return Some((Ok::<_, std::convert::Infallible>(event), (socket, pending, false)));
                }
                match socket.recv().await {
                    Some(Ok(Message::Binary(bytes))) => pending.extend_from_slice(&bytes),
                    Some(Ok(Message::Text(control))) => match ServerControl::parse(&control) {
                        Some(ServerControl::Error { diagnostic }) => {
                            let event = format!("event: diagnostic\ndata: {}\n\n", json!(diagnostic));
                            return Some((Ok(event), (socket, pending, true)));
                        }
                        Some(ServerControl::Closed { .. }) => {
                            if pending.is_empty() {
                                return None;
                            }
                            pending.push(b'\n');
                        }
                        _ => {}
                    },
                    Some(Ok(_)) => {}
                    _ => return None,
                }
            }
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream.boxed()),
    )
        .into_response()
}

fn may_read(viewer: &Viewer, requester: &str) -> bool {
    viewer.is_admin || viewer.principal.to_string() == requester
}

/// `GET /api/v1/requests/{id}/recordings`: the requester and admins.
pub(super) async fn recordings(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let actor = viewer.principal.to_string();
    let request = match janus_core::domain::RequestId::parse(&id) {
        Some(request_id) => state.workflow.get(&request_id).await.ok(),
        None => None,
    };
    let Some(request) = request else {
        return Refusal {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: "There is no such request.".to_owned(),
        }
        .into_response();
    };
    if !may_read(&viewer, &request.requester.to_string()) {
        let refusal = Refusal::forbidden("not_allowed", "Only the requester and admins may see recordings.");
        return refuse(&state, &actor, Some(&request), "recordings", refusal)
            .await
            .into_response();
    }
    match state.workflow.recordings(&request.id).await {
        Ok(list) => {
            let items: Vec<Value> = list
                .into_iter()
                .map(|recording| {
                    json!({
                        "session": recording.session,
                        "namespace": recording.namespace,
                        "pod": recording.pod,
                        "container": recording.container,
                        "startedAt": recording.started_at,
                        "endedAt": recording.ended_at,
                        "endReason": recording.end_reason,
                        "bytes": recording.bytes,
                        "truncated": recording.truncated,
                    })
                })
                .collect();
            axum::Json(json!({ "items": items })).into_response()
        }
        Err(error) => crate::ApiError::from(error).into_response(),
    }
}

/// `GET /api/v1/recordings/{sid}`: the asciicast v2 file.
pub(super) async fn recording(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(sid): Path<String>,
) -> Response {
    let actor = viewer.principal.to_string();
    let found = match state.workflow.recording(&sid).await {
        Ok(found) => found,
        Err(error) => {
            return crate::ApiError::from(error).into_response();
        }
    };
    let Some((recording, cast)) = found else {
        return Refusal {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: "There is no such recording.".to_owned(),
        }
        .into_response();
    };
    if !may_read(&viewer, &recording.requester) {
        let request = match janus_core::domain::RequestId::parse(&recording.request_id) {
            Some(id) => state.workflow.get(&id).await.ok(),
            None => None,
        };
        let refusal = Refusal::forbidden(
            "not_allowed",
            "Only the requester and admins may replay recordings.",
        );
        return refuse(&state, &actor, request.as_ref(), "recording", refusal)
            .await
            .into_response();
    }
    ([(header::CONTENT_TYPE, "application/x-asciicast")], cast).into_response()
}
