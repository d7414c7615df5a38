//! The embedded agent of `janus serve` (`agent.embedded`): the agent of `agent.clusterName`
//! running in central's process.
//!
//! Work comes straight from the [`Workflow`] through [`InProcessCentral`], an adapter of the
//! agent's [`Central`] port; terminal sessions take central's own session routes on loopback,
//! signed with an [`EmbeddedIdentity`] held in memory only, exactly like a separately deployed
//! agent's. This adapter lives with the binary so that `janus-agent` depends on neither the
//! workflow nor sqlx.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use janus_agent::{Agent, Central, CentralError, EmbeddedIdentity, HttpCentral, SessionSocket};
use janus_core::agent_protocol::{ReportAck, SessionOffer, WorkAssignment, WorkReport};
use janus_core::config::AgentConfig;
use janus_core::workflow::{Workflow, WorkflowError};

/// How long the in-process agent holds a lease on an item.
const IN_PROCESS_LEASE: Duration = Duration::from_secs(60);

/// Runs the embedded agent (see [`embedded_agent`]) until `shutdown`.
pub async fn run_embedded(
    config: &AgentConfig,
    workflow: Workflow,
    central_url: &str,
    identity: EmbeddedIdentity,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let agent = embedded_agent(config, workflow, central_url, identity).await?;
    agent.run(shutdown).await;
    Ok(())
}

/// Builds the embedded agent: [`InProcessCentral`] for work, and for sessions the loopback
/// HTTP path of central at `central_url`, signed with `identity` (whose public key central
/// was given with `janus_web::AppState::with_embedded_agent`).
pub async fn embedded_agent(
    config: &AgentConfig,
    workflow: Workflow,
    central_url: &str,
    identity: EmbeddedIdentity,
) -> anyhow::Result<Agent> {
    let cluster = config.cluster_name.trim();
    anyhow::ensure!(
        !cluster.is_empty(),
        "`agent.clusterName` is empty; the embedded agent needs the cluster it manages."
    );
    let kube_config = janus_agent::build_kube_config(config)
        .await
        .context("The embedded agent could not build its Kubernetes client")?;
    let clock = workflow.clock().clone();
    let central = InProcessCentral::new(workflow, cluster)
        .with_sessions(central_url, identity)
        .context("The embedded agent could not reach central's session routes")?;
    janus_agent::agent_with(config, kube_config, Arc::new(central), clock)
        .context("The embedded agent could not build its Kubernetes client")
}

/// Central in the same process: the embedded agent's [`Central`].
#[derive(Debug, Clone)]
pub struct InProcessCentral {
    workflow: Workflow,
    cluster: String,
    lease: Duration,
    /// Central's session routes on loopback, signed with the [`EmbeddedIdentity`]; without
    /// it the agent is offered no session.
    sessions: Option<Arc<HttpCentral>>,
}

impl InProcessCentral {
    pub fn new(workflow: Workflow, cluster: impl Into<String>) -> Self {
        InProcessCentral {
            workflow,
            cluster: cluster.into(),
            lease: IN_PROCESS_LEASE,
            sessions: None,
        }
    }

    /// Serves terminal sessions through central's own session routes at `central_url` (the
    /// address this process listens on, reached on loopback), signed with `identity`
    /// ([`EmbeddedIdentity::session_client`]).
    pub fn with_sessions(
        mut self,
        central_url: &str,
        identity: EmbeddedIdentity,
    ) -> Result<Self, CentralError> {
        let http = identity.session_client(central_url, &self.cluster, self.workflow.clock().clone())?;
        self.sessions = Some(Arc::new(http));
        Ok(self)
    }

    /// Overrides the lease taken on claimed items (default 60 s).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }
}

#[async_trait]
impl Central for InProcessCentral {
    async fn next_work(&self, wait: Duration) -> Result<Option<WorkAssignment>, CentralError> {
        let Some(item) = self
            .workflow
            .wait_for_work(&self.cluster, wait, self.lease)
            .await
            .map_err(from_workflow)?
        else {
            return Ok(None);
        };
        Ok(Some(self.workflow.assignment(&item)))
    }

    async fn report(&self, work_id: i64, report: &WorkReport) -> Result<ReportAck, CentralError> {
        self.workflow
            .report_work(&self.cluster, work_id, report)
            .await
            .map_err(from_workflow)
    }

    async fn report_namespaces(&self, namespaces: &[String]) -> Result<(), CentralError> {
        self.workflow
            .report_namespaces(&self.cluster, namespaces)
            .await
            .map_err(from_workflow)
    }

    async fn next_sessions(&self, wait: Duration) -> Result<Vec<SessionOffer>, CentralError> {
        match &self.sessions {
            Some(http) => http.next_sessions(wait).await,
            None => {
                std::future::pending::<()>().await;
                Ok(Vec::new())
            }
        }
    }

    async fn dial_session(&self, session: &str) -> Result<SessionSocket, CentralError> {
        match &self.sessions {
            Some(http) => http.dial_session(session).await,
            None => Err(CentralError::Identity(
                "the embedded agent was started without central's session address".to_owned(),
            )),
        }
    }
}

/// A workflow refusal as the agent's port names it (the same classes the HTTP agent API
/// answers with: 404, 401/403, 409, 503).
fn from_workflow(error: WorkflowError) -> CentralError {
    match error {
        WorkflowError::LeaseLost => CentralError::LeaseLost,
        WorkflowError::NotFound(what) => CentralError::Rejected {
            status: 404,
            message: format!("{what} was not found"),
        },
        WorkflowError::Refused(refusal) if refusal.is_authorization_refusal() => {
            CentralError::Unauthorized(refusal.to_string())
        }
        WorkflowError::Refused(refusal) => CentralError::Rejected {
            status: 409,
            message: refusal.to_string(),
        },
        conflict @ WorkflowError::Conflict => CentralError::Busy(conflict.to_string()),
        WorkflowError::Store(store) => CentralError::Rejected {
            status: 503,
            message: format!("the database is unavailable: {store}"),
        },
    }
}
