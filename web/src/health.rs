//! Liveness, readiness and metrics.
//!
//! `/healthz` answers while the process runs; `/readyz` answers 200 only while the database
//! does (503 otherwise, so a load balancer stops sending traffic); `/metrics` is the
//! Prometheus text format.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

/// A probe must answer quickly even when the database hangs.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok\n"
}

fn unavailable(what: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{what}: the database is unreachable\n"),
    )
        .into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(DATABASE_TIMEOUT, state.workflow.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "not ready: database unreachable");
            unavailable("not ready")
        }
        Err(_) => {
            tracing::warn!("not ready: the database did not answer within 2 s");
            unavailable("not ready")
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let workflow = &state.workflow;
    let read = async { (workflow.count_by_state().await, workflow.queue_depth().await) };
    let Ok((Ok(by_state), Ok(depth))) = tokio::time::timeout(DATABASE_TIMEOUT, read).await else {
        return unavailable("metrics unavailable");
    };
    let body = state.workflow.metrics().render(&by_state, &depth);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}
