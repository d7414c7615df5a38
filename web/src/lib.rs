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
use janus_core::outbox::OutboxWorker;
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
    /// The Slack adapter, when `slack.enabled`.
    pub slack: Option<Arc<janus_bot::slack::Slack>>,
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
        let config = Arc::new(config);
        let slack = config
            .slack
            .enabled
            .then(|| janus_bot::slack::Slack::new(workflow.clone(), config.clone()));
        AppState {
            slack,
            workflow,
            config,
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
    let mut app = Router::new()
        .merge(health::routes())
        .nest("/agent/v1", agent_api::routes())
        .with_state(state.clone());
    if let Some(slack) = &state.slack {
        app = app.merge(slack.routes());
    }
    app
}

/// The outbox worker with a notifier for every enabled chat adapter.
pub fn outbox_worker(state: &AppState) -> OutboxWorker {
    let mut worker = OutboxWorker::new(state.workflow.clone());
    if let Some(slack) = &state.slack {
        worker = worker.with(slack.notifier());
    }
    worker
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
    // Chat notices are delivered while the server runs (and resume after a restart).
    let outbox = state.slack.is_some().then(|| {
        let worker = outbox_worker(&state);
        let stopped = state.clone();
        tokio::spawn(async move { worker.run(async move { stopped.stopped().await }).await })
    });
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(outbox) = outbox {
        let _ = outbox.await;
    }
    served
}
