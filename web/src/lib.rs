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
pub mod api;
mod assets;
mod audit;
pub mod auth;
mod discord_link;
mod error;
mod health;
pub mod html;
mod links;
pub mod pages;
pub mod terminal;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use janus_core::accounts::Accounts;
use janus_core::config::Config;
use janus_core::links::LinkSigner;
use janus_core::outbox::OutboxWorker;
use janus_core::secret::Secret;
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
    /// The Discord adapter, when `discord.enabled`.
    pub discord: Option<Arc<janus_bot::discord::Discord>>,
    /// Sessions, API tokens, the local admin, spent links.
    pub accounts: Accounts,
    /// Signs and verifies terminal links (`links.keys`; see [`AppState::new`]).
    pub links: Arc<LinkSigner>,
    pub(crate) auth: Arc<auth::AuthRuntime>,
    /// Terminal sessions offered to agents and live (see [`terminal`]).
    pub terminals: terminal::Hub,
    /// The public key of the embedded agent of this process, when `janus serve` runs one
    /// (see [`AppState::with_embedded_agent`]).
    pub(crate) embedded_agent: Option<Arc<agent_identity::EmbeddedAgent>>,
    /// Keys values the server derives (header-mode CSRF tokens); see [`AppState::derived_secret`].
    server_key: Arc<Secret>,
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
        let (links, server_key) = link_signer(&config);
        let links = Arc::new(links);
        let config = Arc::new(config);
        let slack = config
            .slack
            .enabled
            .then(|| janus_bot::slack::Slack::new(workflow.clone(), config.clone(), links.clone()));
        let discord = config
            .discord
            .enabled
            .then(|| janus_bot::discord::Discord::new(workflow.clone(), config.clone(), links.clone()));
        AppState {
            slack,
            discord,
            accounts: Accounts::for_workflow(&workflow),
            workflow,
            config,
            http,
            issuers: agent_identity::IssuerCache::default(),
            links,
            auth: Arc::default(),
            terminals: terminal::Hub::default(),
            embedded_agent: None,
            server_key: Arc::new(server_key),
            stopping,
            stop: Arc::new(stop),
        }
    }

    /// Accepts `public_key` as the embedded agent of `cluster` (`agent.clusterName`) on the
    /// two session routes (`/agent/v1/sessions`, `/agent/v1/sessions/{sid}`), and nowhere
    /// else: the embedded agent does its work through the workflow, in-process. The key pair
    /// is made by `janus serve` at start and lives in this process only (never stored, never
    /// configured), so no other process can sign as it.
    pub fn with_embedded_agent(mut self, cluster: &str, public_key: ed25519_dalek::VerifyingKey) -> AppState {
        self.embedded_agent = Some(Arc::new(agent_identity::EmbeddedAgent {
            cluster: cluster.trim().to_owned(),
            public_key,
        }));
        self
    }

    /// HMAC-SHA256(server key, `purpose`) in hex: a value only this server (and its replicas,
    /// which share `links.keys`) can compute.
    pub(crate) fn derived_secret(&self, purpose: &str) -> String {
        use hmac::{Hmac, Mac};
        match Hmac::<sha2::Sha256>::new_from_slice(self.server_key.expose().as_bytes()) {
            Ok(mac) => janus_core::digest::hex(&mac.chain_update(purpose.as_bytes()).finalize().into_bytes()),
            Err(_) => String::new(),
        }
    }

    /// Resolves when the server begins shutting down, so long-polls end at once.
    pub(crate) async fn stopped(&self) {
        let mut stopping = self.stopping.clone();
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }
}

/// The link signer from `links.keys`, and the server key (the first configured secret).
///
/// In `links.mode: sso` the keys may be left empty; then this process signs with a random key of
/// its own (links die with the process, and several replicas need configured keys). Invalid key
/// settings were refused when the configuration was loaded; if they still fail here, a random
/// key is used as well and the problem is logged.
fn link_signer(config: &Config) -> (LinkSigner, Secret) {
    let random = || janus_core::accounts::random_secret("");
    let keys: Vec<(String, Secret)> = config
        .links
        .keys
        .iter()
        .map(|key| {
            let secret = if key.secret.is_empty() {
                random()
            } else {
                key.secret.clone()
            };
            (key.kid.clone(), secret)
        })
        .collect();
    let server_key = keys.first().map_or_else(random, |(_, secret)| secret.clone());
    match LinkSigner::new(keys, String::new()) {
        Ok(signer) => (signer, server_key),
        Err(error) => {
            tracing::error!(%error, "link keys unusable; signing links with a random key of this process");
            let key = random();
            (fallback_signer(key.clone()), key)
        }
    }
}

#[expect(
    clippy::expect_used,
    reason = "one key with a non-empty kid and secret always builds"
)]
fn fallback_signer(key: Secret) -> LinkSigner {
    LinkSigner::new(vec![("k1".to_owned(), key)], String::new()).expect("a valid single key")
}

/// The URL at which this process reaches its own listener bound to `address`: the address
/// itself, or loopback of the same family when it listens on all addresses (`0.0.0.0`,
/// `[::]`). Central serves plain HTTP (TLS ends in front of it), so the URL is `http://`; it
/// never leaves the host. `webui.baseUrl` is not used: it names the public address.
pub fn own_url(address: SocketAddr) -> String {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, address.port()))
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .merge(health::routes())
        .merge(auth::routes())
        .merge(links::routes())
        .merge(api::routes())
        .merge(pages::routes())
        .merge(assets::routes())
        .merge(terminal::routes())
        .nest("/agent/v1", agent_api::routes())
        .with_state(state.clone());
    if let Some(slack) = &state.slack {
        app = app.merge(slack.routes());
    }
    if let Some(discord) = &state.discord {
        app = app.merge(discord.routes());
        app = app.merge(discord_link::routes().with_state(state.clone()));
    }
    app
}

/// The outbox worker with a notifier for every enabled chat adapter.
pub fn outbox_worker(state: &AppState) -> OutboxWorker {
    let mut worker = OutboxWorker::new(state.workflow.clone());
    if let Some(slack) = &state.slack {
        worker = worker.with(slack.notifier());
    }
    if let Some(discord) = &state.discord {
        worker = worker.with(discord.notifier());
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
    let outbox = (state.slack.is_some() || state.discord.is_some()).then(|| {
        let worker = outbox_worker(&state);
        let stopped = state.clone();
        tokio::spawn(async move { worker.run(async move { stopped.stopped().await }).await })
    });
    // Connect info gives handlers the TCP peer address (trusted-header checks never use
    // X-Forwarded-For).
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    if let Some(outbox) = outbox {
        let _ = outbox.await;
    }
    served
}
