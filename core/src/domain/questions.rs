//! The questions every entry point asks about a request, answered once.
//!
//! Slack, Discord, the dashboard, the JSON API and the CLI render these answers; none of
//! them decides on its own who may see a request, which TTLs or namespaces to offer,
//! which buttons to draw or how long a terminal link lives. Each answer is a pure function
//! of the request, the person asking, the policy and (where time matters) `now`.

use chrono::{DateTime, Utc};

use super::transition::{Command, later, transition};
use super::{AccessRequest, Actor, MIN_TTL_SECONDS, Policy, RequestState};

/// What a person can do to an existing request, in the order cards and pages show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Approve,
    Deny,
    ApproveExtension,
    DenyExtension,
    Revoke,
    /// Ask for more time (the requester, on an Active request).
    Extend,
    Withdraw,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Approve,
        Action::Deny,
        Action::ApproveExtension,
        Action::DenyExtension,
        Action::Revoke,
        Action::Extend,
        Action::Withdraw,
    ];

    /// Withdraw and Extend belong to the requester; the rest are approvers' decisions.
    pub fn is_requesters(self) -> bool {
        matches!(self, Action::Withdraw | Action::Extend)
    }

    /// Whether the action belongs to a request in `state` (with or without a pending
    /// extension). An approver decides a pending request by approving or denying it, so
    /// Revoke is offered once it is Approved or Active.
    fn fits(self, request: &AccessRequest) -> bool {
        let extension = request.extension.is_some();
        match request.state {
            RequestState::Pending => matches!(self, Action::Approve | Action::Deny | Action::Withdraw),
            RequestState::Approved => matches!(self, Action::Revoke | Action::Withdraw),
            RequestState::Active if extension => matches!(
                self,
                Action::ApproveExtension | Action::DenyExtension | Action::Revoke | Action::Withdraw
            ),
            RequestState::Active => matches!(self, Action::Revoke | Action::Extend | Action::Withdraw),
            _ => false,
        }
    }

    /// The command this action stands for, with the plainest arguments (the real ones —
    /// a chosen TTL, a reason — come from the person when they act).
    fn probe(self, policy: &Policy) -> Command {
        match self {
            Action::Approve => Command::Approve {
                ttl_seconds: None,
                reason: None,
            },
            Action::Deny => Command::Deny { reason: None },
            Action::ApproveExtension => Command::ApproveExtension,
            Action::DenyExtension => Command::DenyExtension { reason: None },
            Action::Revoke => Command::Revoke { reason: None },
            Action::Extend => Command::RequestExtension {
                ttl_seconds: policy
                    .request_ttl_choices()
                    .first()
                    .copied()
                    .unwrap_or(MIN_TTL_SECONDS),
                reason: "probe".to_owned(),
            },
            Action::Withdraw => Command::Withdraw,
        }
    }
}

/// Every action that someone could take on `request` now: what a chat card, which the whole
/// channel sees, offers. Who may actually take it is checked when they click.
pub fn card_actions(request: &AccessRequest) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|action| action.fits(request))
        .collect()
}

/// The actions `actor` may take on `request` now: those of [`card_actions`] that are theirs
/// (the requester's own, or an approver's decision on someone else's request) and that
/// [`transition`] itself accepts from them — so a button is drawn exactly when the click
/// would be taken.
pub fn available_actions(
    request: &AccessRequest,
    actor: &Actor,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Vec<Action> {
    let Some(person) = actor.person() else {
        return Vec::new();
    };
    let mine = &request.requester == person;
    card_actions(request)
        .into_iter()
        .filter(|action| {
            if action.is_requesters() {
                mine
            } else {
                !mine && policy.actor_is_approver(actor, &request.cluster)
            }
        })
        .filter(|action| transition(request, &action.probe(policy), actor, policy, now).is_ok())
        .collect()
}

impl Policy {
    /// The TTLs an approver may choose instead of the requested one: `approvalTtlOptions`
    /// within `[600 s, maxTtlSeconds]`, shortest first, each once. Exactly what
    /// `transition` accepts as an approval's TTL.
    pub fn approval_ttl_choices(&self) -> Vec<u64> {
        let mut choices: Vec<u64> = self
            .approval_ttl_options
            .iter()
            .copied()
            .filter(|ttl| (MIN_TTL_SECONDS..=self.max_ttl_seconds).contains(ttl))
            .collect();
        choices.sort_unstable();
        choices.dedup();
        choices
    }

    /// The TTLs a request form offers: the approval choices plus the default, shortest
    /// first, each once, all within the bounds `submit` enforces.
    pub fn request_ttl_choices(&self) -> Vec<u64> {
        let mut choices = self.approval_ttl_choices();
        if (MIN_TTL_SECONDS..=self.max_ttl_seconds.max(MIN_TTL_SECONDS)).contains(&self.default_ttl_seconds) {
            choices.push(self.default_ttl_seconds);
        }
        choices.sort_unstable();
        choices.dedup();
        choices
    }

    /// Whether `actor` may see `request`: the requester, an approver of its cluster (by
    /// email or group) and admins. Everyone else is told it does not exist.
    pub fn may_see(&self, actor: &Actor, request: &AccessRequest) -> bool {
        actor
            .person()
            .is_some_and(|person| &request.requester == person || self.is_admin(person))
            || self.actor_is_approver(actor, &request.cluster)
    }

    /// The configured clusters `actor` approves (admins: all of them).
    pub fn approvable_clusters(&self, actor: &Actor) -> std::collections::BTreeSet<String> {
        self.clusters
            .keys()
            .filter(|cluster| self.actor_is_approver(actor, cluster))
            .cloned()
            .collect()
    }

    /// Whether `actor` approves any cluster (admins do): who may open the approvals page.
    pub fn approves_anything(&self, actor: &Actor) -> bool {
        !self.approvable_clusters(actor).is_empty()
            || actor.person().is_some_and(|person| self.is_admin(person))
    }

    /// Whether `namespace` may ever be requested (`excludedNamespaces` never may).
    pub fn namespace_requestable(&self, namespace: &str) -> bool {
        !self.excluded_namespaces.contains(namespace)
    }

    /// Of the namespaces a cluster's agent reported, those that may be requested, in the
    /// order reported, each once.
    pub fn requestable_namespaces(&self, reported: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for name in reported {
            if self.namespace_requestable(&name) && !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// When a terminal link signed `now` for `request` stops working: the grant's end or
    /// `links.ttlSeconds` from now, whichever comes first. `None` unless the request is
    /// Active (there is nothing to open before, and nothing after).
    pub fn link_expiry(&self, request: &AccessRequest, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let expires_at = request
            .expires_at
            .filter(|_| request.state == RequestState::Active)?;
        Some(expires_at.min(later(now, self.link_ttl_seconds)))
    }
}
