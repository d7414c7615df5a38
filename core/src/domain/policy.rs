//! The rules a request is checked against, derived once from configuration.

use std::collections::{BTreeMap, BTreeSet};

use super::Principal;

/// The Kubernetes TokenRequest minimum; no grant is ever shorter.
pub const MIN_TTL_SECONDS: u64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub requests_per_hour: u32,
    pub live_requests_per_user: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterPolicy {
    pub approvers: BTreeSet<Principal>,
    pub approvals_required: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub admins: BTreeSet<Principal>,
    pub default_ttl_seconds: u64,
    pub max_ttl_seconds: u64,
    pub approval_ttl_options: Vec<u64>,
    pub pending_expiry_seconds: u64,
    pub grant_timeout_seconds: u64,
    pub retention_seconds: u64,
    pub excluded_namespaces: BTreeSet<String>,
    pub limits: Limits,
    pub clusters: BTreeMap<String, ClusterPolicy>,
    /// Access profiles (name → ClusterRole); `exec` ships by default.
    pub profiles: BTreeSet<String>,
    /// Chat channels that receive cards and messages (`slack`, `discord`), in order.
    pub notify_channels: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            admins: BTreeSet::new(),
            default_ttl_seconds: 3_600,
            max_ttl_seconds: 28_800,
            approval_ttl_options: vec![3_600, 7_200, 14_400, 28_800],
            pending_expiry_seconds: 0,
            grant_timeout_seconds: 120,
            retention_seconds: 86_400,
            excluded_namespaces: ["kube-system", "kube-public", "kube-node-lease", "janus"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            limits: Limits {
                requests_per_hour: 10,
                live_requests_per_user: 5,
            },
            clusters: BTreeMap::new(),
            profiles: BTreeSet::from(["exec".to_owned()]),
            notify_channels: Vec::new(),
        }
    }
}

impl Policy {
    pub fn is_admin(&self, principal: &Principal) -> bool {
        self.admins.contains(principal)
    }

    /// Admins approve anywhere; otherwise the cluster's approver list decides.
    pub fn is_approver(&self, principal: &Principal, cluster: &str) -> bool {
        self.is_admin(principal)
            || self
                .clusters
                .get(cluster)
                .is_some_and(|policy| policy.approvers.contains(principal))
    }

    pub fn approvals_required(&self, cluster: &str) -> u32 {
        self.clusters
            .get(cluster)
            .map_or(1, |policy| policy.approvals_required.max(1))
    }
}

impl Policy {
    /// The policy a configuration implies. The configuration was validated when loaded,
    /// so emails that still fail to parse are skipped (and logged) rather than trusted.
    pub fn from_config(config: &crate::config::Config) -> Policy {
        let principals = |emails: &[String]| -> BTreeSet<Principal> {
            emails
                .iter()
                .filter_map(|email| match Principal::parse(email) {
                    Ok(principal) => Some(principal),
                    Err(error) => {
                        tracing::warn!(%error, "ignoring an approver or admin that is not an email");
                        None
                    }
                })
                .collect()
        };
        let settings = &config.janus;
        Policy {
            admins: principals(&settings.admin_emails),
            default_ttl_seconds: settings.default_ttl_seconds,
            max_ttl_seconds: settings.max_ttl_seconds,
            approval_ttl_options: settings.approval_ttl_options.clone(),
            pending_expiry_seconds: settings.pending_expiry_seconds,
            grant_timeout_seconds: settings.grant_timeout_seconds,
            retention_seconds: settings.retention_seconds,
            excluded_namespaces: settings.excluded_namespaces.iter().cloned().collect(),
            limits: Limits {
                requests_per_hour: settings.limits.requests_per_hour,
                live_requests_per_user: settings.limits.live_requests_per_user,
            },
            clusters: config
                .clusters
                .iter()
                .map(|cluster| {
                    let policy = ClusterPolicy {
                        approvers: principals(&cluster.approvers),
                        approvals_required: cluster.approvals_required.max(1),
                    };
                    (cluster.name.clone(), policy)
                })
                .collect(),
            profiles: BTreeSet::from(["exec".to_owned()]),
            notify_channels: [
                ("slack", config.slack.enabled),
                ("discord", config.discord.enabled),
            ]
            .into_iter()
            .filter(|(_, enabled)| *enabled)
            .map(|(channel, _)| channel.to_owned())
            .collect(),
        }
    }
}
