//! `janus-web`: the HTTP face of central.
//!
//! Owns the axum application: today `/healthz`, `/readyz` and `/metrics`; later the
//! dashboard, sign-in, signed-link redemption, the terminal relay, the agent API, the JSON
//! API, and the mount point of the chat adapters' routes. It talks to the database only
//! through `janus-core`'s workflow and store, never with SQL of its own.
//!
//! [`serve`] is the one code path for the binary and the tests.

mod health;

use std::future::Future;

use axum::Router;
use janus_core::workflow::Workflow;
use tokio::net::TcpListener;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub workflow: Workflow,
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    health::routes().with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes open requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
