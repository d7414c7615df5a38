//! The one way to start central: store → migrate → policy → workflow → web state → serve (and the
//! scheduler and the embedded agent when asked). `janus serve`, the benchmarks and the
//! integration tests all start central through [`Central::builder`]; they differ only in what
//! they hand it (a configuration, a clock, a listener, a database URL).
//!
//! **Invariant:** the [`Policy`] is always derived from the [`Config`] given to the builder, the
//! way `janus serve` derives it; nothing assembles a policy by hand.

use std::net::SocketAddr;
use std::sync::Arc;

use janus_core::clock::{Clock, SystemClock};
use janus_core::config::{AuthMode, Config, WebUiConfig};
use janus_core::domain::Policy;
use janus_core::scheduler::Scheduler;
use janus_core::store::{Store, StoreError, redact_url};
use janus_core::workflow::Workflow;
use janus_web::AppState;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why central could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    #[error("cannot open the database {url}")]
    Open {
        url: String,
        #[source]
        source: StoreError,
    },
    #[error("cannot migrate the database")]
    Migrate(#[source] StoreError),
    #[error("cannot listen on {address}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the web server failed")]
    Serve(#[source] std::io::Error),
    #[error("the web server task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// What central is started with; see [`Central::builder`].
#[must_use = "a builder does nothing until `start` is awaited"]
pub struct CentralBuilder {
    config: Config,
    clock: Arc<dyn Clock>,
    listener: Option<TcpListener>,
    scheduler: bool,
    web: bool,
    base_url_from_listener: bool,
    embedded_agent_key: Option<(String, ed25519_dalek::VerifyingKey)>,
}

impl std::fmt::Debug for CentralBuilder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CentralBuilder")
            .field("listener", &self.listener)
            .field("scheduler", &self.scheduler)
            .field("web", &self.web)
            .field("base_url_from_listener", &self.base_url_from_listener)
            .finish_non_exhaustive()
    }
}

impl CentralBuilder {
    /// The clock of the workflow, the scheduler and the embedded agent (default: the system's).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Serve on this listener instead of binding `webui.listen`.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Use this database instead of `database.url` (the configuration the web sees says so too).
    pub fn store_url(mut self, url: impl Into<String>) -> Self {
        self.config.database.url = url.into();
        self
    }

    /// Whether central runs its scheduler (default: yes). Tests that move a manual clock tick
    /// it themselves.
    pub fn scheduler(mut self, run: bool) -> Self {
        self.scheduler = run;
        self
    }

    /// Whether central serves HTTP (default: yes). Without it there is no listener, no chat
    /// outbox worker and no embedded agent: the engine alone (store, workflow, scheduler), for
    /// tests of what lies below the web.
    pub fn web(mut self, serve: bool) -> Self {
        self.web = serve;
        self
    }

    /// Accept `public_key` as the embedded agent of `cluster` on the session routes, for an
    /// agent this process runs itself with that key (as `agent.embedded` does with a key it
    /// makes). Central runs no agent for it.
    pub fn embedded_agent_key(mut self, cluster: &str, public_key: ed25519_dalek::VerifyingKey) -> Self {
        self.embedded_agent_key = Some((cluster.to_owned(), public_key));
        self
    }

    /// When `webui.baseUrl` is left at its default, make it the address central is bound to (so
    /// links and the origin browsers post from point at this server). `janus serve` does not.
    pub fn base_url_from_listener(mut self) -> Self {
        self.base_url_from_listener = true;
        self
    }

    /// Opens and migrates the database, derives the policy from the configuration, builds the
    /// workflow and the web state, starts the embedded agent when `agent.embedded` is set, the
    /// scheduler unless turned off, and serves.
    pub async fn start(self) -> Result<Central, CentralError> {
        let CentralBuilder {
            mut config,
            clock,
            listener,
            scheduler,
            web,
            base_url_from_listener,
            embedded_agent_key,
        } = self;
        if config.auth.mode == AuthMode::Local && config.janus.admin_emails.is_empty() {
            // The local admin must be an admin; without configured admins it is admin@localhost.
            config.janus.admin_emails = vec![janus_web::auth::local::admin_email(&config).to_string()];
        }
        let store = open_store(&config.database.url).await?;
        let workflow = Workflow::new(store.clone(), Policy::from_config(&config), clock);

        let (stop, stopped) = watch::channel(false);
        let scheduler =
            scheduler.then(|| tokio::spawn(Scheduler::new(workflow.clone()).run(until(&stopped))));
        let (stop_server, server_stopped) = watch::channel(false);
        let (stop_agent, agent_stopped) = watch::channel(false);
        if !web {
            let state = AppState::new(workflow.clone(), config);
            return Ok(Central {
                address: None,
                workflow,
                state,
                store,
                embedded_agent: None,
                stop,
                stop_server,
                stop_agent,
                server: None,
                scheduler,
                agent_task: None,
            });
        }

        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(&config.webui.listen)
                .await
                .map_err(|source| CentralError::Listen {
                    address: config.webui.listen.clone(),
                    source,
                })?,
        };
        let address = listener.local_addr().map_err(|source| CentralError::Listen {
            address: config.webui.listen.clone(),
            source,
        })?;
        let url = janus_web::own_url(address);
        if base_url_from_listener && config.webui.base_url == WebUiConfig::default().base_url {
            config.webui.base_url = url.clone();
        }

        let mut state = AppState::new(workflow.clone(), config.clone());
        if let Some((cluster, public_key)) = embedded_agent_key {
            state = state.with_embedded_agent(&cluster, public_key);
        }
        let embedded = if config.agent.embedded {
            embedded_agent(&config, &mut state, &workflow, &url).await
        } else {
            None
        };
        let agent_task = embedded.clone().map(|agent| {
            let (everything, agent_only) = (until(&stopped), until(&agent_stopped));
            tokio::spawn(async move {
                agent
                    .run(async move {
                        tokio::select! {
                            () = everything => {}
                            () = agent_only => {}
                        }
                    })
                    .await;
            })
        });
        let shutdown = {
            let (everything, server_only) = (until(&stopped), until(&server_stopped));
            async move {
                tokio::select! {
                    () = everything => {}
                    () = server_only => {}
                }
            }
        };
        let server = tokio::spawn(janus_web::serve(listener, state.clone(), shutdown));
        tracing::info!(%address, database = %redact_url(&config.database.url), clusters = config.clusters.len(), "janus central listening");
        Ok(Central {
            address: Some(address),
            workflow,
            state,
            store,
            embedded_agent: embedded,
            stop,
            stop_server,
            stop_agent,
            server: Some(server),
            scheduler,
            agent_task,
        })
    }
}

/// A running central: where it listens and what it runs. [`Central::shutdown`] stops it.
#[derive(Debug)]
pub struct Central {
    /// The bound address (`None` without the web: [`CentralBuilder::web`]).
    pub address: Option<SocketAddr>,
    pub workflow: Workflow,
    /// The web state (its `config` is the configuration central runs with).
    pub state: AppState,
    pub store: Store,
    /// The embedded agent, when `agent.embedded` is set and it could be built.
    pub embedded_agent: Option<janus_agent::Agent>,
    stop: watch::Sender<bool>,
    stop_server: watch::Sender<bool>,
    stop_agent: watch::Sender<bool>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    scheduler: Option<JoinHandle<()>>,
    agent_task: Option<JoinHandle<()>>,
}

impl Central {
    /// Central as `config` describes it, on the system clock, listening on `webui.listen`.
    pub fn builder(config: Config) -> CentralBuilder {
        CentralBuilder {
            config,
            clock: Arc::new(SystemClock),
            listener: None,
            scheduler: true,
            web: true,
            base_url_from_listener: false,
            embedded_agent_key: None,
        }
    }

    /// Where this process reaches its own server: `http://` + the bound address (loopback when
    /// bound to all addresses); `None` without the web.
    pub fn url(&self) -> Option<String> {
        self.address.map(janus_web::own_url)
    }

    /// The configuration central runs with.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// Stops the web server only (the workflow, the scheduler and the embedded agent go on):
    /// agents find central unreachable.
    pub fn stop_serving(&self) {
        let _ = self.stop_server.send(true);
    }

    /// Stops the embedded agent only and waits until it has stopped.
    pub async fn stop_embedded_agent(&mut self) {
        let _ = self.stop_agent.send(true);
        if let Some(task) = self.agent_task.take() {
            let _ = task.await;
        }
    }

    /// Stops the embedded agent (first, while the server it talks to still answers), then
    /// serving (open long-polls return at once) and the scheduler; waits for them and closes
    /// the database.
    pub async fn shutdown(mut self) -> Result<(), CentralError> {
        self.stop_embedded_agent().await;
        let _ = self.stop.send(true);
        let served = match self.server.take() {
            Some(server) => server.await.map_err(CentralError::Task),
            None => Ok(Ok(())),
        };
        if let Some(scheduler) = self.scheduler.take() {
            let _ = scheduler.await;
        }
        self.store.close().await;
        served?.map_err(CentralError::Serve)
    }
}

/// Opens and migrates the database at `url`.
async fn open_store(url: &str) -> Result<Store, CentralError> {
    let store = Store::connect(url).await.map_err(|source| CentralError::Open {
        url: redact_url(url),
        source,
    })?;
    store.migrate().await.map_err(CentralError::Migrate)?;
    Ok(store)
}

/// The embedded agent of `agent.clusterName`: its work goes straight to the workflow; terminal
/// sessions go through this server's own session routes on loopback (`url`), signed with a key
/// pair made now and held in memory only; the server accepts its public key for that cluster on
/// those routes alone. A failure is logged and central runs without it, as before.
async fn embedded_agent(
    config: &Config,
    state: &mut AppState,
    workflow: &Workflow,
    url: &str,
) -> Option<janus_agent::Agent> {
    let identity = janus_agent::EmbeddedIdentity::generate();
    *state = state
        .clone()
        .with_embedded_agent(config.agent.cluster_name.trim(), identity.public_key());
    tracing::info!(cluster = %config.agent.cluster_name, "starting the embedded agent");
    match crate::embedded::embedded_agent(&config.agent, workflow.clone(), url, identity).await {
        Ok(agent) => Some(agent),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "the embedded agent stopped");
            None
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
fn until(stop: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut stop = stop.clone();
    async move {
        let _ = stop.wait_for(|stop| *stop).await;
    }
}
