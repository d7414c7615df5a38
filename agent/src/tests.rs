//! Agent tests: the Kubernetes side against the fake API server of `janus-fixtures` (real
//! RBAC, TokenRequest, fault switches, a manual clock), `HttpCentral` against a small axum
//! stub that checks signatures with `agent_protocol::verify`, and the run loop with a
//! scripted central. (The in-process central on a real workflow lives with the binary and is
//! tested in `tests/integration/grants.rs`.)

mod central_http;
mod grants;
mod run_loop;
mod sweeper;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use janus_fixtures::kube::FakeKube;
use janus_wire::agent_config::AgentConfig;
use janus_wire::agent_protocol::WorkKind;
use janus_wire::agent_protocol::{GrantSpec, ReportAck, ReportOutcome, WorkAssignment, WorkReport};
use janus_wire::clock::{Clock, ManualClock};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use serde_json::Value;

use crate::{Agent, Central, CentralError, build_kube_client, install_crypto_provider};

pub(crate) const CLUSTER: &str = "prod-eu";
const AGENT_TOKEN: &str = "agent-bearer-token";

/// Namespaces, the `janus-exec` ClusterRole (DESIGN §5.3), and the agent's own ClusterRole:
/// exactly what the agent needs, nothing more (no `escalate`, `bind` only on `janus-exec`).
const SEED: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: payments}
---
apiVersion: v1
kind: Namespace
metadata: {name: checkout}
---
apiVersion: v1
kind: Namespace
metadata: {name: search}
---
apiVersion: v1
kind: Namespace
metadata: {name: janus}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: janus-exec}
rules:
  - {apiGroups: [""], resources: [pods], verbs: [get, list]}
  - {apiGroups: [""], resources: [pods/exec], verbs: [create, get]}
  - {apiGroups: [""], resources: [pods/log], verbs: [get]}
  - {apiGroups: [""], resources: [events], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: janus-agent}
rules:
  - {apiGroups: [""], resources: [serviceaccounts], verbs: [get, list, create, patch, delete]}
  - {apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}
  - {apiGroups: [""], resources: [namespaces], verbs: [get, list, watch]}
  - {apiGroups: [rbac.authorization.k8s.io], resources: [rolebindings], verbs: [get, list, create, patch, delete]}
  - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind], resourceNames: [janus-exec]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: janus-agent}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: janus-agent}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: janus-agent}
"#;

/// A fake cluster, the agent's config pointing at it, and the manual clock both share.
pub(crate) struct Env {
    pub kube: FakeKube,
    pub clock: ManualClock,
    pub config: AgentConfig,
    /// Holds the token and key files of `config` for the test's lifetime.
    _dir: tempfile::TempDir,
}

impl Env {
    pub async fn new() -> Env {
        install_crypto_provider();
        let clock = ManualClock::at_epoch();
        let kube = FakeKube::builder()
            .clock(Arc::new(clock.clone()))
            .start()
            .await
            .unwrap();
        kube.seed_yaml(SEED).unwrap();
        kube.add_token(AGENT_TOKEN, "janus-agent", &[]);
        for namespace in ["payments", "checkout", "search"] {
            kube.add_pod(namespace, "api-0", &["app"]).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("kube-token");
        std::fs::write(&token_file, AGENT_TOKEN).unwrap();
        let config = AgentConfig {
            cluster_name: CLUSTER.to_owned(),
            api_server_url: kube.url(),
            token_file: token_file.display().to_string(),
            key_file: dir.path().join("agent.key").display().to_string(),
            ..AgentConfig::default()
        };
        Env {
            kube,
            clock,
            config,
            _dir: dir,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A new agent (a fresh process: empty vault) on this cluster.
    pub async fn agent(&self, central: Arc<dyn Central>) -> Agent {
        let client = build_kube_client(&self.config).await.unwrap();
        Agent::new(
            client,
            central,
            CLUSTER,
            Arc::new(self.clock.clone()),
            Duration::from_secs(5),
        )
    }

    /// An agent whose central is never reachable.
    pub async fn offline_agent(&self) -> Agent {
        self.agent(Arc::new(ScriptedCentral::unreachable())).await
    }

    pub fn objects(&self, kind: &str) -> Vec<Value> {
        self.kube.objects(kind, None)
    }

    /// `namespace/name` of every object of a kind, sorted.
    pub fn names(&self, kind: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .objects(kind)
            .iter()
            .map(|object| {
                format!(
                    "{}/{}",
                    object["metadata"]["namespace"].as_str().unwrap_or_default(),
                    object["metadata"]["name"].as_str().unwrap_or_default()
                )
            })
            .collect();
        names.sort();
        names
    }

    /// `namespace/name` of the grant objects of a kind (those named `janus-…`).
    pub fn grant_names(&self, kind: &str) -> Vec<String> {
        self.names(kind)
            .into_iter()
            .filter(|name| name.contains("/janus-"))
            .collect()
    }

    /// The resources the agent deleted, in the order it deleted them.
    pub fn deleted_resources(&self) -> Vec<String> {
        self.kube
            .request_log()
            .into_iter()
            .filter(|request| request.verb == "delete")
            .map(|request| request.resource)
            .collect()
    }

    /// A kube client that authenticates with `token` (a grant's).
    pub fn client_with(&self, token: &str) -> kube::Client {
        let mut config = kube::Config::new(self.kube.url().parse().unwrap());
        config.auth_info.token = Some(token.to_owned().into());
        kube::Client::try_from(config).unwrap()
    }

    /// Whether `token` may `create pods/exec` in `namespace` (SelfSubjectAccessReview).
    pub async fn may_exec(&self, token: &str, namespace: &str) -> bool {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_owned()),
                    verb: Some("create".to_owned()),
                    resource: Some("pods".to_owned()),
                    subresource: Some("exec".to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = Api::<SelfSubjectAccessReview>::all(self.client_with(token))
            .create(&PostParams::default(), &review)
            .await
            .unwrap();
        answer.status.unwrap().allowed
    }

    /// The HTTP status of `list pods` in `namespace` with `token` (200 when allowed).
    pub async fn list_pods_status(&self, token: &str, namespace: &str) -> u16 {
        match Api::<Pod>::namespaced(self.client_with(token), namespace)
            .list(&ListParams::default())
            .await
        {
            Ok(_) => 200,
            Err(kube::Error::Api(status)) => status.code,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
}

pub(crate) fn spec(request_id: &str, namespaces: &[&str], expires_at: DateTime<Utc>) -> GrantSpec {
    GrantSpec {
        request_id: request_id.to_owned(),
        cluster: CLUSTER.to_owned(),
        namespaces: namespaces
            .iter()
            .map(|namespace| (*namespace).to_owned())
            .collect(),
        profile: "exec".to_owned(),
        cluster_role: "janus-exec".to_owned(),
        requester: "alice@example.com".to_owned(),
        expires_at,
    }
}

pub(crate) fn assignment(id: i64, kind: WorkKind, grant: GrantSpec) -> WorkAssignment {
    WorkAssignment {
        id,
        kind,
        lease_token: format!("lease-{id}"),
        lease_until: grant.expires_at,
        grant,
    }
}

/// The error of a report that must have failed.
pub(crate) fn failure(report: WorkReport) -> String {
    assert_eq!(report.outcome, ReportOutcome::Failed);
    report.error.unwrap()
}

pub(crate) fn hours(count: i64) -> TimeDelta {
    TimeDelta::hours(count)
}

/// A central that answers from a script and records what the agent sent. When the work
/// script runs out, `next_work` waits forever (the agent's shutdown ends it).
#[derive(Debug, Default)]
pub(crate) struct ScriptedCentral {
    work: Mutex<VecDeque<Result<Option<WorkAssignment>, CentralError>>>,
    report_answers: Mutex<VecDeque<Result<ReportAck, CentralError>>>,
    pub reports: Mutex<Vec<(i64, WorkReport)>>,
    pub namespace_reports: Mutex<Vec<Vec<String>>>,
    pub work_calls: Mutex<usize>,
    offline: bool,
}

impl ScriptedCentral {
    pub fn new() -> Self {
        ScriptedCentral::default()
    }

    pub fn unreachable() -> Self {
        ScriptedCentral {
            offline: true,
            ..ScriptedCentral::new()
        }
    }

    pub fn push_work(&self, answer: Result<Option<WorkAssignment>, CentralError>) {
        self.work.lock().unwrap().push_back(answer);
    }

    pub fn push_report_answer(&self, answer: Result<ReportAck, CentralError>) {
        self.report_answers.lock().unwrap().push_back(answer);
    }

    fn offline_error() -> CentralError {
        CentralError::Unreachable("connection refused".to_owned())
    }
}

#[async_trait]
impl Central for ScriptedCentral {
    async fn next_work(&self, _wait: Duration) -> Result<Option<WorkAssignment>, CentralError> {
        *self.work_calls.lock().unwrap() += 1;
        if self.offline {
            return Err(Self::offline_error());
        }
        let next = self.work.lock().unwrap().pop_front();
        match next {
            Some(answer) => answer,
            None => std::future::pending().await,
        }
    }

    async fn report(&self, work_id: i64, report: &WorkReport) -> Result<ReportAck, CentralError> {
        self.reports.lock().unwrap().push((work_id, report.clone()));
        if self.offline {
            return Err(Self::offline_error());
        }
        let answer = self.report_answers.lock().unwrap().pop_front();
        answer.unwrap_or_else(|| {
            Ok(ReportAck {
                status: "recorded".to_owned(),
            })
        })
    }

    async fn report_namespaces(&self, namespaces: &[String]) -> Result<(), CentralError> {
        if self.offline {
            return Err(Self::offline_error());
        }
        self.namespace_reports.lock().unwrap().push(namespaces.to_vec());
        Ok(())
    }
}
