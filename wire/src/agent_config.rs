//! The agent's section of the configuration (`agent:`): what `janus agent` (and the agent
//! `janus serve` runs in-process) reads. It lives here, not in `janus_core::config`, so the
//! agent builds without the engine; core's `Config` holds it as `agent` and re-exports it.

use serde::{Deserialize, Serialize};

/// Settings of `janus agent` (`agent:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AgentConfig {
    pub central_url: String,
    pub cluster_name: String,
    pub join_token_file: String,
    /// Empty means in-cluster configuration, then `~/.kube/config`.
    pub kubeconfig: String,
    /// How the agent proves who it is to central: `enrollment` (join token once, then
    /// requests signed with its Ed25519 key) or `serviceaccount` (its projected token).
    pub auth: AgentIdentityMode,
    /// Where the agent keeps its Ed25519 key (created at first enrollment).
    pub key_file: String,
    /// The projected service-account token (audience `janus`), for `auth: serviceaccount`.
    pub service_account_token_file: String,
    /// An explicit API server URL, instead of kubeconfig or in-cluster configuration.
    pub api_server_url: String,
    /// The bearer token file for `apiServerUrl`.
    pub token_file: String,
    /// `janus serve` also runs the agent for `clusterName` in-process.
    pub embedded: bool,
    /// How often the agent's own sweeper looks for expired objects (default 5).
    pub sweep_interval_seconds: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            central_url: String::new(),
            cluster_name: String::new(),
            join_token_file: String::new(),
            kubeconfig: String::new(),
            auth: AgentIdentityMode::default(),
            key_file: "/var/lib/janus/agent.key".to_owned(),
            service_account_token_file: "/var/run/secrets/janus/token".to_owned(),
            api_server_url: String::new(),
            token_file: String::new(),
            embedded: false,
            sweep_interval_seconds: 5,
        }
    }
}

/// How an agent authenticates to central.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum AgentIdentityMode {
    #[default]
    Enrollment,
    Serviceaccount,
}
