//! End to end through real HTTP: central (axum on port 0) ⇄ agent (long-poll, signed
//! requests) ⇄ the fake Kubernetes API server with real RBAC. A grant's token may exec in
//! its namespaces and nowhere else, and everything is gone at expiry, revoke or withdraw.

use std::sync::Arc;
use std::time::Duration;

use janus_agent::{Agent, EmbeddedIdentity, HttpCentral, build_kube_config};
use janus_core::clock::{Clock, ManualClock};
use janus_core::config::AgentConfig;
use janus_core::domain::{AccessRequest, Actor, Command, CredentialsStatus, RequestState};
use janus_core::scheduler::Scheduler;
use janus_fixtures::kube::{FakeKube, RequestMatcher};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use serde::Deserialize as _;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::agent_api::{Central, enrollment_config};
use crate::support::{TempDir, draft, person};

const SEED: &str = include_str!("../../fixtures/kube/example-seed.yaml");
pub const AGENT_KUBE_TOKEN: &str = "agent-kube-token";
/// The Kubernetes user the agent is in the seed (and in the chart's agent mode).
pub const AGENT_USER: &str = "system:serviceaccount:janus:janus-agent";

/// The seed's objects as JSON.
fn seed_objects() -> Vec<serde_json::Value> {
    serde_norway::Deserializer::from_str(SEED)
        .map(|document| serde_json::Value::deserialize(document).unwrap())
        .filter(|object| !object.is_null())
        .collect()
}

/// RBAC objects and ServiceAccounts: what decides who may do what.
pub fn is_rbac(object: &serde_json::Value) -> bool {
    matches!(
        object["kind"].as_str(),
        Some("ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding" | "ServiceAccount")
    )
}

/// The seed's own RBAC: `janus-exec`, the agent's ClusterRole, binding and ServiceAccount.
pub fn seed_rbac() -> Vec<serde_json::Value> {
    seed_objects().into_iter().filter(is_rbac).collect()
}

pub struct TestApp {
    pub central: Central,
    pub kube: FakeKube,
    pub agent: Agent,
    pub config: AgentConfig,
    stop_agent: Option<watch::Sender<bool>>,
    agent_task: Option<tokio::task::JoinHandle<()>>,
    _dir: TempDir,
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(&seed_rbac(), AGENT_USER).await
    }

    /// Like [`TestApp::start`], but the fake cluster holds `rbac` (ClusterRoles, bindings,
    /// ServiceAccounts…) instead of the seed's own RBAC objects, and the agent authenticates to
    /// it as `agent_user` (`system:serviceaccount:<namespace>:<name>`, with that account's groups).
    pub async fn start_with(rbac: &[serde_json::Value], agent_user: &str) -> TestApp {
        Self::start_full(enrollment_config(), rbac, agent_user).await
    }

    /// The standard app, with central running `config`.
    pub async fn start_with_config(config: janus_core::config::Config) -> TestApp {
        Self::start_full(config, &seed_rbac(), AGENT_USER).await
    }

    async fn start_full(
        config: janus_core::config::Config,
        rbac: &[serde_json::Value],
        agent_user: &str,
    ) -> TestApp {
        let central = Central::start(config).await;
        let kube = fake_cluster(Arc::new(central.clock.clone()), rbac, agent_user).await;
        let dir = TempDir::new();
        let join_token = central
            .workflow
            .create_join_token("prod", "admin@example.com", Duration::from_secs(600))
            .await
            .unwrap();
        std::fs::write(dir.path().join("join-token"), &join_token).unwrap();
        std::fs::write(dir.path().join("kube-token"), AGENT_KUBE_TOKEN).unwrap();
        let config = AgentConfig {
            central_url: central.base.clone(),
            cluster_name: "prod".into(),
            join_token_file: dir.path().join("join-token").display().to_string(),
            key_file: dir.path().join("agent.key").display().to_string(),
            api_server_url: kube.url(),
            token_file: dir.path().join("kube-token").display().to_string(),
            ..AgentConfig::default()
        };
        let agent = new_agent(&config, &central.clock).await;
        let mut app = TestApp {
            central,
            kube,
            agent,
            config,
            stop_agent: None,
            agent_task: None,
            _dir: dir,
        };
        app.run_agent();
        app
    }

    /// Like `janus serve` with `agent.embedded: true` for `prod`: the agent is built by
    /// [`janus::embedded::embedded_agent`] (work through the workflow, sessions through central's
    /// session routes with a key made in memory), and central knows only that key's public half.
    /// There is no join token and no key file.
    pub async fn start_embedded(config: janus_core::config::Config) -> TestApp {
        let identity = EmbeddedIdentity::generate();
        let central = Central::start_with_embedded_agent(config, "prod", identity.public_key()).await;
        let kube = fake_cluster(Arc::new(central.clock.clone()), &seed_rbac(), AGENT_USER).await;
        let dir = TempDir::new();
        std::fs::write(dir.path().join("kube-token"), AGENT_KUBE_TOKEN).unwrap();
        let config = AgentConfig {
            embedded: true,
            cluster_name: "prod".into(),
            api_server_url: kube.url(),
            token_file: dir.path().join("kube-token").display().to_string(),
            ..AgentConfig::default()
        };
        // `janus serve` passes `janus_web::own_url(listener address)`; here that is the base.
        let agent =
            janus::embedded::embedded_agent(&config, central.workflow.clone(), &central.base, identity)
                .await
                .unwrap();
        let mut app = TestApp {
            central,
            kube,
            agent,
            config,
            stop_agent: None,
            agent_task: None,
            _dir: dir,
        };
        app.run_agent();
        app
    }

    fn run_agent(&mut self) {
        let (stop, stopped) = watch::channel(false);
        let agent = self.agent.clone();
        self.agent_task = Some(tokio::spawn(async move {
            let mut stopped = stopped;
            agent
                .run(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await;
        }));
        self.stop_agent = Some(stop);
    }

    pub async fn stop_agent(&mut self) {
        if let Some(stop) = self.stop_agent.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.agent_task.take() {
            task.await.unwrap();
        }
    }

    /// A new agent process: same key file, same cluster, empty memory.
    pub async fn restart_agent(&mut self) {
        self.stop_agent().await;
        self.agent = new_agent(&self.config, &self.central.clock).await;
        self.run_agent();
    }

    pub async fn finish(mut self) {
        self.stop_agent().await;
        self.central.finish().await;
    }

    pub async fn submit(&self, requester: &str, namespaces: &[&str]) -> AccessRequest {
        self.central
            .workflow
            .submit(&person(requester), draft("prod", namespaces))
            .await
            .unwrap()
    }

    pub async fn act(&self, request: &AccessRequest, command: Command, actor: &str) -> AccessRequest {
        self.central
            .workflow
            .execute(&request.id, None, command, &Actor::Person(person(actor)))
            .await
            .unwrap()
    }

    /// Waits (on change notifications, not time) until `done` holds for the request.
    pub async fn wait_until(
        &self,
        request: &AccessRequest,
        done: impl Fn(&AccessRequest) -> bool,
    ) -> AccessRequest {
        let mut changes = self.central.workflow.subscribe();
        let wait = async {
            loop {
                let current = self.central.workflow.get(&request.id).await.unwrap();
                if done(&current) {
                    return current;
                }
                let _ = changes.recv().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("the request never reached the expected state")
    }

    pub async fn active(&self, requester: &str, namespaces: &[&str]) -> AccessRequest {
        let request = self.submit(requester, namespaces).await;
        self.act(
            &request,
            Command::Approve {
                ttl_seconds: None,
                reason: None,
            },
            "bob@example.com",
        )
        .await;
        self.wait_until(&request, |r| {
            r.state == RequestState::Active && r.credentials == CredentialsStatus::Live
        })
        .await
    }

    /// The token the fake issued for the request's ServiceAccount in `namespace` (newest).
    pub fn token(&self, request: &AccessRequest, namespace: &str) -> String {
        let account = format!("janus-{}", request.id);
        self.kube
            .issued_tokens()
            .into_iter()
            .filter(|issued| issued.namespace == namespace && issued.service_account == account)
            .max_by_key(|issued| issued.issued_at)
            .map(|issued| issued.token)
            .expect("a token was minted")
    }

    pub fn grant_objects(&self, request: &AccessRequest) -> usize {
        let name = format!("janus-{}", request.id);
        ["ServiceAccount", "RoleBinding"]
            .iter()
            .map(|kind| {
                self.kube
                    .objects(kind, None)
                    .iter()
                    .filter(|object| object["metadata"]["name"] == name)
                    .count()
            })
            .sum()
    }

    /// Runs `sh -c script` in the pod with `token`: Ok(stdout) or Err(HTTP status).
    pub async fn exec(&self, token: &str, namespace: &str, pod: &str, script: &str) -> Result<String, u16> {
        let mut config = kube::Config::new(self.kube.url().parse().unwrap());
        config.auth_info.token = Some(token.to_owned().into());
        let client = kube::Client::try_from(config).unwrap();
        let pods: Api<Pod> = Api::namespaced(client, namespace);
        let params = AttachParams::default().stdin(false).stdout(true).stderr(false);
        match pods.exec(pod, ["sh", "-c", script], &params).await {
            Ok(mut process) => {
                let mut output = String::new();
                process
                    .stdout()
                    .unwrap()
                    .read_to_string(&mut output)
                    .await
                    .unwrap();
                let _ = process.join().await;
                Ok(output)
            }
            Err(kube::Error::Api(status)) => Err(status.code),
            Err(kube::Error::UpgradeConnection(error)) => Err(upgrade_status(&error.to_string())),
            Err(other) => panic!("exec failed unexpectedly: {other}"),
        }
    }
}

fn upgrade_status(message: &str) -> u16 {
    ["401", "403", "404"]
        .iter()
        .find(|code| message.contains(*code))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The fake cluster on `clock`: the seed's objects with `rbac`, the agent's own token
/// as `agent_user`, and the pods the tests use.
pub async fn fake_cluster(clock: Arc<dyn Clock>, rbac: &[serde_json::Value], agent_user: &str) -> FakeKube {
    let kube = FakeKube::builder().clock(clock).start().await.unwrap();
    for object in seed_objects().into_iter().filter(|object| !is_rbac(object)) {
        kube.apply(object).unwrap();
    }
    for object in rbac {
        kube.apply(object.clone()).unwrap();
    }
    kube.add_namespace("search").unwrap();
    let mut groups = vec!["system:serviceaccounts".to_owned()];
    if let Some(account) = agent_user.strip_prefix("system:serviceaccount:")
        && let Some((namespace, _)) = account.split_once(':')
    {
        groups.push(format!("system:serviceaccounts:{namespace}"));
    }
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    kube.add_token(AGENT_KUBE_TOKEN, agent_user, &groups);
    for (namespace, pod) in [("payments", "web-1"), ("checkout", "cart-1")] {
        assert!(
            kube.object("Pod", Some(namespace), pod).is_some(),
            "seed has {namespace}/{pod}"
        );
    }
    kube.add_pod("search", "api-0", &["app"]).unwrap();
    kube
}

async fn new_agent(config: &AgentConfig, clock: &ManualClock) -> Agent {
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let central = HttpCentral::connect(config, clock.clone()).await.unwrap();
    // What `janus agent` builds: sessions use the same Kubernetes settings (no hand wiring).
    let kube_config = build_kube_config(config).await.unwrap();
    let config = AgentConfig {
        sweep_interval_seconds: 5,
        ..config.clone()
    };
    janus_agent::agent_with(&config, kube_config, Arc::new(central), clock).unwrap()
}

/// Asserts the grant works exactly where granted.
async fn assert_granted(app: &TestApp, request: &AccessRequest, granted: &[(&str, &str)]) {
    for (namespace, pod) in granted {
        let token = app.token(request, namespace);
        assert_eq!(
            app.exec(&token, namespace, pod, "echo ok").await,
            Ok("ok\n".to_owned()),
            "exec in {namespace}"
        );
        // Not elsewhere, and never secrets.
        assert_eq!(
            app.exec(&token, "search", "api-0", "echo ok").await,
            Err(403),
            "no exec in an ungranted namespace"
        );
        let secrets = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/namespaces/{namespace}/secrets",
                app.kube.url()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(secrets.status().as_u16(), 403, "no secrets");
    }
}

async fn assert_all_gone(app: &TestApp, request: &AccessRequest, namespaces: &[(&str, &str)]) {
    assert_eq!(
        app.grant_objects(request),
        0,
        "no ServiceAccount or RoleBinding left"
    );
    for (namespace, pod) in namespaces {
        let token = app.token(request, namespace);
        let status = app.exec(&token, namespace, pod, "echo ok").await;
        assert!(
            matches!(status, Err(401 | 403)),
            "the old token is refused: {status:?}"
        );
    }
}

const GRANTED: [(&str, &str); 2] = [("payments", "web-1"), ("checkout", "cart-1")];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_works_where_granted_and_is_gone_at_expiry() {
    let mut app = TestApp::start().await;
    let request = app.active("alice@example.com", &["payments", "checkout"]).await;
    assert_eq!(app.grant_objects(&request), 4);
    let account = app
        .kube
        .object(
            "ServiceAccount",
            Some("payments"),
            &format!("janus-{}", request.id),
        )
        .unwrap();
    assert_eq!(
        account["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "janus"
    );
    assert_eq!(
        account["metadata"]["labels"]["janus.dev/request"],
        request.id.to_string()
    );
    assert!(account["metadata"]["annotations"]["janus.dev/expires-at"].is_string());
    assert_granted(&app, &request, &GRANTED).await;

    // Jump the shared manual clock with the agent stopped: a signed request in flight across
    // a one-hour jump would be refused as stale, and its retry would wait on a clock nobody
    // moves. The restarted agent (same key, empty memory) finds the cleanup waiting.
    app.stop_agent().await;
    app.central.clock.advance_secs(3_600);
    Scheduler::new(app.central.workflow.clone()).tick().await.unwrap();
    app.restart_agent().await;
    let ended = app
        .wait_until(&request, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    assert_eq!(ended.state, RequestState::Expired);
    assert_all_gone(&app, &request, &GRANTED).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoke_and_withdraw_remove_everything() {
    let app = TestApp::start().await;
    let revoked = app.active("alice@example.com", &["payments", "checkout"]).await;
    let withdrawn = app.active("erin@example.com", &["payments"]).await;
    assert_granted(&app, &revoked, &GRANTED).await;

    app.act(
        &revoked,
        Command::Revoke {
            reason: Some("incident over".into()),
        },
        "bob@example.com",
    )
    .await;
    app.act(&withdrawn, Command::Withdraw, "erin@example.com").await;
    let revoked = app
        .wait_until(&revoked, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    let withdrawn = app
        .wait_until(&withdrawn, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    assert_eq!(
        (revoked.state, withdrawn.state),
        (RequestState::Revoked, RequestState::Withdrawn)
    );
    assert_all_gone(&app, &revoked, &GRANTED).await;
    assert_all_gone(&app, &withdrawn, &[("payments", "web-1")]).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweeper_alone_cleans_up_when_central_is_unreachable() {
    let mut app = TestApp::start().await;
    let request = app.active("alice@example.com", &["payments", "checkout"]).await;
    app.stop_agent().await;
    app.central.stop_server();
    app.central.clock.advance_secs(3_600);
    // No scheduler, no central: only the agent's own sweeper.
    let swept = app.agent.sweep_once().await.unwrap();
    assert!(
        format!("{swept:?}").contains('4') || app.grant_objects(&request) == 0,
        "{swept:?}"
    );
    assert_all_gone(&app, &request, &GRANTED).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_restart_mints_a_new_token_and_duplicates_nothing() {
    let mut app = TestApp::start().await;
    let request = app.active("alice@example.com", &["payments"]).await;
    let before = app.token(&request, "payments");
    let objects =
        app.kube.objects("ServiceAccount", None).len() + app.kube.objects("RoleBinding", None).len();

    app.restart_agent().await;
    app.agent.restore_tokens().await.unwrap();
    let after = app.token(&request, "payments");
    assert_ne!(before, after, "a fresh token was minted");
    assert!(
        app.agent.token_for(request.id.as_str(), "payments").is_some(),
        "and is held in memory"
    );
    assert_eq!(
        app.exec(&after, "payments", "web-1", "echo ok").await,
        Ok("ok\n".to_owned())
    );
    let now = app.kube.objects("ServiceAccount", None).len() + app.kube.objects("RoleBinding", None).len();
    assert_eq!(now, objects, "nothing duplicated");

    // The restarted agent still cleans up when the grant ends.
    app.act(&request, Command::Revoke { reason: None }, "bob@example.com")
        .await;
    app.wait_until(&request, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    assert_eq!(app.grant_objects(&request), 0);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_in_the_second_of_three_namespaces_leaves_nothing() {
    let app = TestApp::start().await;
    app.kube.faults().fail_next(
        RequestMatcher::new("create", "rolebindings").in_namespace("checkout"),
        1,
        500,
    );
    let request = app
        .submit("alice@example.com", &["payments", "checkout", "search"])
        .await;
    app.act(
        &request,
        Command::Approve {
            ttl_seconds: None,
            reason: None,
        },
        "bob@example.com",
    )
    .await;
    let failed = app
        .wait_until(&request, |r| r.state == RequestState::Failed)
        .await;
    let reason = failed.end_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("checkout"),
        "the failure names the namespace: {reason}"
    );
    let failed = app
        .wait_until(&request, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    assert_eq!(failed.state, RequestState::Failed);
    assert_eq!(app.grant_objects(&request), 0, "rolled back in every namespace");
    let events = app.central.store.audit_for_request(&request.id).await.unwrap();
    assert!(events.iter().any(|event| event.action == "grant.failed"));
    app.finish().await;
}

/// `namespace/name` of the request's objects of `kind` (`janus-<id>`), sorted.
fn grant_names(app: &TestApp, kind: &str, request: &AccessRequest) -> Vec<String> {
    let name = format!("janus-{}", request.id);
    let mut names: Vec<String> = app
        .kube
        .objects(kind, None)
        .iter()
        .filter(|object| object["metadata"]["name"] == name.as_str())
        .map(|object| {
            format!(
                "{}/{name}",
                object["metadata"]["namespace"].as_str().unwrap_or_default()
            )
        })
        .collect();
    names.sort();
    names
}

/// The embedded agent of `janus serve` takes its work straight from the workflow
/// (`janus::embedded::InProcessCentral`, no HTTP, no enrollment): it reports the cluster's
/// namespaces, grants with the request's expiry, and cleans up on revoke.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_agent_grants_and_cleans_up_through_the_workflow() {
    let app = TestApp::start_embedded(enrollment_config()).await;
    // The agent's first namespace report reaches central through the workflow.
    let mut known = None;
    for _ in 0..2_000 {
        known = app.central.store.namespaces("prod").await.unwrap();
        if known.is_some() {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
    }
    let known = known.expect("the embedded agent reported the cluster's namespaces");
    assert!(known.contains(&"payments".to_owned()) && known.contains(&"checkout".to_owned()));

    let request = app.active("alice@example.com", &["payments", "checkout"]).await;
    assert_eq!(
        grant_names(&app, "RoleBinding", &request),
        [
            format!("checkout/janus-{}", request.id),
            format!("payments/janus-{}", request.id)
        ]
    );
    let (_, until) = app.agent.token_for(request.id.as_str(), "payments").unwrap();
    assert_eq!(Some(until), request.expires_at, "the token ends with the grant");
    assert_granted(&app, &request, &GRANTED).await;

    app.act(&request, Command::Revoke { reason: None }, "bob@example.com")
        .await;
    let ended = app
        .wait_until(&request, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    assert_eq!(ended.state, RequestState::Revoked);
    assert!(grant_names(&app, "RoleBinding", &request).is_empty());
    assert!(grant_names(&app, "ServiceAccount", &request).is_empty());
    assert!(app.agent.token_for(request.id.as_str(), "payments").is_none());
    assert_all_gone(&app, &request, &GRANTED).await;
    app.finish().await;
}
