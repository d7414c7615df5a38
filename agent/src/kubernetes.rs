//! The Kubernetes side of the agent: building the client, and the objects of a grant
//! (DESIGN §5.3) — names, labels, the errors reported to central.
//!
//! [`Kubernetes`] does the work: [`grant`](Kubernetes::grant) and
//! [`cleanup`](Kubernetes::cleanup) in `kubernetes/grant.rs`, the expiry sweeper, token
//! restore after a restart and the namespace list in `kubernetes/sweep.rs`.
//!
//! **Invariant:** a grant's token goes from the TokenRequest answer into the
//! [`TokenVault`] and nowhere else: not into an object, a log line, a report or an error.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use janus_wire::agent_config::AgentConfig;
use janus_wire::agent_protocol::{ANNOTATION_EXPIRES_AT, LABEL_MANAGED_BY, LABEL_REQUEST};
use janus_wire::clock::Clock;
pub(crate) use janus_wire::names::is_dns_label;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::vault::TokenVault;

mod grant;
mod sweep;

pub use grant::{Deleted, GrantError, MIN_TOKEN_SECONDS};
pub use sweep::SweepSummary;

/// The value of [`LABEL_MANAGED_BY`] on every object the agent creates.
pub const MANAGED_BY: &str = "janus";

/// Why the Kubernetes client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum KubeConfigError {
    #[error("`agent.apiServerUrl` {url:?} is not a valid URL: {reason}")]
    InvalidApiServerUrl { url: String, reason: String },
    #[error("could not read the kubeconfig {path:?}: {reason}")]
    Kubeconfig { path: String, reason: String },
    #[error("no Kubernetes configuration found (not in a cluster, no ~/.kube/config): {0}")]
    Infer(String),
    #[error("could not create the Kubernetes client: {0}")]
    Client(String),
    #[error("could not read `agent.tokenFile` {path:?}: {reason}")]
    TokenFile { path: String, reason: String },
}

/// Builds the agent's own Kubernetes client: `apiServerUrl` (+ `tokenFile`, re-read by the
/// client as it rotates) when set, else the `kubeconfig` file, else in-cluster
/// configuration, then `~/.kube/config`.
pub async fn build_kube_client(config: &AgentConfig) -> Result<kube::Client, KubeConfigError> {
    let kube_config = build_kube_config(config).await?;
    kube::Client::try_from(kube_config).map_err(|error| KubeConfigError::Client(error.to_string()))
}

/// The configuration [`build_kube_client`] uses (terminal sessions copy it and swap in a
/// grant's token).
pub async fn build_kube_config(config: &AgentConfig) -> Result<kube::Config, KubeConfigError> {
    crate::install_crypto_provider();
    let kube_config = if !config.api_server_url.trim().is_empty() {
        let url = config.api_server_url.trim();
        let uri = url
            .parse::<http::Uri>()
            .map_err(|error| KubeConfigError::InvalidApiServerUrl {
                url: url.to_owned(),
                reason: error.to_string(),
            })?;
        let mut kube_config = kube::Config::new(uri);
        let token_file = config.token_file.trim();
        if !token_file.is_empty() {
            let token = std::fs::read_to_string(token_file).map_err(|error| KubeConfigError::TokenFile {
                path: token_file.to_owned(),
                reason: error.to_string(),
            })?;
            if token.trim() == token {
                // Re-read by the client on every refresh, so a rotating token keeps working.
                kube_config.auth_info.token_file = Some(token_file.to_owned());
            } else {
                // A hand-written file (`echo token > file`) ends in a newline, which is not
                // valid in a header: use the trimmed value as it is now.
                kube_config.auth_info.token = Some(token.trim().to_owned().into());
            }
        }
        kube_config
    } else if !config.kubeconfig.trim().is_empty() {
        let path = config.kubeconfig.trim();
        let kubeconfig_error = |reason: String| KubeConfigError::Kubeconfig {
            path: path.to_owned(),
            reason,
        };
        let file =
            kube::config::Kubeconfig::read_from(path).map_err(|error| kubeconfig_error(error.to_string()))?;
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|error| kubeconfig_error(error.to_string()))?
    } else {
        match kube::Config::incluster() {
            Ok(kube_config) => kube_config,
            Err(_) => kube::Config::infer()
                .await
                .map_err(|error| KubeConfigError::Infer(error.to_string()))?,
        }
    };
    Ok(kube_config)
}

/// What went wrong talking to Kubernetes, worded for the card and the audit log:
/// `create rolebinding in checkout: 403 Forbidden: rolebindings.rbac.authorization.k8s.io
/// "janus-jr-x" is forbidden: …`. Never carries a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct KubeFailure {
    /// `create`, `delete`, `list`, `patch`, `request a token for`, …
    pub action: &'static str,
    /// `serviceaccount`, `rolebindings`, …
    pub kind: &'static str,
    /// The namespace, or `None` for a cluster-wide call.
    pub namespace: Option<String>,
    /// What Kubernetes said: `<code> <reason>: <message>`, or the transport error.
    pub detail: String,
}

impl fmt::Display for KubeFailure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(
                formatter,
                "{} {} in {namespace}: {}",
                self.action, self.kind, self.detail
            ),
            None => write!(
                formatter,
                "{} {} (all namespaces): {}",
                self.action, self.kind, self.detail
            ),
        }
    }
}

impl KubeFailure {
    pub(crate) fn new(
        action: &'static str,
        kind: &'static str,
        namespace: Option<&str>,
        detail: String,
    ) -> Self {
        KubeFailure {
            action,
            kind,
            namespace: namespace.map(str::to_owned),
            detail,
        }
    }

    pub(crate) fn from_kube(
        action: &'static str,
        kind: &'static str,
        namespace: Option<&str>,
        error: &kube::Error,
    ) -> Self {
        Self::new(action, kind, namespace, describe_kube_error(error))
    }
}

/// `<code> <reason>: <message>` for an API answer, the error chain otherwise.
pub(crate) fn describe_kube_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                "Failure"
            } else {
                status.reason.as_str()
            };
            let message = if status.message.is_empty() {
                "(no message)"
            } else {
                status.message.as_str()
            };
            format!("{} {reason}: {message}", status.code)
        }
        other => crate::error_chain(other),
    }
}

pub(crate) fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.is_not_found())
}

pub(crate) fn is_already_exists(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.is_already_exists() || status.code == 409)
}

/// The name of a grant's ServiceAccount and RoleBinding.
pub fn object_name(request_id: &str) -> String {
    format!("janus-{request_id}")
}

/// Selects every object the agent manages.
pub(crate) fn managed_selector() -> String {
    format!("{LABEL_MANAGED_BY}={MANAGED_BY}")
}

/// Selects every object of one request. `request_id` must be a valid label value
/// (a DNS label, checked by the callers), so it cannot widen the selector.
pub(crate) fn request_selector(request_id: &str) -> String {
    format!("{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_REQUEST}={request_id}")
}

/// The labels and annotation of a grant's objects.
pub(crate) fn grant_metadata(request_id: &str, namespace: &str, expires_at: DateTime<Utc>) -> ObjectMeta {
    ObjectMeta {
        name: Some(object_name(request_id)),
        namespace: Some(namespace.to_owned()),
        labels: Some(grant_labels(request_id)),
        annotations: Some(BTreeMap::from([(
            ANNOTATION_EXPIRES_AT.to_owned(),
            format_expires_at(expires_at),
        )])),
        ..ObjectMeta::default()
    }
}

pub(crate) fn grant_labels(request_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
        (LABEL_REQUEST.to_owned(), request_id.to_owned()),
    ])
}

/// RFC 3339, whole seconds, `Z`.
pub(crate) fn format_expires_at(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The `expires-at` annotation of an object, if present and well-formed.
pub(crate) fn expires_at_of(metadata: &ObjectMeta) -> Result<DateTime<Utc>, String> {
    let raw = metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(ANNOTATION_EXPIRES_AT))
        .ok_or_else(|| format!("no {ANNOTATION_EXPIRES_AT} annotation"))?;
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|error| format!("{ANNOTATION_EXPIRES_AT} {raw:?} is not RFC 3339: {error}"))
}

/// The request an object belongs to, from its label.
pub(crate) fn request_of(metadata: &ObjectMeta) -> Option<&str> {
    metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(LABEL_REQUEST))
        .map(String::as_str)
}

/// True when the object carries the labels of this request's grant.
pub(crate) fn belongs_to(metadata: &ObjectMeta, request_id: &str) -> bool {
    let labels = metadata.labels.as_ref();
    labels
        .and_then(|labels| labels.get(LABEL_MANAGED_BY))
        .map(String::as_str)
        == Some(MANAGED_BY)
        && labels
            .and_then(|labels| labels.get(LABEL_REQUEST))
            .map(String::as_str)
            == Some(request_id)
}

/// The agent's Kubernetes operations, with the token vault they fill.
#[derive(Clone)]
pub struct Kubernetes {
    client: kube::Client,
    vault: Arc<TokenVault>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Kubernetes {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Kubernetes")
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl Kubernetes {
    pub fn new(client: kube::Client, vault: Arc<TokenVault>, clock: Arc<dyn Clock>) -> Self {
        Kubernetes { client, vault, clock }
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    pub fn vault(&self) -> &Arc<TokenVault> {
        &self.vault
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn expires_at_round_trips_and_rejects_garbage() {
        let at = DateTime::from_timestamp(1_893_456_000, 0).unwrap();
        let metadata = grant_metadata("jr-a", "ns", at);
        assert_eq!(
            metadata.annotations.as_ref().unwrap()[ANNOTATION_EXPIRES_AT],
            "2030-01-01T00:00:00Z"
        );
        assert_eq!(expires_at_of(&metadata), Ok(at));
        assert!(belongs_to(&metadata, "jr-a"));
        assert!(!belongs_to(&metadata, "jr-b"));
        let mut broken = metadata.clone();
        broken
            .annotations
            .as_mut()
            .unwrap()
            .insert(ANNOTATION_EXPIRES_AT.to_owned(), "tomorrow".to_owned());
        assert!(expires_at_of(&broken).is_err());
        assert!(expires_at_of(&ObjectMeta::default()).is_err());
    }

    #[test]
    fn failures_read_like_kubernetes() {
        let status = kube::core::Status::failure(
            "rolebindings.rbac.authorization.k8s.io \"janus-jr-x\" is forbidden: no",
            "Forbidden",
        )
        .with_code(403);
        let failure = KubeFailure::from_kube(
            "create",
            "rolebinding",
            Some("checkout"),
            &kube::Error::Api(status.boxed()),
        );
        assert_eq!(
            failure.to_string(),
            "create rolebinding in checkout: 403 Forbidden: rolebindings.rbac.authorization.k8s.io \"janus-jr-x\" is forbidden: no"
        );
    }
}
