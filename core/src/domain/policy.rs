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
    /// Cluster → identity-provider groups whose members approve it (`clusters[].approverGroups`).
    pub approver_groups: BTreeMap<String, BTreeSet<String>>,
    /// The longest a terminal link stays valid (`links.ttlSeconds`); a link also never
    /// outlives its grant ([`Policy::link_expiry`]).
    pub link_ttl_seconds: u64,
}

/// The defaults of every setting above. The configuration's defaults are these (`config.rs`
/// reads them from here), so they are written once.
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
            approver_groups: BTreeMap::new(),
            link_ttl_seconds: 28_800,
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

    /// [`Policy::is_approver`] for an actor: a person by email, or a member of one of the
    /// cluster's approver groups (groups come from the identity provider at sign-in).
    pub fn actor_is_approver(&self, actor: &super::Actor, cluster: &str) -> bool {
        let Some(person) = actor.person() else {
            return false;
        };
        self.is_approver(person, cluster)
            || self
                .approver_groups
                .get(cluster)
                .is_some_and(|groups| actor.groups().iter().any(|group| groups.contains(group)))
    }

    pub fn approvals_required(&self, cluster: &str) -> u32 {
        self.clusters
            .get(cluster)
            .map_or(1, |policy| policy.approvals_required.max(1))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::Policy;
    use crate::domain::{Actor, Principal};

    fn member(email: &str, groups: &[&str]) -> Actor {
        Actor::Member {
            principal: Principal::parse(email).unwrap(),
            groups: groups.iter().map(|group| (*group).to_owned()).collect(),
        }
    }

    #[test]
    fn approver_groups_approve_only_their_clusters() {
        let policy = Policy {
            approver_groups: BTreeMap::from([("prod".to_owned(), BTreeSet::from(["sre".to_owned()]))]),
            ..Policy::default()
        };
        assert!(policy.actor_is_approver(&member("erin@example.com", &["dev", "sre"]), "prod"));
        assert!(!policy.actor_is_approver(&member("erin@example.com", &["sre"]), "staging"));
        assert!(!policy.actor_is_approver(&member("erin@example.com", &["dev"]), "prod"));
        let person = Actor::Person(Principal::parse("erin@example.com").unwrap());
        assert!(!policy.actor_is_approver(&person, "prod"));
        assert!(!policy.actor_is_approver(&Actor::System, "prod"));
        assert_eq!(
            member("erin@example.com", &["sre"]).audit_name(),
            "erin@example.com"
        );
    }
}
