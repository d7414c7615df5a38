//! The agent part of a [`TestApp`]: the fake Kubernetes API server with real RBAC (the seed's,
//! or what a story gives) and the agent of `prod` — a real one over HTTP (enrolled with a join
//! token, signed requests) or central's embedded one.

use std::sync::Arc;
use std::time::Duration;

use janus_agent::{Agent, HttpCentral, build_kube_config};
use janus_core::clock::{Clock, ManualClock};
use janus_core::config::AgentConfig;
use janus_core::domain::AccessRequest;
use janus_fixtures::kube::FakeKube;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use serde::Deserialize as _;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use super::TestApp;
use super::backend::TempDir;

const SEED: &str = include_str!("../../../fixtures/kube/example-seed.yaml");
pub const AGENT_KUBE_TOKEN: &str = "agent-kube-token";
/// The Kubernetes user the agent is in the seed (and in the chart's agent mode).
pub const AGENT_USER: &str = "system:serviceaccount:janus:janus-agent";

/// The seed's objects as JSON.
fn seed_objects() -> Vec<Value> {
    serde_norway::Deserializer::from_str(SEED)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|object| !object.is_null())
        .collect()
}

/// RBAC objects and ServiceAccounts: what decides who may do what.
pub fn is_rbac(object: &Value) -> bool {
    matches!(
        object["kind"].as_str(),
        Some("ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding" | "ServiceAccount")
    )
}

/// The seed's own RBAC: `janus-exec`, the agent's ClusterRole, binding and ServiceAccount.
pub fn seed_rbac() -> Vec<Value> {
    seed_objects().into_iter().filter(is_rbac).collect()
}

/// What a story asked for: the cluster's RBAC, who the agent is in it, and which agent.
pub(super) struct ClusterSpec {
    pub rbac: Vec<Value>,
    pub agent_user: String,
    pub embedded: bool,
}

/// The fake cluster, and where the agent's files live.
pub(super) struct FakeCluster {
    kube: FakeKube,
    dir: TempDir,
}

impl ClusterSpec {
    /// Starts the fake cluster on `clock`; for the embedded agent, points central's
    /// configuration at it (`agent.*` from the environment, as a deployment would).
    pub async fn start_cluster(&self, clock: &ManualClock, env: &mut Vec<(String, String)>) -> FakeCluster {
        let kube = fake_cluster(Arc::new(clock.clone()), &self.rbac, &self.agent_user).await;
        let dir = TempDir::new();
        std::fs::write(dir.path().join("kube-token"), AGENT_KUBE_TOKEN).unwrap();
        if self.embedded {
            for (key, value) in [
                ("JANUS_AGENT__EMBEDDED", "true".to_owned()),
                ("JANUS_AGENT__CLUSTER_NAME", "prod".to_owned()),
                ("JANUS_AGENT__API_SERVER_URL", kube.url()),
                (
                    "JANUS_AGENT__TOKEN_FILE",
                    dir.path().join("kube-token").display().to_string(),
                ),
            ] {
                env.push((key.to_owned(), value));
            }
        }
        FakeCluster { kube, dir }
    }
}

/// The fake cluster and the running agent of `prod`.
pub(super) struct AgentPart {
    kube: FakeKube,
    agent: Agent,
    config: AgentConfig,
    embedded: bool,
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: TempDir,
}

impl AgentPart {
    pub async fn start(spec: ClusterSpec, cluster: FakeCluster, app: &mut TestApp) -> AgentPart {
        let FakeCluster { kube, dir } = cluster;
        if spec.embedded {
            let agent = app
                .central_mut()
                .embedded_agent
                .clone()
                .expect("central started its embedded agent");
            return AgentPart {
                kube,
                agent,
                config: app.config.agent.clone(),
                embedded: true,
                stop: None,
                task: None,
                _dir: dir,
            };
        }
        let join_token = app
            .workflow
            .create_join_token("prod", "admin@example.com", Duration::from_secs(600))
            .await
            .unwrap();
        std::fs::write(dir.path().join("join-token"), &join_token).unwrap();
        let config = AgentConfig {
            central_url: app.base.clone(),
            cluster_name: "prod".into(),
            join_token_file: dir.path().join("join-token").display().to_string(),
            key_file: dir.path().join("agent.key").display().to_string(),
            api_server_url: kube.url(),
            token_file: dir.path().join("kube-token").display().to_string(),
            ..AgentConfig::default()
        };
        let agent = new_agent(&config, &app.clock).await;
        let mut part = AgentPart {
            kube,
            agent,
            config,
            embedded: false,
            stop: None,
            task: None,
            _dir: dir,
        };
        part.run();
        part
    }

    fn run(&mut self) {
        let (stop, stopped) = watch::channel(false);
        let agent = self.agent.clone();
        self.task = Some(tokio::spawn(async move {
            let mut stopped = stopped;
            agent
                .run(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await;
        }));
        self.stop = Some(stop);
    }
}

/// A new agent process of `config`: what `janus agent` builds (sessions use the same
/// Kubernetes settings, no hand wiring), sweeping every 5 s.
async fn new_agent(config: &AgentConfig, clock: &ManualClock) -> Agent {
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let central = HttpCentral::connect(config, clock.clone()).await.unwrap();
    let kube_config = build_kube_config(config).await.unwrap();
    let config = AgentConfig {
        sweep_interval_seconds: 5,
        ..config.clone()
    };
    janus_agent::agent_with(&config, kube_config, Arc::new(central), clock).unwrap()
}

/// The fake cluster on `clock`: the seed's objects with `rbac`, the agent's own token
/// as `agent_user`, and the pods the stories use.
pub async fn fake_cluster(clock: Arc<dyn Clock>, rbac: &[Value], agent_user: &str) -> FakeKube {
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

impl TestApp {
    fn agent_part(&self) -> &AgentPart {
        self.agent
            .as_ref()
            .expect("this story has no agent: start it with `.agent()` or `.embedded_agent()`")
    }

    /// The fake Kubernetes API server.
    pub fn kube(&self) -> &FakeKube {
        &self.agent_part().kube
    }

    /// The agent of `prod`.
    pub fn agent(&self) -> &Agent {
        &self.agent_part().agent
    }

    /// The agent's configuration (`janus agent`'s `agent:` section).
    pub fn agent_config(&self) -> &AgentConfig {
        &self.agent_part().config
    }

    /// Stops the agent and waits until it has.
    pub async fn stop_agent(&mut self) {
        let embedded = match &mut self.agent {
            Some(part) => {
                if let Some(stop) = part.stop.take() {
                    let _ = stop.send(true);
                }
                if let Some(task) = part.task.take() {
                    task.await.unwrap();
                }
                part.embedded
            }
            None => false,
        };
        if embedded {
            self.central_mut().stop_embedded_agent().await;
        }
    }

    /// A new agent process: same key file, same cluster, empty memory.
    pub async fn restart_agent(&mut self) {
        self.stop_agent().await;
        let clock = self.clock.clone();
        let part = self.agent.as_mut().expect("this story has an agent");
        assert!(!part.embedded, "the embedded agent restarts with central");
        part.agent = new_agent(&part.config, &clock).await;
        part.run();
    }

    /// The token the fake issued for the request's ServiceAccount in `namespace` (newest).
    pub fn grant_token(&self, request: &AccessRequest, namespace: &str) -> String {
        let account = format!("janus-{}", request.id);
        self.kube()
            .issued_tokens()
            .into_iter()
            .filter(|issued| issued.namespace == namespace && issued.service_account == account)
            .max_by_key(|issued| issued.issued_at)
            .map(|issued| issued.token)
            .expect("a token was minted")
    }

    /// How many of the grant's ServiceAccounts and RoleBindings exist.
    pub fn grant_objects(&self, request: &AccessRequest) -> usize {
        let name = format!("janus-{}", request.id);
        ["ServiceAccount", "RoleBinding"]
            .iter()
            .map(|kind| {
                self.kube()
                    .objects(kind, None)
                    .iter()
                    .filter(|object| object["metadata"]["name"] == name)
                    .count()
            })
            .sum()
    }

    /// Runs `sh -c script` in the pod with `token`: Ok(stdout) or Err(HTTP status).
    pub async fn exec(&self, token: &str, namespace: &str, pod: &str, script: &str) -> Result<String, u16> {
        let mut config = kube::Config::new(self.kube().url().parse().unwrap());
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
