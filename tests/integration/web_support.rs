//! [`WebApp`]: central's web server on 127.0.0.1 port 0 with a chosen sign-in configuration, on
//! either backend, with people, sessions and API tokens for the web suites (`web_auth`, `api`,
//! `authz_matrix`, `web_links`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use janus_core::accounts::{Accounts, ClientInfo};
use janus_core::clock::{Clock, ManualClock};
use janus_core::config::Config;
use janus_core::domain::{AccessRequest, ClusterPolicy, Limits, Policy, RequestState};
use janus_core::queue::WorkOutcome;
use janus_core::store::Store;
use janus_core::workflow::Workflow;
use janus_fixtures::browser::Browser;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{Backend, Database, draft, install_crypto, person};

pub const ALICE: &str = "alice@example.com";
pub const MALLORY: &str = "mallory@example.com";
pub const BOB: &str = "bob@example.com";
pub const ERIN: &str = "erin@example.com";
pub const ADMIN: &str = "admin@example.com";
/// Approves `prod` through the `prod-approvers` group only.
pub const GRACE: &str = "grace@example.com";

/// Runs a web test body on SQLite and PostgreSQL: `both_backends_web!(name_of_async_fn_taking_WebApp);`
/// (default configuration: local sign-in, `sso` links).
macro_rules! both_backends_web {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = crate::web_support::WebApp::start_on(
                        crate::support::Backend::Sqlite, "{}", janus_core::clock::ManualClock::at_epoch(),
                    ).await.unwrap();
                    super::$test(&app).await;
                    app.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some(app) = crate::web_support::WebApp::start_on(
                        crate::support::Backend::Postgres, "{}", janus_core::clock::ManualClock::at_epoch(),
                    ).await else {
                        return;
                    };
                    super::$test(&app).await;
                    app.finish().await;
                }
            }
        )*
    };
}
pub(crate) use both_backends_web;

/// `prod` (approver bob, group `prod-approvers`) and `staging` (approver erin); admin@example.com
/// is the admin; limits out of the way.
pub fn web_policy() -> Policy {
    let cluster = |approver: &str| ClusterPolicy {
        approvers: BTreeSet::from([person(approver)]),
        approvals_required: 1,
    };
    Policy {
        admins: BTreeSet::from([person(ADMIN)]),
        clusters: BTreeMap::from([
            ("prod".to_owned(), cluster(BOB)),
            ("staging".to_owned(), cluster(ERIN)),
        ]),
        approver_groups: BTreeMap::from([("prod".to_owned(), BTreeSet::from(["prod-approvers".to_owned()]))]),
        limits: Limits {
            requests_per_hour: 10_000,
            live_requests_per_user: 10_000,
        },
        ..Policy::default()
    }
}

/// Central's web server with the given configuration (its `webui.baseUrl` is set to where it
/// listens).
pub struct WebApp {
    pub base: String,
    pub workflow: Workflow,
    pub accounts: Accounts,
    pub clock: ManualClock,
    pub store: Store,
    pub config: Config,
    stop: Option<oneshot::Sender<()>>,
    database: Option<Database>,
}

impl WebApp {
    /// On SQLite, with a configuration from YAML (`webui.baseUrl` is filled in).
    pub async fn start(yaml: &str) -> WebApp {
        Self::start_on(Backend::Sqlite, yaml, ManualClock::at_epoch())
            .await
            .expect("SQLite is always available")
    }

    /// `None` when the backend is PostgreSQL and no server answers (and none is required).
    pub async fn start_on(backend: Backend, yaml: &str, clock: ManualClock) -> Option<WebApp> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_with(backend, listener, yaml, clock).await
    }

    /// Serves on `listener` (bound beforehand, when its address must be known earlier — e.g. to
    /// register the OAuth callback at a provider).
    pub async fn start_with(
        backend: Backend,
        listener: TcpListener,
        yaml: &str,
        clock: ManualClock,
    ) -> Option<WebApp> {
        install_crypto();
        let (database, url) = Database::create(backend).await?;
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let workflow = Workflow::new(
            store.clone(),
            web_policy(),
            Arc::new(clock.clone()) as Arc<dyn Clock>,
        );
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = Config::load(Some(yaml), &[], &|_| Err(std::io::Error::other("no files"))).unwrap();
        config.webui.base_url = base.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let state = janus_web::AppState::new(workflow.clone(), config.clone());
        let accounts = state.accounts.clone();
        tokio::spawn(janus_web::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Some(WebApp {
            base,
            workflow,
            accounts,
            clock,
            store,
            config,
            stop: Some(stop),
            database: Some(database),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.store.close().await;
        if let Some(database) = self.database.take() {
            database.remove().await;
        }
    }

    /// A browser signed in as `email` (a session made directly, as a sign-in would).
    pub async fn browser_as(&self, email: &str, groups: &[&str]) -> Browser {
        let browser = Browser::new();
        let secret = self.session_secret(email, groups).await;
        browser.set_cookie(&self.base, "janus_session", Some(&secret));
        browser
    }

    /// A new session's cookie secret.
    pub async fn session_secret(&self, email: &str, groups: &[&str]) -> String {
        let groups: Vec<String> = groups.iter().map(|group| (*group).to_owned()).collect();
        let (secret, _) = self
            .accounts
            .sign_in(&person(email), &groups, "test", &ClientInfo::default(), None)
            .await
            .unwrap();
        secret.expose().to_owned()
    }

    /// A personal API token of `email`.
    pub async fn token(&self, email: &str) -> String {
        let (secret, _) = self
            .accounts
            .create_api_token(&person(email), "test", None)
            .await
            .unwrap();
        secret.expose().to_owned()
    }

    /// Submits through the workflow (origin: web) on `cluster`.
    pub async fn submit(&self, requester: &str, cluster: &str, namespaces: &[&str]) -> AccessRequest {
        self.workflow
            .submit(&person(requester), draft(cluster, namespaces))
            .await
            .unwrap()
    }

    /// Submits, approves (by the cluster's approver) and completes the grant: Active.
    pub async fn active(&self, requester: &str, cluster: &str, namespaces: &[&str]) -> AccessRequest {
        let request = self.submit(requester, cluster, namespaces).await;
        let approver = if cluster == "prod" { BOB } else { ERIN };
        self.workflow
            .execute(
                &request.id,
                None,
                janus_core::domain::Command::Approve {
                    ttl_seconds: None,
                    reason: None,
                },
                &janus_core::domain::Actor::Person(person(approver)),
            )
            .await
            .unwrap();
        self.grant(&request).await
    }

    /// Completes the queued grant of an Approved request as its cluster's agent.
    pub async fn grant(&self, request: &AccessRequest) -> AccessRequest {
        loop {
            let now = self.clock.now();
            let item = self
                .store
                .claim_work(&request.cluster, now, now + chrono::TimeDelta::seconds(60))
                .await
                .unwrap()
                .expect("grant work queued");
            self.workflow
                .complete_work(
                    &request.cluster,
                    item.id,
                    &item.lease_token,
                    WorkOutcome::Succeeded,
                )
                .await
                .unwrap();
            if item.request_id == request.id {
                break;
            }
        }
        let request = self.workflow.get(&request.id).await.unwrap();
        assert_eq!(request.state, RequestState::Active);
        request
    }

    /// Audit events with `action`, as (actor, details).
    pub async fn audit(&self, action: &str) -> Vec<(String, serde_json::Value)> {
        let events = self.store.audit_page(0, 100_000).await.unwrap();
        events
            .into_iter()
            .filter(|event| event.action == action)
            .map(|event| (event.actor, event.details))
            .collect()
    }

    /// Codes of `auth.refused` events.
    pub async fn refusals(&self) -> Vec<String> {
        self.audit("auth.refused")
            .await
            .into_iter()
            .map(|(_, details)| details["code"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// A JSON API call with a bearer token (or none).
pub async fn api(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}
