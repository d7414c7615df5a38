//! `/events`: live updates as server-sent events, fed by `Workflow::subscribe()` (every committed
//! change, no polling).
//!
//! For each change to a request the viewer may see (their own, one of a cluster they approve, or
//! any for an admin) the stream sends an event named `request` and one named `request-<id>`, with
//! `{"id","state"}` as data; pages listen with htmx's SSE extension (`hx-trigger="sse:request"`)
//! and fetch their fresh fragment. Changes the viewer may not see are never sent. The stream
//! starts with a `ready` event (the subscription exists from then on), sends a `request` event
//! when it fell behind (so pages refresh everything), and ends when the server shuts down or after
//! [`STREAM_LIFETIME`], when the browser reconnects and signs in again — so a revoked session stops
//! receiving updates.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt as _};
use janus_core::workflow::Change;
use serde_json::json;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::auth::Viewer;

/// How long one stream lasts before the browser must reconnect (and be identified again).
pub const STREAM_LIFETIME: Duration = Duration::from_secs(10 * 60);

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

async fn events(State(state): State<AppState>, viewer: Viewer) -> Response {
    // Subscribe before answering: every change committed after the `ready` event is delivered.
    let changes = state.workflow.subscribe();
    let stream = stream(state, viewer, changes);
    let mut response = Sse::new(stream).keep_alive(KeepAlive::default()).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("X-Accel-Buffering", HeaderValue::from_static("no"));
    response
}

struct Live {
    changes: Receiver<Change>,
    viewer: Viewer,
    workflow: janus_core::workflow::Workflow,
    stopping: BoxFuture<'static, ()>,
    lifetime: BoxFuture<'static, ()>,
}

fn stream(
    state: AppState,
    viewer: Viewer,
    changes: Receiver<Change>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let ready = Event::default()
        .event("ready")
        .data("{}")
        .retry(Duration::from_secs(2));
    let lifetime = state.workflow.clock().sleep(STREAM_LIFETIME);
    let workflow = state.workflow.clone();
    let stopping: BoxFuture<'static, ()> = Box::pin(async move { state.stopped().await });
    let live = Live {
        changes,
        viewer,
        workflow,
        stopping,
        lifetime,
    };
    let updates = futures::stream::unfold(live, |mut live| async move {
        loop {
            let received = tokio::select! {
                received = live.changes.recv() => received,
                () = &mut live.stopping => return None,
                () = &mut live.lifetime => return None,
            };
            match received {
                Ok(change) if live.viewer.can_see(live.workflow.policy(), &change.request) => {
                    let id = change.request.id.to_string();
                    let data = json!({ "id": id, "state": change.request.state.as_str() }).to_string();
                    let events = vec![
                        Ok(Event::default().event("request").data(data.clone())),
                        Ok(Event::default().event(format!("request-{id}")).data(data)),
                    ];
                    return Some((futures::stream::iter(events), live));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        missed,
                        "a live-update stream fell behind; asking the page to refresh"
                    );
                    let event = Event::default().event("request").data("{}");
                    return Some((futures::stream::iter(vec![Ok(event)]), live));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    futures::stream::once(async move { Ok(ready) }).chain(updates.flatten())
}
