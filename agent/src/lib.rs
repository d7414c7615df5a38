//! `janus-agent`: the in-cluster agent.
//!
//! Owns everything that touches a Kubernetes API server: it long-polls central for grant
//! and cleanup work of its one cluster, creates and deletes the ServiceAccount and
//! RoleBinding of each grant, mints short-lived tokens with TokenRequest (kept in memory
//! only), runs its own expiry sweeper, and reports the cluster's namespaces. It uses only
//! core's shared wire types and ports; no SQL.
//!
//! - [`Agent`] — the run loop ([`Agent::run`]) and its parts ([`Agent::handle`],
//!   [`Agent::sweep_once`], [`Agent::restore_tokens`], [`Agent::report_namespaces`]).
//! - [`Central`] — the port to central: [`HttpCentral`] (`janus agent`) and
//!   [`InProcessCentral`] (the embedded agent of `janus serve`).
//! - [`Kubernetes`] — grant, cleanup, sweep, token restore; [`build_kube_client`].
//! - [`TokenVault`] — the grant tokens, in memory only.
//!
//! Entry points for the binary: [`run_from_config`], and [`agent_with`] for the embedded agent.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use janus_wire::agent_config::AgentConfig;
use janus_wire::clock::Clock;

mod agent;
mod backoff;
mod central;
mod kubernetes;
mod terminal;
mod vault;

#[cfg(test)]
mod tests;

pub use agent::{Agent, LONG_POLL_WAIT};
pub use backoff::Backoff;
pub use central::{Central, CentralError, EmbeddedIdentity, HttpCentral, SessionSocket};
pub use kubernetes::{
    Deleted, GrantError, KubeConfigError, KubeFailure, Kubernetes, MANAGED_BY, MIN_TOKEN_SECONDS,
    SweepSummary, build_kube_client, build_kube_config, object_name,
};
pub use terminal::{SHELL_SCRIPT, Sessions, classify, pod_summary};
pub use vault::{TokenVault, VaultEntry};

/// An error of the agent's parts, for callers that mix them.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Kube(#[from] KubeFailure),
    #[error(transparent)]
    Central(#[from] CentralError),
    #[error(transparent)]
    KubeConfig(#[from] KubeConfigError),
}

/// `janus agent`: builds the Kubernetes client, connects to central (enrolling first when
/// needed; retried while central is unreachable) and runs until `shutdown`.
pub async fn run_from_config(
    config: &AgentConfig,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    let kube_config = build_kube_config(config)
        .await
        .context("The agent could not build its Kubernetes client")?;
    let mut backoff = Backoff::default();
    let central = loop {
        match HttpCentral::connect(config, clock.clone()).await {
            Ok(central) => break central,
            Err(error) if error.is_transient() => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    cluster = %config.cluster_name, error = %error, retry_in_ms = delay.as_millis(),
                    "could not reach central to enroll"
                );
                tokio::select! {
                    () = clock.sleep(delay) => {}
                    () = &mut shutdown => return Ok(()),
                }
            }
            Err(error) => {
                return Err(anyhow::Error::new(error).context("The agent could not connect to central"));
            }
        }
    };
    let agent = agent_with(config, kube_config, Arc::new(central), clock)
        .context("The agent could not build its Kubernetes client")?;
    agent.run(shutdown).await;
    Ok(())
}

/// The agent of `agent.clusterName` talking to `central`: its own Kubernetes client from
/// `kube_config`, which terminal sessions also copy (server, TLS) with the grant's token in
/// place of the agent's credentials.
pub fn agent_with(
    config: &AgentConfig,
    kube_config: kube::Config,
    central: Arc<dyn Central>,
    clock: Arc<dyn Clock>,
) -> Result<Agent, KubeConfigError> {
    let client = kube::Client::try_from(kube_config.clone())
        .map_err(|error| KubeConfigError::Client(error.to_string()))?;
    let agent = Agent::new(
        client,
        central,
        config.cluster_name.trim(),
        clock,
        Duration::from_secs(config.sweep_interval_seconds),
    );
    agent.set_kube_config(kube_config);
    Ok(agent)
}

/// Installs rustls' `ring` provider for the process (kube and reqwest need one); a no-op
/// when one is installed already.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An error and its sources, joined with `: `.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
