//! The agent's side of terminal sessions: the session long-poll and the dial-back socket.
//! Both are signed like every agent call (the embedded agent of `janus serve` too, with its
//! in-memory key: [`authenticate_session`]); a dial is paired only with a pending session of the
//! dialing agent's own cluster, once, before the offer's deadline.

use axum::Json;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use janus_core::agent_protocol::SessionOffers;

use crate::agent_api::WaitQuery;
use crate::agent_identity::{AgentIdentity, authenticate_session};
use crate::{ApiError, AppState};

/// `GET /agent/v1/sessions?wait=N`: the sessions central wants this agent to open.
pub(super) async fn next_sessions(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(query): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let AgentIdentity { cluster } = authenticate_session(&state, &method, &uri, &headers).await?;
    let hub = &state.terminals;
    let wait = query.duration();
    let mut signal = hub.subscribe(&cluster);
    let deadline = state.workflow.clock().sleep(wait);
    tokio::pin!(deadline);
    loop {
        let offers = hub.take_offers(&cluster);
        if !offers.is_empty() {
            return Ok(Json(SessionOffers { sessions: offers }).into_response());
        }
        tokio::select! {
            changed = signal.changed() => {
                if changed.is_err() {
                    return Ok(StatusCode::NO_CONTENT.into_response());
                }
            }
            () = &mut deadline => return Ok(StatusCode::NO_CONTENT.into_response()),
            () = state.stopped() => return Ok(StatusCode::NO_CONTENT.into_response()),
        }
    }
}

/// `GET /agent/v1/sessions/{sid}` (WebSocket): the agent's end of one offered session.
pub(super) async fn dial(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let AgentIdentity { cluster } = authenticate_session(&state, &method, &uri, &headers).await?;
    let actor = format!("agent:{cluster}");
    let refused = |code: &'static str, message: &str| super::Refusal {
        status: StatusCode::FORBIDDEN,
        code,
        message: message.to_owned(),
    };
    let Some(pending) = state.terminals.claim(&sid) else {
        let refusal = refused("unknown_session", "There is no pending session with this id.");
        return Ok(super::refuse(&state, &actor, None, "agent_dial", refusal)
            .await
            .into_response());
    };
    if pending.offer.cluster != cluster {
        let request = match janus_core::domain::RequestId::parse(&pending.offer.request_id) {
            Some(id) => state.workflow.get(&id).await.ok(),
            None => None,
        };
        let refusal = refused("wrong_cluster", "The session belongs to another cluster.");
        return Ok(
            super::refuse(&state, &actor, request.as_ref(), "agent_dial", refusal)
                .await
                .into_response(),
        );
    }
    if state.workflow.clock().now() > pending.offer.dial_by {
        let refusal = refused("session_expired", "The session was not dialed in time.");
        return Ok(super::refuse(&state, &actor, None, "agent_dial", refusal)
            .await
            .into_response());
    }
    let sender = pending.socket;
    Ok(upgrade
        .read_buffer_size(super::SOCKET_READ_BUFFER)
        .on_upgrade(move |socket| async move {
            // The browser side may have gone meanwhile; the socket then just closes.
            let _ = sender.send(socket);
        })
        .into_response())
}
