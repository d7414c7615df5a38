//! The wire contract between central and its agents (DESIGN §5.1–§5.2), shared by both
//! sides so they cannot drift: JSON bodies, header names, and request signing.
//!
//! Routes (all under `/agent/v1`):
//! - `POST /enroll` — `Authorization: Bearer <join token>`, body [`Enrollment`]: pins the
//!   agent's Ed25519 public key for its cluster. The join token is single-use and expires.
//! - `GET /work?wait=<seconds>` — long-poll; 200 [`WorkAssignment`] or 204 when nothing came.
//! - `POST /work/{id}/result` — body [`WorkReport`]; 200 [`ReportAck`].
//! - `PUT /namespaces` — body [`NamespaceReport`].
//! - `GET /sessions?wait=<seconds>` — long-poll for terminal sessions; 200
//!   [`SessionOffers`] or 204.
//! - `GET /sessions/{sid}` — WebSocket the agent dials to serve one offered session
//!   (docs/terminal-protocol.md §4).
//!
//! Every request after enrollment is signed (see [`signing_input`]) with the headers
//! [`HEADER_CLUSTER`], [`HEADER_TIMESTAMP`] and [`HEADER_SIGNATURE`]; central accepts a
//! timestamp at most [`MAX_CLOCK_SKEW_SECONDS`] from its own clock. An agent that proves
//! itself with a Kubernetes service-account token instead sends `Authorization: Bearer`
//! and [`HEADER_CLUSTER`].
//!
//! The agent never sends a Kubernetes token of a grant to central: reports carry only
//! outcomes and Kubernetes error messages.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

pub const HEADER_CLUSTER: &str = "x-janus-cluster";
pub const HEADER_TIMESTAMP: &str = "x-janus-timestamp";
pub const HEADER_SIGNATURE: &str = "x-janus-signature";
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;
/// The longest long-poll central holds open.
pub const MAX_WAIT_SECONDS: u64 = 55;

/// Labels and annotation every object of a grant carries (DESIGN §5.3).
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_REQUEST: &str = "janus.dev/request";
pub const ANNOTATION_EXPIRES_AT: &str = "janus.dev/expires-at";

/// What a work item asks of the agent: create a grant's objects or delete them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    Grant,
    Cleanup,
}

impl WorkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Grant => "grant",
            WorkKind::Cleanup => "cleanup",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "grant" => Some(WorkKind::Grant),
            "cleanup" => Some(WorkKind::Cleanup),
            _ => None,
        }
    }
}

impl fmt::Display for WorkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    pub cluster: String,
    /// The agent's Ed25519 public key, base64url without padding.
    pub public_key: String,
    #[serde(default)]
    pub agent_version: String,
}

/// One piece of work handed to an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkAssignment {
    pub id: i64,
    pub kind: WorkKind,
    pub lease_token: String,
    pub lease_until: DateTime<Utc>,
    pub grant: GrantSpec,
}

/// What to create (or delete) for a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantSpec {
    pub request_id: String,
    pub cluster: String,
    pub namespaces: Vec<String>,
    pub profile: String,
    /// The ClusterRole the profile binds (`janus-exec` for `exec`).
    pub cluster_role: String,
    pub requester: String,
    /// When the grant ends: the token's expiry and the objects' `expires-at` annotation.
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportOutcome {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkReport {
    pub lease_token: String,
    pub outcome: ReportOutcome,
    /// For failures: what Kubernetes said (reason and message), never a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportAck {
    /// `recorded`, `already_done` or `retry_scheduled`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceReport {
    pub namespaces: Vec<String>,
}

/// What a terminal session does at the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// An interactive shell (`pods/exec` with a TTY).
    Exec,
    /// The namespace's pods with health badges (one JSON result).
    Pods,
    /// A container's log (binary chunks; with `follow`, until closed).
    Logs,
    /// A pod's events (one JSON result).
    Events,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Exec => "exec",
            SessionKind::Pods => "pods",
            SessionKind::Logs => "logs",
            SessionKind::Events => "events",
        }
    }
}

/// A session central asks the agent to open. The session id is random (256 bits), single
/// use and short-lived; it is bound to everything below, and central pairs the agent's dial
/// with the browser only when the dialing agent's cluster is [`SessionOffer::cluster`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionOffer {
    pub session: String,
    pub kind: SessionKind,
    pub cluster: String,
    pub request_id: String,
    pub namespace: String,
    #[serde(default)]
    pub pod: String,
    #[serde(default)]
    pub container: String,
    #[serde(default)]
    pub cols: u16,
    #[serde(default)]
    pub rows: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_lines: Option<i64>,
    #[serde(default)]
    pub follow: bool,
    /// The dial must come before this.
    pub dial_by: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionOffers {
    pub sessions: Vec<SessionOffer>,
}

/// The ClusterRole a profile binds.
pub fn cluster_role_for(profile: &str) -> String {
    format!("janus-{profile}")
}

/// The exact bytes an agent signs: method, path with query, cluster, timestamp and the
/// SHA-256 of the body, one per line, after a version tag.
pub fn signing_input(
    method: &str,
    path_and_query: &str,
    cluster: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<u8> {
    let body_hash = crate::digest::sha256_hex(body);
    format!(
        "janus-agent-v1\n{}\n{path_and_query}\n{cluster}\n{timestamp}\n{body_hash}",
        method.to_uppercase()
    )
    .into_bytes()
}

pub fn sign(key: &SigningKey, input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(key.sign(input).to_bytes())
}

pub fn encode_public_key(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.to_bytes())
}

pub fn decode_public_key(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Checks a signature made by [`sign`]; false on any malformed input.
pub fn verify(public_key: &VerifyingKey, input: &[u8], signature: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature.trim()) else {
        return false;
    };
    let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return false;
    };
    public_key.verify(input, &Signature::from_bytes(&bytes)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_every_part() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = decode_public_key(&encode_public_key(&key.verifying_key())).unwrap();
        let input = signing_input("get", "/agent/v1/work?wait=25", "prod", 1_900_000_000, b"");
        let signature = sign(&key, &input);
        assert!(verify(&public, &input, &signature));
        for changed in [
            signing_input("POST", "/agent/v1/work?wait=25", "prod", 1_900_000_000, b""),
            signing_input("GET", "/agent/v1/work?wait=26", "prod", 1_900_000_000, b""),
            signing_input("GET", "/agent/v1/work?wait=25", "dev", 1_900_000_000, b""),
            signing_input("GET", "/agent/v1/work?wait=25", "prod", 1_900_000_001, b""),
            signing_input("GET", "/agent/v1/work?wait=25", "prod", 1_900_000_000, b"{}"),
        ] {
            assert!(!verify(&public, &changed, &signature));
        }
        assert!(!verify(&public, &input, "not-base64!"));
        assert!(!verify(&public, &input, ""));
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(!verify(&other, &input, &signature));
    }
}
