//! The policy a configuration implies: the one place that reads the YAML's shape into the
//! domain's [`Policy`], so the pure domain knows nothing of configuration files.

use std::collections::BTreeSet;

use super::Config;
use crate::domain::{ClusterPolicy, Limits, Policy, Principal};

impl Policy {
    /// The policy a configuration implies. The configuration was validated when loaded,
    /// so emails that still fail to parse are skipped (and logged) rather than trusted.
    pub fn from_config(config: &Config) -> Policy {
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
            approver_groups: config
                .clusters
                .iter()
                .filter(|cluster| !cluster.approver_groups.is_empty())
                .map(|cluster| {
                    let groups = cluster.approver_groups.iter().cloned().collect();
                    (cluster.name.clone(), groups)
                })
                .collect(),
            link_ttl_seconds: config.links.ttl_seconds,
        }
    }
}
