//! The `Central` port: how the agent talks to central (DESIGN §5.1).
//!
//! Two adapters: [`HttpCentral`] for `janus agent` (long-poll over HTTP, signed requests or
//! a service-account token), and [`InProcessCentral`] for the agent that `janus serve` runs
//! in-process (`agent.embedded`), which calls the [`Workflow`] directly for work and, for
//! terminal sessions, central's own session routes on loopback ([`InProcessCentral::with_sessions`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ed25519_dalek::{SigningKey, VerifyingKey};
use janus_core::agent_protocol::{ReportAck, ReportOutcome, SessionOffer, WorkAssignment, WorkReport};
use janus_core::queue::{Completion, WorkOutcome};
use janus_core::workflow::{Workflow, WorkflowError};

mod http;

pub use http::HttpCentral;

/// What the agent needs from central.
#[async_trait]
pub trait Central: Send + Sync + fmt::Debug {
    /// Waits up to `wait` for the next work item of the agent's cluster (claimed with a
    /// lease); `None` when nothing came.
    async fn next_work(&self, wait: Duration) -> Result<Option<WorkAssignment>, CentralError>;

    /// Reports the result of a claimed item. A repeated report is acknowledged as
    /// `already_done`; [`CentralError::LeaseLost`] means the item was handed to someone else.
    async fn report(&self, work_id: i64, report: &WorkReport) -> Result<ReportAck, CentralError>;

    /// Tells central the cluster's namespaces.
    async fn report_namespaces(&self, namespaces: &[String]) -> Result<(), CentralError>;

    /// Waits up to `wait` for terminal sessions central wants opened. This default never
    /// offers one (an adapter without a session path).
    async fn next_sessions(&self, wait: Duration) -> Result<Vec<SessionOffer>, CentralError> {
        let _ = wait;
        futures::future::pending::<()>().await;
        Ok(Vec::new())
    }

    /// Dials the WebSocket of an offered session.
    async fn dial_session(&self, session: &str) -> Result<SessionSocket, CentralError> {
        let _ = session;
        Err(CentralError::Identity(
            "this central does not serve terminal sessions".to_owned(),
        ))
    }
}

/// The agent's end of a terminal session.
pub type SessionSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Why a call to central failed. Never carries a token or the agent's key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CentralError {
    /// No answer: connection refused, DNS, timeout, TLS.
    #[error("central could not be reached: {0}")]
    Unreachable(String),
    /// Central refused the agent's identity (401/403): unknown agent, wrong cluster,
    /// bad signature, expired or reused join token.
    #[error("central refused the agent's identity: {0}")]
    Unauthorized(String),
    /// The work item's lease expired and it was handed out again (409/410 on a report).
    #[error("the work item's lease was lost; central hands the item out again")]
    LeaseLost,
    /// Central could not take the call right now (a racing change); retry.
    #[error("central asks to retry: {0}")]
    Busy(String),
    /// Any other refusal.
    #[error("central answered {status}: {message}")]
    Rejected { status: u16, message: String },
    /// Central answered something the agent could not read.
    #[error("central's answer could not be read: {0}")]
    Protocol(String),
    /// The agent's own identity material (key file, join token file, service-account token
    /// file) is missing or unusable, or the configuration is incomplete.
    #[error("{0}")]
    Identity(String),
}

impl CentralError {
    /// Worth retrying as is: no answer, or a server-side error.
    pub fn is_transient(&self) -> bool {
        match self {
            CentralError::Unreachable(_) | CentralError::Protocol(_) | CentralError::Busy(_) => true,
            CentralError::Rejected { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            CentralError::Unauthorized(_) | CentralError::LeaseLost | CentralError::Identity(_) => false,
        }
    }
}

/// How long the in-process agent holds a lease on an item.
const IN_PROCESS_LEASE: Duration = Duration::from_secs(60);

/// The identity of the embedded agent on central's session routes: an Ed25519 key pair made
/// when `janus serve` starts and held in memory only (never written, never shared). Central
/// accepts its public key for the embedded agent's cluster alone, on the two session routes
/// alone (`janus_web::AppState::with_embedded_agent`).
pub struct EmbeddedIdentity {
    key: SigningKey,
}

impl EmbeddedIdentity {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Self {
        EmbeddedIdentity {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// What central checks the embedded agent's signatures with.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

impl fmt::Debug for EmbeddedIdentity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("EmbeddedIdentity")
            .field(
                "public_key",
                &janus_core::agent_protocol::encode_public_key(&self.public_key()),
            )
            .finish()
    }
}

/// Central in the same process: the embedded agent of `janus serve`.
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
    /// address this process listens on, reached on loopback), signed with `identity`. Sessions
    /// then take exactly the path of a separately deployed agent: the same long-poll, the same
    /// signed dial, the same checks on both sides.
    pub fn with_sessions(
        mut self,
        central_url: &str,
        identity: EmbeddedIdentity,
    ) -> Result<Self, CentralError> {
        let http = HttpCentral::with_key(
            central_url,
            &self.cluster,
            identity.key,
            self.workflow.clock().clone(),
        )?;
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
        let outcome = match report.outcome {
            ReportOutcome::Succeeded => WorkOutcome::Succeeded,
            ReportOutcome::Failed => WorkOutcome::Failed {
                error: report
                    .error
                    .clone()
                    .unwrap_or_else(|| "the agent gave no reason".to_owned()),
            },
        };
        let completion = self
            .workflow
            .complete_work(&self.cluster, work_id, &report.lease_token, outcome)
            .await
            .map_err(from_workflow)?;
        let status = match completion {
            Completion::Recorded => "recorded",
            Completion::AlreadyDone => "already_done",
            Completion::RetryScheduled => "retry_scheduled",
        };
        Ok(ReportAck {
            status: status.to_owned(),
        })
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
                futures::future::pending::<()>().await;
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
