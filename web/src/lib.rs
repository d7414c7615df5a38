//! `janus-web`: the HTTP face of central.
//!
//! Owns the axum application: `/healthz`, `/readyz`, `/metrics`, and the agent API
//! (`/agent/v1/*`, with agent identity); later the dashboard, sign-in, signed-link
//! redemption, the terminal relay, the JSON API, and the mount point of the chat adapters'
//! routes. It talks to the database only through `janus-core`'s workflow and store, never
//! with SQL of its own.
//!
//! [`serve`] is the one code path for the binary and the tests.

mod agent_api;
mod agent_identity;
mod error;
mod health;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use janus_core::config::Config;
use janus_core::workflow::Workflow;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub workflow: Workflow,
    pub config: Arc<Config>,
    /// For calls central makes itself (TokenReview, issuer discovery). No redirects.
    pub http: reqwest::Client,
    pub(crate) issuers: agent_identity::IssuerCache,
    stopping: watch::Receiver<bool>,
    stop: Arc<watch::Sender<bool>>,
}

impl AppState {
    pub fn new(workflow: Workflow, config: Config) -> AppState {
        let (stop, stopping) = watch::channel(false);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        AppState {
            workflow,
            config: Arc::new(config),
            http,
            issuers: agent_identity::IssuerCache::default(),
            stopping,
            stop: Arc::new(stop),
        }
    }

    /// Resolves when the server begins shutting down, so long-polls end at once.
    pub(crate) async fn stopped(&self) {
        let mut stopping = self.stopping.clone();
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .nest("/agent/v1", agent_api::routes())
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes open requests
/// (long-polls return at once).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = state.stop.clone();
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
