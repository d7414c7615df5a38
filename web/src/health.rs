//! Liveness, readiness and metrics.
//!
//! `/healthz` answers while the process runs; `/readyz` answers 200 only while the database
//! does (503 otherwise, so a load balancer stops sending traffic); `/metrics` is the
//! Prometheus text format.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.workflow.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the database is unreachable\n",
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let store = state.workflow.store();
    let (by_state, depth) = match (store.count_by_state().await, store.queue_depth().await) {
        (Ok(by_state), Ok(depth)) => (by_state, depth),
        _ => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "metrics unavailable: the database is unreachable\n",
            )
                .into_response();
        }
    };
    let body = state.workflow.metrics().render(&by_state, &depth);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}
