//! The `Central` port: how the agent talks to central (DESIGN §5.1).
//!
//! [`HttpCentral`] is the adapter of `janus agent` (long-poll over HTTP, signed requests or
//! a service-account token). The agent that `janus serve` runs in-process (`agent.embedded`)
//! talks to central through `janus::embedded::InProcessCentral` in the binary's library, which
//! calls the workflow directly for work and, for terminal sessions, central's own session routes
//! on loopback through an [`HttpCentral`] signed with an [`EmbeddedIdentity`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ed25519_dalek::{SigningKey, VerifyingKey};
use janus_wire::agent_protocol::{ReportAck, SessionOffer, WorkAssignment, WorkReport};
use janus_wire::clock::Clock;

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

    /// The embedded agent's client for central's session routes at `central_url` (the address
    /// this process listens on, reached on loopback), signed with this key. Sessions then take
    /// exactly the path of a separately deployed agent: the same long-poll, the same signed
    /// dial, the same checks on both sides.
    pub fn session_client(
        self,
        central_url: &str,
        cluster: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<HttpCentral, CentralError> {
        HttpCentral::with_key(central_url, cluster, self.key, clock)
    }
}

impl fmt::Debug for EmbeddedIdentity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("EmbeddedIdentity")
            .field(
                "public_key",
                &janus_wire::agent_protocol::encode_public_key(&self.public_key()),
            )
            .finish()
    }
}
