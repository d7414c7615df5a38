//! [`TestApp`]: central started by [`janus::central::Central::builder`] — as `janus serve` starts
//! it — from the YAML a story shows, on a fresh database, driven by a manual clock; with the
//! parts a story opts into (an agent and a fake cluster, fake Slack, fake Discord).

use std::sync::Arc;
use std::time::Duration;

use janus::central::Central;
use janus_core::accounts::Accounts;
use janus_core::clock::{Clock, ManualClock};
use janus_core::config::Config;
use janus_core::domain::{AccessRequest, Actor, Command, CredentialsStatus, RequestState};
use janus_core::queue::{WorkItem, WorkOutcome};
use janus_core::store::Store;
use janus_core::workflow::Workflow;
use serde_json::Value;
use tokio::net::TcpListener;

use super::backend::{Backend, Database, install_crypto};
use super::cluster::{AgentPart, ClusterSpec};
use super::discord::DiscordPart;
use super::slack::SlackPart;
use super::{draft, person};

/// The configuration most stories share: `prod` (approvers bob, carol and dave; one approval)
/// and `quorum` (the same approvers, two approvals); admin@example.com is an admin; limits out
/// of the way.
pub const STANDARD: &str = "\
janus:
  adminEmails: [admin@example.com]
  limits: { requestsPerHour: 1000, liveRequestsPerUser: 100 }
clusters:
  - name: prod
    approvers: [bob@example.com, carol@example.com, dave@example.com]
  - name: quorum
    approvers: [bob@example.com, carol@example.com, dave@example.com]
    approvalsRequired: 2
";

/// Parses `yaml` with `env` overrides, as `janus serve` reads its file and environment.
pub fn parse_config(yaml: &str, env: &[(String, String)]) -> Config {
    Config::load(Some(yaml), env, &|_| Err(std::io::Error::other("no files")))
        .unwrap_or_else(|errors| panic!("the test's configuration is invalid:\n{errors}\n{yaml}"))
}

/// What a [`TestApp`] is made of; see [`TestApp::builder`].
pub struct TestAppBuilder {
    backend: Backend,
    yaml: String,
    env: Vec<(String, String)>,
    clock: ManualClock,
    listener: Option<TcpListener>,
    web: bool,
    cluster: Option<ClusterSpec>,
    slack: bool,
    discord: bool,
    embedded_agent_key: Option<ed25519_dalek::VerifyingKey>,
}

impl TestAppBuilder {
    /// SQLite (the default) or PostgreSQL.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Central's configuration file (default: [`STANDARD`]). The policy is derived from it.
    pub fn config(mut self, yaml: impl Into<String>) -> Self {
        self.yaml = yaml.into();
        self
    }

    /// The clock of central, the agent and the fakes (default: a manual clock at the epoch).
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = clock;
        self
    }

    /// Serve on `listener` (bound beforehand when its address must be known earlier — e.g. to
    /// register the OAuth callback at a provider). Default: 127.0.0.1 port 0.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// The engine alone (no HTTP, no chat outbox worker): for stories below the web.
    pub fn engine_only(mut self) -> Self {
        self.web = false;
        self
    }

    /// A real agent for `prod` (enrolled with a join token, signed requests over HTTP) and the
    /// fake Kubernetes API server holding the seed's objects and RBAC.
    pub fn agent(self) -> Self {
        self.agent_with_rbac(&super::cluster::seed_rbac(), super::cluster::AGENT_USER)
    }

    /// Like [`TestAppBuilder::agent`], but the fake cluster holds `rbac` instead of the seed's
    /// RBAC objects, and the agent authenticates to it as `agent_user`
    /// (`system:serviceaccount:<namespace>:<name>`, with that account's groups).
    pub fn agent_with_rbac(mut self, rbac: &[Value], agent_user: &str) -> Self {
        self.cluster = Some(ClusterSpec {
            rbac: rbac.to_vec(),
            agent_user: agent_user.to_owned(),
            embedded: false,
        });
        self
    }

    /// `prod` served by central's embedded agent (`agent.embedded: true`), against the fake
    /// Kubernetes API server: no join token, no key file.
    pub fn embedded_agent(mut self) -> Self {
        self.cluster = Some(ClusterSpec {
            rbac: super::cluster::seed_rbac(),
            agent_user: super::cluster::AGENT_USER.to_owned(),
            embedded: true,
        });
        self
    }

    /// Central accepts `public_key` as `prod`'s embedded agent on the session routes (the story
    /// signs as that agent itself).
    pub fn embedded_agent_key(mut self, public_key: ed25519_dalek::VerifyingKey) -> Self {
        self.embedded_agent_key = Some(public_key);
        self
    }

    /// The fake Slack Web API (`fixtures/`); the configuration must enable `slack:`.
    pub fn slack(mut self) -> Self {
        self.slack = true;
        self
    }

    /// The fake Discord REST API (`fixtures/`); the configuration must enable `discord:`.
    pub fn discord(mut self) -> Self {
        self.discord = true;
        self
    }

    /// Starts everything; the backend must be available.
    pub async fn start(self) -> TestApp {
        let backend = self.backend;
        self.try_start()
            .await
            .unwrap_or_else(|| panic!("{backend:?} is not available"))
    }

    /// Starts everything, or `None` when the backend is PostgreSQL and no server answers (and
    /// none is required).
    pub async fn try_start(mut self) -> Option<TestApp> {
        install_crypto();
        let (database, database_url) = Database::create(self.backend).await?;
        let listener = match (self.web, self.listener.take()) {
            (false, _) => None,
            (true, Some(listener)) => Some(listener),
            (true, None) => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        };
        let base = listener
            .as_ref()
            .map(|listener| janus_web::own_url(listener.local_addr().unwrap()))
            .unwrap_or_default();
        let slack = if self.slack {
            Some(SlackPart::start(&base, &self.clock, &mut self.env).await)
        } else {
            None
        };
        let discord = if self.discord {
            Some(DiscordPart::start(&base, &self.clock, &mut self.env).await)
        } else {
            None
        };
        let cluster = match &self.cluster {
            Some(spec) => Some(spec.start_cluster(&self.clock, &mut self.env).await),
            None => None,
        };
        let config = parse_config(&self.yaml, &self.env);
        let mut builder = Central::builder(config)
            .clock(Arc::new(self.clock.clone()) as Arc<dyn Clock>)
            .store_url(database_url.clone())
            .scheduler(false)
            .base_url_from_listener()
            .web(self.web);
        if let Some(listener) = listener {
            builder = builder.listener(listener);
        }
        if let Some(public_key) = self.embedded_agent_key {
            builder = builder.embedded_agent_key("prod", public_key);
        }
        let central = builder.start().await.unwrap();
        let mut app = TestApp {
            base,
            workflow: central.workflow.clone(),
            store: central.store.clone(),
            accounts: central.state.accounts.clone(),
            config: central.config().clone(),
            clock: self.clock,
            database_url,
            central: Some(central),
            agent: None,
            slack,
            discord,
            database: Some(database),
        };
        if let (Some(spec), Some(cluster)) = (self.cluster, cluster) {
            app.agent = Some(AgentPart::start(spec, cluster, &mut app).await);
        }
        Some(app)
    }
}

/// Central and the parts a story asked for. Stop it with [`TestApp::finish`].
pub struct TestApp {
    /// Where central serves (`http://127.0.0.1:<port>`; empty for the engine alone).
    pub base: String,
    pub workflow: Workflow,
    pub store: Store,
    pub accounts: Accounts,
    /// The configuration central runs with (`webui.baseUrl` is `base` unless the YAML says).
    pub config: Config,
    pub clock: ManualClock,
    /// The database's URL, for stories that act on it from outside like another process.
    pub database_url: String,
    central: Option<Central>,
    pub(super) agent: Option<AgentPart>,
    pub(super) slack: Option<SlackPart>,
    pub(super) discord: Option<DiscordPart>,
    database: Option<Database>,
}

impl TestApp {
    /// SQLite, [`STANDARD`], a manual clock at the epoch, HTTP on 127.0.0.1 port 0, no parts.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            backend: Backend::Sqlite,
            yaml: STANDARD.to_owned(),
            env: Vec::new(),
            clock: ManualClock::at_epoch(),
            listener: None,
            web: true,
            cluster: None,
            slack: false,
            discord: false,
            embedded_agent_key: None,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the web server only: agents find central unreachable.
    pub fn stop_serving(&self) {
        if let Some(central) = &self.central {
            central.stop_serving();
        }
    }

    pub(super) fn central_mut(&mut self) -> &mut Central {
        self.central.as_mut().expect("central runs until finish")
    }

    /// Another central on the same database (own pool, same clock, same configuration): a
    /// second replica's workflow.
    pub async fn replica(&self) -> Workflow {
        self.replica_with(self.config.clone()).await
    }

    /// A second replica and the handle to its own pool (to step down or close it).
    pub async fn replica_with_store(&self) -> (Workflow, Store) {
        let central = self.replica_central(self.config.clone()).await;
        (central.workflow.clone(), central.store.clone())
    }

    /// A second replica on the same database running `config`.
    pub async fn replica_with(&self, config: Config) -> Workflow {
        self.replica_central(config).await.workflow.clone()
    }

    async fn replica_central(&self, config: Config) -> Central {
        Central::builder(config)
            .clock(Arc::new(self.clock.clone()) as Arc<dyn Clock>)
            .store_url(self.database_url.clone())
            .scheduler(false)
            .web(false)
            .start()
            .await
            .unwrap()
    }

    pub async fn finish(mut self) {
        self.stop_agent().await;
        if let Some(central) = self.central.take() {
            central.shutdown().await.unwrap();
        }
        if let Some(database) = self.database.take() {
            database.remove().await;
        }
    }

    /// `requester` submits (origin: web) for `namespaces` of `prod`.
    pub async fn submit(&self, requester: &str, namespaces: &[&str]) -> AccessRequest {
        self.submit_on(requester, "prod", namespaces).await
    }

    /// `requester` submits (origin: web) for `namespaces` of `cluster`.
    pub async fn submit_on(&self, requester: &str, cluster: &str, namespaces: &[&str]) -> AccessRequest {
        self.workflow
            .submit(&person(requester), draft(cluster, namespaces))
            .await
            .expect("submit")
    }

    /// `actor` runs `command` on the request as it is now; it must be accepted.
    pub async fn act(&self, request: &AccessRequest, command: Command, actor: &str) -> AccessRequest {
        self.workflow
            .execute(&request.id, None, command, &Actor::Person(person(actor)))
            .await
            .unwrap()
    }

    /// `approver` approves the request (with the TTL it asked for, no reason); it must be
    /// accepted.
    pub async fn approve(&self, request: &AccessRequest, approver: &str) -> AccessRequest {
        let command = Command::Approve {
            ttl_seconds: None,
            reason: None,
        };
        self.act(request, command, approver).await
    }

    /// An Active request of `requester` in `namespaces` of `prod`, approved by bob: granted by
    /// the agent when the story has one (its tokens in the agent), else completed here as the
    /// cluster's agent would.
    pub async fn active(&self, requester: &str, namespaces: &[&str]) -> AccessRequest {
        self.active_on(requester, "prod", namespaces).await
    }

    /// Like [`TestApp::active`] on `cluster`, approved by its first listed approver.
    pub async fn active_on(&self, requester: &str, cluster: &str, namespaces: &[&str]) -> AccessRequest {
        let request = self.submit_on(requester, cluster, namespaces).await;
        let approver = self
            .config
            .clusters
            .iter()
            .find(|configured| configured.name == cluster)
            .and_then(|configured| configured.approvers.first())
            .expect("the cluster has an approver")
            .clone();
        self.approve(&request, &approver).await;
        if self.agent.is_some() {
            return self
                .wait_until(&request, |current| {
                    current.state == RequestState::Active && current.credentials == CredentialsStatus::Live
                })
                .await;
        }
        self.grant(&request).await
    }

    /// Completes the queued work of `request`'s cluster, as its agent would, up to and including
    /// the grant of `request` (work queued before it — cleanups of earlier requests — too).
    pub async fn grant(&self, request: &AccessRequest) -> AccessRequest {
        while self.grant_next(&request.cluster).await.request_id != request.id {}
        let request = self.workflow.get(&request.id).await.unwrap();
        assert_eq!(request.state, RequestState::Active);
        request
    }

    /// Claims the next work item of `cluster` (it must exist) and reports success.
    pub async fn grant_next(&self, cluster: &str) -> WorkItem {
        let item = self.claim(cluster).await.expect("work to claim");
        self.workflow
            .complete_work(cluster, item.id, &item.lease_token, WorkOutcome::Succeeded)
            .await
            .expect("complete");
        item
    }

    /// Claims without waiting.
    pub async fn claim(&self, cluster: &str) -> Option<WorkItem> {
        let now = self.clock.now();
        self.store
            .claim_work(cluster, now, now + chrono::TimeDelta::seconds(60))
            .await
            .expect("claim")
    }

    /// Waits (on change notifications, not time) until `done` holds for the request; fails
    /// after 20 s.
    pub async fn wait_until(
        &self,
        request: &AccessRequest,
        done: impl Fn(&AccessRequest) -> bool,
    ) -> AccessRequest {
        self.settle(request, done, Duration::from_secs(20))
            .await
            .unwrap_or_else(|current| panic!("the request never reached the expected state: {current:?}"))
    }

    /// Waits (on change notifications) until `done` holds; `Err(current)` after `limit`.
    pub async fn settle(
        &self,
        request: &AccessRequest,
        done: impl Fn(&AccessRequest) -> bool,
        limit: Duration,
    ) -> Result<AccessRequest, AccessRequest> {
        let mut changes = self.workflow.subscribe();
        let wait = async {
            loop {
                let current = self.workflow.get(&request.id).await.unwrap();
                if done(&current) {
                    return current;
                }
                let _ = changes.recv().await;
            }
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(settled) => Ok(settled),
            Err(_) => Err(self.workflow.get(&request.id).await.unwrap()),
        }
    }

    /// Every audit event of `action`, as (actor, details), oldest first.
    pub async fn audit(&self, action: &str) -> Vec<(String, Value)> {
        self.store
            .audit_page(0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|event| event.action == action)
            .map(|event| (event.actor, event.details))
            .collect()
    }

    /// The details of every audit event of `action`, oldest first.
    pub async fn audit_details(&self, action: &str) -> Vec<Value> {
        self.audit(action)
            .await
            .into_iter()
            .map(|(_, details)| details)
            .collect()
    }

    /// Every request in the store (the default listing).
    pub async fn requests(&self) -> Vec<AccessRequest> {
        self.store.list_requests(&Default::default()).await.unwrap()
    }

    /// How many audit events of `action` there are.
    pub async fn audited(&self, action: &str) -> usize {
        self.audit(action).await.len()
    }

    /// The `code` of every audit event of `action`.
    pub async fn audit_codes(&self, action: &str) -> Vec<String> {
        self.audit_details(action)
            .await
            .into_iter()
            .map(|details| details["code"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Codes of `auth.refused` events.
    pub async fn refusals(&self) -> Vec<String> {
        self.audit_codes("auth.refused").await
    }

    /// The `reason` (else `code`) of every audit event of `action`.
    pub async fn audit_reasons(&self, action: &str) -> Vec<String> {
        self.audit_details(action)
            .await
            .into_iter()
            .map(|details| {
                details["reason"]
                    .as_str()
                    .or(details["code"].as_str())
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }

    /// Each of `reasons` is among the reasons (or codes) of the audit events of `action`.
    pub async fn assert_audited_reasons(&self, action: &str, reasons: &[&str]) {
        let audited = self.audit_reasons(action).await;
        for reason in reasons {
            assert!(
                audited.iter().any(|candidate| candidate == reason),
                "{reason} not audited: {audited:?}"
            );
        }
    }

    /// The actions of `request`'s audit events, oldest first.
    pub async fn audit_actions(&self, request: &AccessRequest) -> Vec<String> {
        self.store
            .audit_for_request(&request.id)
            .await
            .unwrap()
            .into_iter()
            .map(|event| event.action)
            .collect()
    }

    /// Verifies the whole chain through the store API.
    pub async fn verify_chain(&self) -> Result<u64, janus_core::audit::ChainBreak> {
        let (head_seq, head_hash) = self.store.audit_head().await.unwrap();
        let mut verifier = janus_core::audit::ChainVerifier::default();
        for record in self.store.audit_page(0, i64::MAX).await.unwrap() {
            verifier.push(&record)?;
        }
        verifier.finish(head_seq, &head_hash)
    }
}

/// `base` with `extra` laid over it (both YAML mappings; nested mappings are merged, anything
/// else in `extra` replaces what `base` has): a story's additions to a shared configuration.
pub fn merge_yaml(base: &str, extra: &str) -> String {
    fn merge(base: &mut serde_norway::Value, extra: serde_norway::Value) {
        match (base, extra) {
            (serde_norway::Value::Mapping(base), serde_norway::Value::Mapping(extra)) => {
                for (key, value) in extra {
                    match base.get_mut(&key) {
                        Some(existing) => merge(existing, value),
                        None => {
                            base.insert(key, value);
                        }
                    }
                }
            }
            (base, extra) => *base = extra,
        }
    }
    let mut merged: serde_norway::Value = serde_norway::from_str(base).unwrap();
    let extra: serde_norway::Value = serde_norway::from_str(extra).unwrap();
    if !extra.is_null() {
        merge(&mut merged, extra);
    }
    serde_norway::to_string(&merged).unwrap()
}
