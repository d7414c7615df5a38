//! Domain tests: builders for test data, one test per rule and error variant, and
//! property tests that drive random command sequences through [`transition`].
//!
//! Builders never assemble an `AccessRequest` by hand: they run `submit` and
//! `transition`, so a test can only start from a state the domain itself can reach.
//! Time is a fixed instant (`now()`, 2030-01-01T00:00:00Z) plus explicit offsets.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};

use super::*;

// ---------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";
const DAVE: &str = "dave@example.com";
const ADMIN: &str = "admin@example.com";
const EVE: &str = "eve@example.com";

/// The fixed "now" every test starts from.
fn now() -> DateTime<Utc> {
    "2030-01-01T00:00:00Z".parse().unwrap()
}

/// `now()` plus `offset` seconds.
fn at(offset: i64) -> DateTime<Utc> {
    now() + TimeDelta::seconds(offset)
}

fn seconds(value: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(value).unwrap())
}

/// When `.approved()` records its approvals.
fn approved_at() -> DateTime<Utc> {
    at(60)
}

/// The usual `expires_at` of an Active request with the default TTL (granted at +120 s).
fn expiry() -> DateTime<Utc> {
    at(120 + 3_600)
}

fn principal(email: &str) -> Principal {
    Principal::parse(email).unwrap()
}

fn person(email: &str) -> Actor {
    Actor::Person(principal(email))
}

fn alice() -> Actor {
    person(ALICE)
}
fn bob() -> Actor {
    person(BOB)
}
fn carol() -> Actor {
    person(CAROL)
}
fn dave() -> Actor {
    person(DAVE)
}
fn admin() -> Actor {
    person(ADMIN)
}
fn eve() -> Actor {
    person(EVE)
}

fn agent_of(cluster: &str) -> Actor {
    Actor::Agent {
        cluster: cluster.to_owned(),
    }
}

fn request_id() -> RequestId {
    RequestId::parse("jr-abcdefgh").unwrap()
}

fn other_request_id() -> RequestId {
    RequestId::parse("jr-zzzzzzzz").unwrap()
}

/// Cluster "prod" (quorum 1) and "quorum" (quorum 2), both approved by bob, carol and
/// dave; admin@example.com is the admin. Everything else is `Policy::default()`.
fn policy() -> Policy {
    let approvers: BTreeSet<Principal> = [BOB, CAROL, DAVE].into_iter().map(principal).collect();
    Policy {
        admins: BTreeSet::from([principal(ADMIN)]),
        clusters: [("prod", 1), ("quorum", 2)]
            .into_iter()
            .map(|(name, approvals_required)| {
                let cluster = ClusterPolicy {
                    approvers: approvers.clone(),
                    approvals_required,
                };
                (name.to_owned(), cluster)
            })
            .collect(),
        ..Policy::default()
    }
}

/// `policy()` with one change.
fn policy_with(change: impl FnOnce(&mut Policy)) -> Policy {
    let mut policy = policy();
    change(&mut policy);
    policy
}

/// Alice asks for `payments` on prod for an hour.
fn draft() -> Draft {
    Draft {
        cluster: "prod".to_owned(),
        namespaces: vec!["payments".to_owned()],
        ttl_seconds: Some(3_600),
        reason: "investigating 500s on /pay".to_owned(),
        profile: None,
        origin: Origin::web(),
    }
}

fn draft_with(change: impl FnOnce(&mut Draft)) -> Draft {
    let mut draft = draft();
    change(&mut draft);
    draft
}

fn namespaces(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

fn try_submit_with(
    draft: Draft,
    policy: &Policy,
    known_namespaces: Option<&[String]>,
    activity: &UserActivity,
) -> Result<Transition, DomainError> {
    submit(
        request_id(),
        draft,
        &principal(ALICE),
        policy,
        known_namespaces,
        activity,
        now(),
    )
}

fn try_submit(draft: Draft) -> Result<Transition, DomainError> {
    try_submit_with(draft, &policy(), None, &UserActivity::default())
}

fn submit_refusal(draft: Draft) -> DomainError {
    try_submit(draft).expect_err("the submission should be refused")
}

fn submitted(draft: Draft) -> AccessRequest {
    try_submit(draft)
        .unwrap_or_else(|error| panic!("the submission was refused: {error}"))
        .request
}

/// Alice's request for `payments` on prod, Pending.
fn pending() -> AccessRequest {
    submitted(draft())
}

/// Alice's request for `payments` on `cluster`, Pending.
fn pending_on(cluster: &str) -> AccessRequest {
    submitted(draft_with(|draft| draft.cluster = cluster.to_owned()))
}

fn approve() -> Command {
    Command::Approve {
        ttl_seconds: None,
        reason: None,
    }
}

fn approve_with_ttl(ttl_seconds: u64) -> Command {
    Command::Approve {
        ttl_seconds: Some(ttl_seconds),
        reason: None,
    }
}

fn deny() -> Command {
    Command::Deny { reason: None }
}

fn revoke() -> Command {
    Command::Revoke { reason: None }
}

fn extend(ttl_seconds: u64) -> Command {
    Command::RequestExtension {
        ttl_seconds,
        reason: "the incident is still open".to_owned(),
    }
}

fn grant_failed() -> Command {
    Command::GrantFailed {
        error: "rolebindings is forbidden".to_owned(),
    }
}

fn cleanup_failed() -> Command {
    Command::CleanupFailed {
        error: "connection refused".to_owned(),
    }
}

/// Applies a command under `policy()`; the command must be accepted.
fn apply(request: &AccessRequest, command: Command, actor: &Actor, now: DateTime<Utc>) -> Transition {
    apply_with(&policy(), request, command, actor, now)
}

fn apply_with(
    policy: &Policy,
    request: &AccessRequest,
    command: Command,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Transition {
    transition(request, &command, actor, policy, now).unwrap_or_else(|error| {
        panic!(
            "{command:?} by {} on a {} request was refused: {error}",
            actor.audit_name(),
            request.state
        )
    })
}

/// Applies a command under `policy()`; the command must be refused.
fn refuse(request: &AccessRequest, command: Command, actor: &Actor, now: DateTime<Utc>) -> DomainError {
    refuse_with(&policy(), request, command, actor, now)
}

fn refuse_with(
    policy: &Policy,
    request: &AccessRequest,
    command: Command,
    actor: &Actor,
    now: DateTime<Utc>,
) -> DomainError {
    match transition(request, &command, actor, policy, now) {
        Ok(accepted) => panic!(
            "{command:?} by {} on a {} request was accepted: {accepted:?}",
            actor.audit_name(),
            request.state
        ),
        Err(error) => error,
    }
}

fn invalid(from: RequestState, command: &'static str) -> DomainError {
    DomainError::InvalidTransition { from, command }
}

/// Moves a request along by running real commands (kube-rs/controller-rs style).
trait RequestBuilder: Sized {
    /// Applies `command` by `actor` at `now` under `policy()`; it must be accepted.
    fn after(self, command: Command, actor: &Actor, now: DateTime<Utc>) -> Self;
    /// Approved by as many of bob, carol, dave as the cluster's quorum needs, at `approved_at()`.
    fn approved(self) -> Self;
    /// Granted by the cluster's agent so that `expires_at` lands on `expires_at`.
    fn active(self, expires_at: DateTime<Utc>) -> Self;
    /// The requester asks for `ttl_seconds` more, one minute after activation.
    fn with_extension(self, ttl_seconds: u64) -> Self;
    /// Revoked by carol, one second after the last thing that happened.
    fn revoked(self) -> Self;
    /// The agent reported the cleanup done.
    fn cleaned(self) -> Self;
}

impl RequestBuilder for AccessRequest {
    fn after(self, command: Command, actor: &Actor, now: DateTime<Utc>) -> Self {
        apply(&self, command, actor, now).request
    }

    fn approved(self) -> Self {
        let required = policy().approvals_required(&self.cluster) as usize;
        [bob(), carol(), dave()]
            .iter()
            .take(required)
            .fold(self, |request, approver| {
                request.after(approve(), approver, approved_at())
            })
    }

    fn active(self, expires_at: DateTime<Utc>) -> Self {
        let granted_at = expires_at - seconds(self.ttl_seconds);
        assert!(
            self.decided_at.is_some_and(|decided_at| decided_at <= granted_at),
            "a grant cannot succeed before the approval"
        );
        let agent = agent_of(&self.cluster);
        self.after(Command::GrantSucceeded, &agent, granted_at)
    }

    fn with_extension(self, ttl_seconds: u64) -> Self {
        let asked_at = self.activated_at.unwrap() + TimeDelta::minutes(1);
        self.after(extend(ttl_seconds), &alice(), asked_at)
    }

    fn revoked(self) -> Self {
        let revoked_at = last_moment(&self) + TimeDelta::seconds(1);
        self.after(revoke(), &carol(), revoked_at)
    }

    fn cleaned(self) -> Self {
        let cleaned_at = last_moment(&self) + TimeDelta::seconds(1);
        let agent = agent_of(&self.cluster);
        self.after(Command::CleanupSucceeded, &agent, cleaned_at)
    }
}

/// The latest timestamp recorded on a request.
fn last_moment(request: &AccessRequest) -> DateTime<Utc> {
    [
        Some(request.created_at),
        request.decided_at,
        request.activated_at,
        request.ended_at,
        request.extension.as_ref().map(|extension| extension.requested_at),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(request.created_at)
}

fn assert_cleanup_queued(accepted: &Transition) {
    assert_eq!(accepted.request.credentials, CredentialsStatus::Cleaning);
    assert!(
        accepted.effects.contains(&Effect::QueueCleanup),
        "cleanup must be queued: {:?}",
        accepted.effects
    );
    assert!(
        accepted.effects.contains(&Effect::CloseTerminals),
        "terminals must close: {:?}",
        accepted.effects
    );
}

fn assert_one_event(accepted: &Transition, action: &str, actor: &Actor) {
    assert_eq!(accepted.events.len(), 1, "{:?}", accepted.events);
    let event = &accepted.events[0];
    assert_eq!(event.action.as_str(), action);
    assert_eq!(event.actor, actor.audit_name());
    assert_eq!(event.request_id.as_ref(), Some(&accepted.request.id));
    assert_eq!(event.cluster.as_deref(), Some(accepted.request.cluster.as_str()));
}

fn assert_one_sentence(error: &DomainError) {
    let message = error.to_string();
    assert!(
        message
            .chars()
            .next()
            .is_some_and(|first| first.is_uppercase() || first == '`'),
        "{message:?} should start with a capital (or a quoted name)"
    );
    assert!(message.ends_with('.'), "{message:?} should end with a full stop");
    let body = &message[..message.len() - 1];
    assert!(
        !body.contains(". ") && !body.contains(['\n', '!', '?']),
        "{message:?} should be one sentence"
    );
}

// ---------------------------------------------------------------------------------------
// The builders themselves
// ---------------------------------------------------------------------------------------

mod builders {
    use super::*;

    #[test]
    fn builders_reach_each_state_through_the_domain() {
        let pending = pending();
        assert_eq!(pending.state, RequestState::Pending);
        assert_eq!(pending.credentials, CredentialsStatus::None);

        let approved = pending.clone().approved();
        assert_eq!(approved.state, RequestState::Approved);
        assert_eq!(approved.decided_at, Some(approved_at()));

        let active = approved.active(expiry());
        assert_eq!(active.state, RequestState::Active);
        assert_eq!(active.activated_at, Some(at(120)));
        assert_eq!(active.expires_at, Some(expiry()));

        let extended = active.clone().with_extension(1_800);
        assert_eq!(extended.extension.as_ref().map(|e| e.ttl_seconds), Some(1_800));

        let revoked = active.revoked();
        assert_eq!(revoked.state, RequestState::Revoked);
        assert_eq!(revoked.cleaned().credentials, CredentialsStatus::Cleaned);
    }

    #[test]
    fn approved_on_a_quorum_cluster_collects_the_quorum() {
        let approved = pending_on("quorum").approved();
        assert_eq!(approved.state, RequestState::Approved);
        let approvers: Vec<&str> = approved.approvals.iter().map(|a| a.by.as_str()).collect();
        assert_eq!(approvers, [BOB, CAROL]);
    }
}

// ---------------------------------------------------------------------------------------
// submit
// ---------------------------------------------------------------------------------------

mod submit_rules {
    use super::*;

    #[test]
    fn a_submission_is_pending_without_credentials_and_says_so_once() {
        let submitted = try_submit(draft()).unwrap();
        let request = &submitted.request;
        assert_eq!(request.id, request_id());
        assert_eq!(request.requester, principal(ALICE));
        assert_eq!(request.state, RequestState::Pending);
        assert_eq!(request.credentials, CredentialsStatus::None);
        assert_eq!(request.cluster, "prod");
        assert_eq!(request.namespaces, ["payments"]);
        assert_eq!(request.profile, "exec");
        assert_eq!(request.requested_ttl_seconds, 3_600);
        assert_eq!(request.ttl_seconds, 3_600);
        assert_eq!(request.reason, "investigating 500s on /pay");
        assert!(request.approvals.is_empty());
        assert_eq!(request.created_at, now());
        assert_eq!(request.version, 1);
        assert!(submitted.effects.is_empty());
        assert_one_event(&submitted, "request.submitted", &alice());
    }

    #[test]
    fn an_unknown_cluster_is_refused() {
        let error = submit_refusal(draft_with(|draft| draft.cluster = "staging".to_owned()));
        assert_eq!(
            error,
            DomainError::UnknownCluster {
                cluster: "staging".to_owned()
            }
        );
        assert_eq!(error.code(), "unknown_cluster");
    }

    #[test]
    fn an_unknown_profile_is_refused_and_exec_is_the_default() {
        let error = submit_refusal(draft_with(|draft| {
            draft.profile = Some("cluster-admin".to_owned())
        }));
        assert_eq!(
            error,
            DomainError::UnknownProfile {
                profile: "cluster-admin".to_owned()
            }
        );
        let explicit = submitted(draft_with(|draft| draft.profile = Some("exec".to_owned())));
        assert_eq!(explicit.profile, "exec");
    }

    #[test]
    fn an_excluded_namespace_is_refused() {
        let error = submit_refusal(draft_with(|draft| {
            draft.namespaces = namespaces(&["payments", "kube-system"]);
        }));
        assert_eq!(
            error,
            DomainError::ExcludedNamespace {
                namespace: "kube-system".to_owned()
            }
        );
        assert_eq!(error.code(), "excluded_namespace");
    }

    #[test]
    fn an_unknown_namespace_is_refused_only_against_a_known_list() {
        let known = namespaces(&["payments", "checkout"]);
        let billing = draft_with(|draft| draft.namespaces = namespaces(&["payments", "billing"]));

        let error =
            try_submit_with(billing.clone(), &policy(), Some(&known), &UserActivity::default()).unwrap_err();
        assert_eq!(
            error,
            DomainError::UnknownNamespace {
                cluster: "prod".to_owned(),
                namespace: "billing".to_owned()
            }
        );

        // No list reported yet: only excluded namespaces are refused.
        let accepted = try_submit_with(billing, &policy(), None, &UserActivity::default()).unwrap();
        assert_eq!(accepted.request.namespaces, ["payments", "billing"]);

        let listed = draft_with(|draft| draft.namespaces = namespaces(&["checkout", "payments"]));
        assert!(try_submit_with(listed, &policy(), Some(&known), &UserActivity::default()).is_ok());
    }

    #[test]
    fn a_namespace_that_is_not_a_dns_label_is_refused() {
        let too_long = "a".repeat(64);
        for raw in [
            "Payments",
            "pay_ments",
            "-payments",
            "payments-",
            "pay.ments",
            "",
            too_long.as_str(),
        ] {
            let error = submit_refusal(draft_with(|draft| draft.namespaces = namespaces(&[raw])));
            assert_eq!(
                error,
                DomainError::InvalidNamespace {
                    namespace: raw.to_owned()
                },
                "{raw:?}"
            );
        }
        let longest = "a".repeat(63);
        assert!(try_submit(draft_with(|draft| draft.namespaces = vec![longest])).is_ok());
    }

    #[test]
    fn namespaces_are_trimmed_and_a_duplicate_is_refused() {
        let trimmed = submitted(draft_with(|draft| draft.namespaces = namespaces(&[" payments "])));
        assert_eq!(trimmed.namespaces, ["payments"]);

        let error = submit_refusal(draft_with(|draft| {
            draft.namespaces = namespaces(&["payments", "checkout", " payments"]);
        }));
        assert_eq!(
            error,
            DomainError::DuplicateNamespace {
                namespace: "payments".to_owned()
            }
        );
    }

    #[test]
    fn at_least_one_namespace_is_required() {
        let error = submit_refusal(draft_with(|draft| draft.namespaces.clear()));
        assert_eq!(error, DomainError::NoNamespaces);
    }

    #[test]
    fn a_blank_reason_is_refused() {
        for reason in ["", "   ", " \t\n "] {
            let error = submit_refusal(draft_with(|draft| draft.reason = reason.to_owned()));
            assert_eq!(error, DomainError::ReasonRequired, "{reason:?}");
        }
    }

    #[test]
    fn a_reason_may_have_500_characters_but_not_501() {
        let error = submit_refusal(draft_with(|draft| draft.reason = "x".repeat(501)));
        assert_eq!(error, DomainError::ReasonTooLong { max: 500 });
        assert_eq!(error.code(), "reason_too_long");

        assert_eq!(
            submitted(draft_with(|draft| draft.reason = "x".repeat(500)))
                .reason
                .len(),
            500
        );
        // Characters, not bytes; surrounding whitespace does not count.
        let accented = submitted(draft_with(|draft| {
            draft.reason = format!("  {}  ", "é".repeat(500))
        }));
        assert_eq!(accented.reason.chars().count(), 500);
    }

    #[test]
    fn the_ttl_must_be_within_600_seconds_and_the_maximum() {
        for given in [0, 599, 28_801, u64::MAX] {
            let error = submit_refusal(draft_with(|draft| draft.ttl_seconds = Some(given)));
            assert_eq!(
                error,
                DomainError::TtlOutOfBounds {
                    min: 600,
                    max: 28_800,
                    given
                }
            );
        }
        for ttl in [600, 28_800] {
            assert_eq!(
                submitted(draft_with(|draft| draft.ttl_seconds = Some(ttl))).ttl_seconds,
                ttl
            );
        }
    }

    #[test]
    fn the_default_ttl_applies_when_none_is_asked() {
        let request = submitted(draft_with(|draft| draft.ttl_seconds = None));
        assert_eq!(request.ttl_seconds, 3_600);
        assert_eq!(request.requested_ttl_seconds, 3_600);

        let policy = policy_with(|policy| policy.default_ttl_seconds = 7_200);
        let draft = draft_with(|draft| draft.ttl_seconds = None);
        let request = try_submit_with(draft, &policy, None, &UserActivity::default())
            .unwrap()
            .request;
        assert_eq!(request.ttl_seconds, 7_200);
    }

    #[test]
    fn the_hourly_submission_limit_is_enforced() {
        let at_limit = UserActivity {
            submitted_last_hour: 10,
            ..UserActivity::default()
        };
        let error = try_submit_with(draft(), &policy(), None, &at_limit).unwrap_err();
        assert_eq!(error, DomainError::TooManyRequestsPerHour { limit: 10 });
        assert_eq!(error.code(), "too_many_requests_per_hour");

        let below = UserActivity {
            submitted_last_hour: 9,
            ..UserActivity::default()
        };
        assert!(try_submit_with(draft(), &policy(), None, &below).is_ok());
    }

    #[test]
    fn the_live_request_limit_is_enforced() {
        let at_limit = UserActivity {
            live_requests: 5,
            ..UserActivity::default()
        };
        let error = try_submit_with(draft(), &policy(), None, &at_limit).unwrap_err();
        assert_eq!(error, DomainError::TooManyLiveRequests { limit: 5 });

        let below = UserActivity {
            live_requests: 4,
            ..UserActivity::default()
        };
        assert!(try_submit_with(draft(), &policy(), None, &below).is_ok());
    }

    #[test]
    fn one_live_request_per_cluster_and_namespace() {
        let activity = UserActivity {
            submitted_last_hour: 1,
            live_requests: 1,
            live_namespaces: vec![("prod".to_owned(), "payments".to_owned(), other_request_id())],
        };
        let both = draft_with(|draft| draft.namespaces = namespaces(&["checkout", "payments"]));
        let error = try_submit_with(both, &policy(), None, &activity).unwrap_err();
        assert_eq!(
            error,
            DomainError::AlreadyLive {
                existing: other_request_id(),
                cluster: "prod".to_owned(),
                namespace: "payments".to_owned()
            }
        );
        assert_eq!(error.code(), "already_live");

        let other_namespace = draft_with(|draft| draft.namespaces = namespaces(&["checkout"]));
        assert!(try_submit_with(other_namespace, &policy(), None, &activity).is_ok());

        let other_cluster = draft_with(|draft| draft.cluster = "quorum".to_owned());
        assert!(try_submit_with(other_cluster, &policy(), None, &activity).is_ok());
    }
}

// ---------------------------------------------------------------------------------------
// Approve
// ---------------------------------------------------------------------------------------

mod approval_rules {
    use super::*;

    #[test]
    fn a_requester_who_is_also_an_approver_cannot_approve_their_own_request() {
        let policy = policy_with(|policy| {
            if let Some(prod) = policy.clusters.get_mut("prod") {
                prod.approvers.insert(principal(ALICE));
            }
        });
        assert!(policy.is_approver(&principal(ALICE), "prod"));
        let error = refuse_with(&policy, &pending(), approve(), &alice(), at(60));
        assert_eq!(error, DomainError::SelfApproval);
        assert_eq!(error.code(), "self_approval");
        assert!(error.is_authorization_refusal());
        assert_one_sentence(&error);
    }

    #[test]
    fn an_admin_cannot_approve_their_own_request_either() {
        let policy = policy_with(|policy| {
            policy.admins.insert(principal(ALICE));
        });
        let error = refuse_with(&policy, &pending(), approve(), &alice(), at(60));
        assert_eq!(error, DomainError::SelfApproval);
    }

    #[test]
    fn someone_who_is_not_an_approver_cannot_approve() {
        let error = refuse(&pending(), approve(), &eve(), at(60));
        assert_eq!(
            error,
            DomainError::NotAnApprover {
                cluster: "prod".to_owned()
            }
        );
        assert_eq!(error.code(), "not_an_approver");
        assert_one_sentence(&error);
    }

    #[test]
    fn only_a_person_can_approve() {
        assert_eq!(
            refuse(&pending(), approve(), &Actor::System, at(60)),
            DomainError::NotAPerson
        );
        assert_eq!(
            refuse(&pending(), approve(), &agent_of("prod"), at(60)),
            DomainError::NotAPerson
        );
    }

    #[test]
    fn one_approval_approves_a_prod_request_and_queues_the_grant() {
        let approved = apply(&pending(), approve(), &bob(), at(60));
        let request = &approved.request;
        assert_eq!(request.state, RequestState::Approved);
        assert_eq!(request.credentials, CredentialsStatus::Provisioning);
        assert_eq!(request.decided_at, Some(at(60)));
        assert_eq!(request.ttl_seconds, 3_600);
        assert_eq!(request.approvals.len(), 1);
        assert_eq!(request.approvals[0].by, principal(BOB));
        assert_eq!(request.approvals[0].at, at(60));
        assert_eq!(approved.effects, [Effect::QueueGrant]);
        assert_one_event(&approved, "request.approved", &bob());
    }

    #[test]
    fn the_same_approver_cannot_approve_twice() {
        let recorded = pending_on("quorum").after(approve(), &bob(), at(60));
        let error = refuse(&recorded, approve(), &bob(), at(61));
        assert_eq!(error, DomainError::AlreadyApproved);
        assert_eq!(error.code(), "already_approved");
    }

    #[test]
    fn a_quorum_of_two_needs_two_distinct_approvers() {
        let first = apply(&pending_on("quorum"), approve(), &bob(), at(60));
        assert_eq!(first.request.state, RequestState::Pending);
        assert_eq!(first.request.credentials, CredentialsStatus::None);
        assert_eq!(first.request.decided_at, None);
        assert!(first.effects.is_empty());
        assert_one_event(&first, "request.approval_recorded", &bob());
        assert_eq!(first.events[0].details["approvals"], 1);
        assert_eq!(first.events[0].details["required"], 2);

        let second = apply(&first.request, approve(), &carol(), at(70));
        assert_eq!(second.request.state, RequestState::Approved);
        assert_eq!(second.request.decided_at, Some(at(70)));
        assert_eq!(second.effects, [Effect::QueueGrant]);
        assert_one_event(&second, "request.approved", &carol());
        let approvers: Vec<&Principal> = second.request.approvals.iter().map(|a| &a.by).collect();
        assert_eq!(approvers, [&principal(BOB), &principal(CAROL)]);
    }

    #[test]
    fn an_admin_approves_on_any_cluster() {
        assert!(
            !policy()
                .clusters
                .values()
                .any(|c| c.approvers.contains(&principal(ADMIN)))
        );
        let prod = apply(&pending(), approve(), &admin(), at(60));
        assert_eq!(prod.request.state, RequestState::Approved);

        // On a quorum cluster the admin is one of the approvals.
        let quorum = apply(&pending_on("quorum"), approve(), &admin(), at(60));
        assert_eq!(quorum.request.state, RequestState::Pending);
        let quorum = apply(&quorum.request, approve(), &dave(), at(61));
        assert_eq!(quorum.request.state, RequestState::Approved);
    }

    #[test]
    fn only_a_pending_request_can_be_approved() {
        let approved = pending().approved();
        assert_eq!(
            refuse(&approved, approve(), &carol(), at(61)),
            invalid(RequestState::Approved, "approved")
        );
        let revoked = pending().revoked();
        assert_eq!(
            refuse(&revoked, approve(), &bob(), at(61)),
            invalid(RequestState::Revoked, "approved")
        );
    }

    #[test]
    fn an_approver_may_pick_a_ttl_from_the_options() {
        let approved = apply(&pending(), approve_with_ttl(7_200), &bob(), at(60)).request;
        assert_eq!(approved.ttl_seconds, 7_200);
        assert_eq!(approved.requested_ttl_seconds, 3_600);
        assert_eq!(approved.approvals[0].ttl_seconds, Some(7_200));

        // Shorter than asked is fine too.
        let shorter = apply(&pending_on("prod"), approve_with_ttl(3_600), &bob(), at(60)).request;
        assert_eq!(shorter.ttl_seconds, 3_600);
    }

    #[test]
    fn an_approver_ttl_that_is_not_an_option_is_refused() {
        let error = refuse(&pending(), approve_with_ttl(5_000), &bob(), at(60));
        assert_eq!(
            error,
            DomainError::TtlNotAnOption {
                options: vec![3_600, 7_200, 14_400, 28_800]
            }
        );
        assert_eq!(error.code(), "ttl_not_an_option");
        assert_one_sentence(&error);
    }

    #[test]
    fn an_option_above_the_maximum_or_below_the_minimum_is_not_offered() {
        let policy = policy_with(|policy| policy.approval_ttl_options = vec![300, 3_600, 7_200, 57_600]);
        let offered = DomainError::TtlNotAnOption {
            options: vec![3_600, 7_200],
        };
        for ttl in [300, 57_600] {
            assert_eq!(
                refuse_with(&policy, &pending(), approve_with_ttl(ttl), &bob(), at(60)),
                offered,
                "{ttl}"
            );
        }
        let approved = apply_with(&policy, &pending(), approve_with_ttl(7_200), &bob(), at(60));
        assert_eq!(approved.request.ttl_seconds, 7_200);
    }

    #[test]
    fn the_shortest_approver_ttl_wins() {
        for (first, second) in [(14_400, 7_200), (7_200, 14_400)] {
            let request = pending_on("quorum")
                .after(approve_with_ttl(first), &bob(), at(60))
                .after(approve_with_ttl(second), &carol(), at(61));
            assert_eq!(request.state, RequestState::Approved);
            assert_eq!(request.ttl_seconds, 7_200, "{first} then {second}");
        }
        // An approval without a TTL does not vote; the one override applies.
        let request = pending_on("quorum").after(approve(), &bob(), at(60)).after(
            approve_with_ttl(14_400),
            &carol(),
            at(61),
        );
        assert_eq!(request.ttl_seconds, 14_400);
    }

    #[test]
    fn an_approval_reason_is_kept_and_bounded() {
        let with_reason = Command::Approve {
            ttl_seconds: None,
            reason: Some("  incident INC-42  ".to_owned()),
        };
        let approved = apply(&pending(), with_reason, &bob(), at(60)).request;
        assert_eq!(approved.approvals[0].reason.as_deref(), Some("incident INC-42"));

        let too_long = Command::Approve {
            ttl_seconds: None,
            reason: Some("x".repeat(501)),
        };
        assert_eq!(
            refuse(&pending(), too_long, &bob(), at(60)),
            DomainError::ReasonTooLong { max: 500 }
        );
    }
}

// ---------------------------------------------------------------------------------------
// Deny, withdraw, revoke, expire, auto-deny, grant timeout
// ---------------------------------------------------------------------------------------

mod ending_rules {
    use super::*;

    #[test]
    fn the_requester_withdraws_a_pending_request_without_cleanup() {
        let withdrawn = apply(&pending(), Command::Withdraw, &alice(), at(30));
        let request = &withdrawn.request;
        assert_eq!(request.state, RequestState::Withdrawn);
        assert_eq!(request.credentials, CredentialsStatus::None);
        assert_eq!(request.ended_at, Some(at(30)));
        assert_eq!(request.end_reason.as_deref(), Some("withdrawn"));
        assert!(withdrawn.effects.is_empty(), "{:?}", withdrawn.effects);
        assert_one_event(&withdrawn, "request.withdrawn", &alice());
    }

    #[test]
    fn withdrawing_an_approved_or_active_request_queues_cleanup() {
        for request in [pending().approved(), pending().approved().active(expiry())] {
            let from = request.state;
            let withdrawn = apply(&request, Command::Withdraw, &alice(), at(200));
            assert_eq!(withdrawn.request.state, RequestState::Withdrawn, "from {from}");
            assert_cleanup_queued(&withdrawn);
        }
    }

    #[test]
    fn only_the_requester_withdraws() {
        for actor in [bob(), admin(), eve(), Actor::System] {
            let error = refuse(&pending(), Command::Withdraw, &actor, at(30));
            assert_eq!(error, DomainError::NotTheRequester, "{}", actor.audit_name());
        }
        let error = refuse(&pending(), Command::Withdraw, &bob(), at(30));
        assert_eq!(error.code(), "not_the_requester");
        assert_one_sentence(&error);
    }

    #[test]
    fn a_finished_request_cannot_be_withdrawn() {
        let withdrawn = pending().after(Command::Withdraw, &alice(), at(30));
        assert_eq!(
            refuse(&withdrawn, Command::Withdraw, &alice(), at(31)),
            invalid(RequestState::Withdrawn, "withdrawn")
        );
    }

    #[test]
    fn an_approver_revokes_an_active_request_and_cleanup_is_queued() {
        let revoked = apply(
            &pending().approved().active(expiry()),
            Command::Revoke {
                reason: Some("done".to_owned()),
            },
            &carol(),
            at(300),
        );
        assert_eq!(revoked.request.state, RequestState::Revoked);
        assert_eq!(revoked.request.end_reason.as_deref(), Some("revoked"));
        assert_eq!(revoked.request.ended_at, Some(at(300)));
        assert_cleanup_queued(&revoked);
        assert_one_event(&revoked, "request.revoked", &carol());
        assert_eq!(revoked.events[0].details["reason"], "done");
    }

    #[test]
    fn the_requester_and_an_admin_may_revoke_too() {
        for actor in [alice(), admin()] {
            let revoked = apply(&pending().approved().active(expiry()), revoke(), &actor, at(300));
            assert_eq!(
                revoked.request.state,
                RequestState::Revoked,
                "{}",
                actor.audit_name()
            );
            assert_cleanup_queued(&revoked);
        }
    }

    #[test]
    fn a_stranger_cannot_revoke() {
        let active = pending().approved().active(expiry());
        assert_eq!(
            refuse(&active, revoke(), &eve(), at(300)),
            DomainError::NotAnApprover {
                cluster: "prod".to_owned()
            }
        );
        assert_eq!(
            refuse(&active, revoke(), &Actor::System, at(300)),
            DomainError::NotAPerson
        );
    }

    #[test]
    fn revoking_a_pending_request_queues_no_cleanup() {
        let revoked = apply(&pending(), revoke(), &bob(), at(30));
        assert_eq!(revoked.request.state, RequestState::Revoked);
        assert_eq!(revoked.request.credentials, CredentialsStatus::None);
        assert!(revoked.effects.is_empty(), "{:?}", revoked.effects);
    }

    #[test]
    fn a_finished_request_cannot_be_revoked() {
        let revoked = pending().approved().active(expiry()).revoked();
        assert_eq!(
            refuse(&revoked, revoke(), &bob(), at(400)),
            invalid(RequestState::Revoked, "revoked")
        );
    }

    #[test]
    fn an_approver_denies_a_pending_request() {
        let denied = apply(
            &pending(),
            Command::Deny {
                reason: Some(" not during the freeze ".to_owned()),
            },
            &bob(),
            at(30),
        );
        let request = &denied.request;
        assert_eq!(request.state, RequestState::Denied);
        assert_eq!(request.deny_reason.as_deref(), Some("not during the freeze"));
        assert_eq!(request.decided_at, Some(at(30)));
        assert_eq!(request.ended_at, Some(at(30)));
        assert_eq!(request.end_reason.as_deref(), Some("denied"));
        assert_eq!(request.credentials, CredentialsStatus::None);
        assert!(denied.effects.is_empty());
        assert_one_event(&denied, "request.denied", &bob());
    }

    #[test]
    fn only_a_pending_request_can_be_denied() {
        assert_eq!(
            refuse(&pending().approved(), deny(), &bob(), at(61)),
            invalid(RequestState::Approved, "denied")
        );
        assert_eq!(
            refuse(&pending().approved().active(expiry()), deny(), &bob(), at(300)),
            invalid(RequestState::Active, "denied")
        );
        let denied = pending().after(deny(), &bob(), at(30));
        assert_eq!(
            refuse(&denied, deny(), &carol(), at(31)),
            invalid(RequestState::Denied, "denied")
        );
    }

    #[test]
    fn a_stranger_cannot_deny() {
        assert_eq!(
            refuse(&pending(), deny(), &eve(), at(30)),
            DomainError::NotAnApprover {
                cluster: "prod".to_owned()
            }
        );
    }

    #[test]
    fn the_scheduler_expires_an_active_request_at_expires_at_not_before() {
        let active = pending().approved().active(expiry());
        let early = refuse(
            &active,
            Command::Expire,
            &Actor::System,
            expiry() - TimeDelta::seconds(1),
        );
        assert_eq!(early, DomainError::NotYetDue);
        assert_eq!(early.code(), "not_yet_due");

        let expired = apply(&active, Command::Expire, &Actor::System, expiry());
        assert_eq!(expired.request.state, RequestState::Expired);
        assert_eq!(expired.request.end_reason.as_deref(), Some("expired"));
        assert_eq!(expired.request.ended_at, Some(expiry()));
        assert_cleanup_queued(&expired);
        assert_one_event(&expired, "request.expired", &Actor::System);
    }

    #[test]
    fn only_the_scheduler_expires() {
        let active = pending().approved().active(expiry());
        for actor in [alice(), bob(), admin()] {
            let error = refuse(&active, Command::Expire, &actor, expiry());
            assert_eq!(error, DomainError::SystemOnly, "{}", actor.audit_name());
        }
        assert_eq!(
            refuse(&active, Command::Expire, &agent_of("prod"), expiry()),
            DomainError::SystemOnly
        );
        assert_eq!(DomainError::SystemOnly.code(), "system_only");
    }

    #[test]
    fn only_an_active_request_expires() {
        assert_eq!(
            refuse(
                &pending().approved(),
                Command::Expire,
                &Actor::System,
                at(100_000)
            ),
            invalid(RequestState::Approved, "expired")
        );
        assert_eq!(
            refuse(&pending(), Command::Expire, &Actor::System, at(100_000)),
            invalid(RequestState::Pending, "expired")
        );
    }

    #[test]
    fn auto_deny_is_refused_when_pending_expiry_is_off() {
        assert_eq!(policy().pending_expiry_seconds, 0);
        assert_eq!(
            refuse(&pending(), Command::AutoDeny, &Actor::System, at(1_000_000)),
            invalid(RequestState::Pending, "auto-denied")
        );
    }

    #[test]
    fn auto_deny_happens_after_pending_expiry_seconds() {
        let policy = policy_with(|policy| policy.pending_expiry_seconds = 1_800);
        let request = pending();
        assert_eq!(
            refuse_with(&policy, &request, Command::AutoDeny, &Actor::System, at(1_799)),
            DomainError::NotYetDue
        );
        let denied = apply_with(&policy, &request, Command::AutoDeny, &Actor::System, at(1_800));
        assert_eq!(denied.request.state, RequestState::Denied);
        assert_eq!(
            denied.request.deny_reason.as_deref(),
            Some("no decision within 1800 seconds")
        );
        assert_eq!(denied.request.end_reason.as_deref(), Some("pending_expired"));
        assert_eq!(denied.request.decided_at, Some(at(1_800)));
        assert_eq!(denied.request.credentials, CredentialsStatus::None);
        assert!(denied.effects.is_empty());
        assert_one_event(&denied, "request.denied", &Actor::System);
        assert_eq!(denied.events[0].details["auto"], true);
    }

    #[test]
    fn auto_deny_is_for_the_scheduler_and_for_pending_requests() {
        let policy = policy_with(|policy| policy.pending_expiry_seconds = 1_800);
        assert_eq!(
            refuse_with(&policy, &pending(), Command::AutoDeny, &bob(), at(1_800)),
            DomainError::SystemOnly
        );
        assert_eq!(
            refuse_with(
                &policy,
                &pending().approved(),
                Command::AutoDeny,
                &Actor::System,
                at(1_800)
            ),
            invalid(RequestState::Approved, "auto-denied")
        );
    }

    #[test]
    fn an_approved_request_fails_after_the_grant_timeout() {
        let approved = pending().approved();
        let timeout = approved_at() + seconds(policy().grant_timeout_seconds);
        assert_eq!(
            refuse(
                &approved,
                Command::GrantTimeout,
                &Actor::System,
                timeout - TimeDelta::seconds(1)
            ),
            DomainError::NotYetDue
        );
        let failed = apply(&approved, Command::GrantTimeout, &Actor::System, timeout);
        assert_eq!(failed.request.state, RequestState::Failed);
        assert_eq!(failed.request.end_reason.as_deref(), Some("grant_timeout"));
        assert_cleanup_queued(&failed);
        assert_one_event(&failed, "request.failed", &Actor::System);
    }

    #[test]
    fn the_grant_timeout_is_for_the_scheduler_and_approved_requests() {
        assert_eq!(
            refuse(&pending().approved(), Command::GrantTimeout, &bob(), at(1_000)),
            DomainError::SystemOnly
        );
        assert_eq!(
            refuse(
                &pending().approved().active(expiry()),
                Command::GrantTimeout,
                &Actor::System,
                at(1_000)
            ),
            invalid(RequestState::Active, "timed out")
        );
    }
}

// ---------------------------------------------------------------------------------------
// Agent reports: grant and cleanup results
// ---------------------------------------------------------------------------------------

mod agent_reports {
    use super::*;

    #[test]
    fn only_the_clusters_own_agent_reports_a_grant() {
        let approved = pending().approved();
        for actor in [
            agent_of("quorum"),
            agent_of("staging"),
            bob(),
            alice(),
            Actor::System,
        ] {
            let error = refuse(&approved, Command::GrantSucceeded, &actor, at(120));
            assert_eq!(error, DomainError::WrongAgent, "{}", actor.audit_name());
        }
        assert_eq!(DomainError::WrongAgent.code(), "wrong_agent");
        assert!(DomainError::WrongAgent.is_authorization_refusal());
    }

    #[test]
    fn a_wrong_agent_is_refused_whatever_it_reports() {
        let revoked = pending().approved().active(expiry()).revoked();
        for command in [
            Command::GrantSucceeded,
            grant_failed(),
            Command::CleanupSucceeded,
            cleanup_failed(),
        ] {
            let error = refuse(&revoked, command.clone(), &agent_of("quorum"), at(5_000));
            assert_eq!(error, DomainError::WrongAgent, "{command:?}");
        }
    }

    #[test]
    fn a_successful_grant_activates_the_request_for_its_ttl() {
        let granted = apply(
            &pending().approved(),
            Command::GrantSucceeded,
            &agent_of("prod"),
            at(120),
        );
        let request = &granted.request;
        assert_eq!(request.state, RequestState::Active);
        assert_eq!(request.credentials, CredentialsStatus::Live);
        assert_eq!(request.activated_at, Some(at(120)));
        assert_eq!(request.expires_at, Some(at(120) + seconds(3_600)));
        assert!(granted.effects.is_empty());
        assert_one_event(&granted, "grant.succeeded", &agent_of("prod"));
        assert_eq!(granted.events[0].actor, "agent:prod");
    }

    #[test]
    fn the_expiry_follows_the_approved_ttl() {
        let approved = pending().after(approve_with_ttl(7_200), &bob(), at(60));
        let granted = apply(&approved, Command::GrantSucceeded, &agent_of("prod"), at(120));
        assert_eq!(granted.request.expires_at, Some(at(120) + seconds(7_200)));
    }

    #[test]
    fn a_grant_that_lands_after_a_revoke_is_cleaned_up() {
        let revoked = pending().approved().revoked();
        assert_eq!(revoked.credentials, CredentialsStatus::Cleaning);
        let late = apply(&revoked, Command::GrantSucceeded, &agent_of("prod"), at(200));
        assert_eq!(late.request.state, RequestState::Revoked);
        assert_eq!(late.request.credentials, CredentialsStatus::Cleaning);
        assert_eq!(late.request.activated_at, None);
        assert!(late.effects.contains(&Effect::QueueCleanup), "{:?}", late.effects);
        assert_one_event(&late, "grant.succeeded", &agent_of("prod"));
        assert_eq!(late.events[0].details["afterEnd"], true);
    }

    #[test]
    fn a_grant_that_lands_after_the_cleanup_reopens_the_cleanup() {
        let cleaned = pending().approved().revoked().cleaned();
        assert_eq!(cleaned.credentials, CredentialsStatus::Cleaned);
        let late = apply(&cleaned, Command::GrantSucceeded, &agent_of("prod"), at(300));
        assert_eq!(late.request.credentials, CredentialsStatus::Cleaning);
        assert!(late.effects.contains(&Effect::QueueCleanup));
    }

    #[test]
    fn a_failed_grant_fails_an_approved_request_and_cleans_up_partial_work() {
        let failed = apply(&pending().approved(), grant_failed(), &agent_of("prod"), at(120));
        assert_eq!(failed.request.state, RequestState::Failed);
        assert_eq!(
            failed.request.end_reason.as_deref(),
            Some("rolebindings is forbidden")
        );
        assert_eq!(failed.request.ended_at, Some(at(120)));
        assert_cleanup_queued(&failed);
        assert_one_event(&failed, "grant.failed", &agent_of("prod"));
    }

    #[test]
    fn a_grant_error_is_clipped_to_1000_characters() {
        let long = Command::GrantFailed {
            error: "e".repeat(5_000),
        };
        let failed = apply(&pending().approved(), long, &agent_of("prod"), at(120));
        assert_eq!(
            failed.request.end_reason.map(|reason| reason.chars().count()),
            Some(1_000)
        );
    }

    #[test]
    fn a_failed_refresh_fails_an_active_request_and_cleans_up() {
        let active = pending().approved().active(expiry());
        let refresh = apply(&active, grant_failed(), &agent_of("prod"), at(300));
        assert_eq!(refresh.request.state, RequestState::Failed);
        assert_eq!(refresh.request.credentials, CredentialsStatus::Cleaning);
        assert_eq!(
            refresh.effects,
            vec![Effect::QueueCleanup, Effect::CloseTerminals]
        );
    }

    #[test]
    fn a_cleanup_result_settles_the_credentials_once() {
        let revoked = pending().approved().active(expiry()).revoked();
        let cleaned = apply(&revoked, Command::CleanupSucceeded, &agent_of("prod"), at(400));
        assert_eq!(cleaned.request.state, RequestState::Revoked);
        assert_eq!(cleaned.request.credentials, CredentialsStatus::Cleaned);
        assert!(cleaned.effects.is_empty());
        assert_one_event(&cleaned, "cleanup.succeeded", &agent_of("prod"));

        assert_eq!(
            refuse(
                &cleaned.request,
                Command::CleanupSucceeded,
                &agent_of("prod"),
                at(401)
            ),
            invalid(RequestState::Revoked, "cleaned up")
        );
        assert_eq!(
            refuse(&cleaned.request, cleanup_failed(), &agent_of("prod"), at(401)),
            invalid(RequestState::Revoked, "cleaned up")
        );
    }

    #[test]
    fn a_failed_cleanup_is_recorded_and_may_be_retried() {
        let revoked = pending().approved().active(expiry()).revoked();
        let failed = apply(&revoked, cleanup_failed(), &agent_of("prod"), at(400));
        assert_eq!(failed.request.credentials, CredentialsStatus::CleanupFailed);
        assert_one_event(&failed, "cleanup.failed", &agent_of("prod"));

        let failed_again = apply(&failed.request, cleanup_failed(), &agent_of("prod"), at(410));
        assert_eq!(failed_again.request.credentials, CredentialsStatus::CleanupFailed);
        let cleaned = apply(
            &failed_again.request,
            Command::CleanupSucceeded,
            &agent_of("prod"),
            at(420),
        );
        assert_eq!(cleaned.request.credentials, CredentialsStatus::Cleaned);
    }

    #[test]
    fn there_is_nothing_to_clean_on_a_live_request_or_one_that_never_had_credentials() {
        let active = pending().approved().active(expiry());
        assert_eq!(
            refuse(&active, Command::CleanupSucceeded, &agent_of("prod"), at(300)),
            invalid(RequestState::Active, "cleaned up")
        );
        let withdrawn = pending().after(Command::Withdraw, &alice(), at(30));
        assert_eq!(
            refuse(&withdrawn, Command::CleanupSucceeded, &agent_of("prod"), at(31)),
            invalid(RequestState::Withdrawn, "cleaned up")
        );
    }

    #[test]
    fn only_an_agent_reports_a_cleanup() {
        let revoked = pending().approved().active(expiry()).revoked();
        for actor in [bob(), Actor::System] {
            assert_eq!(
                refuse(&revoked, Command::CleanupSucceeded, &actor, at(400)),
                DomainError::WrongAgent
            );
        }
    }

    /// No grant work exists for a Pending request (it is queued on approval), so an agent
    /// report about one is nonsense and must be refused. Today it is accepted: the Pending
    /// request gets credentials `cleaning` and a cleanup is queued, and a later approval
    /// silently overwrites `cleaning` with `provisioning`.
    #[test]
    fn a_grant_report_on_a_pending_request_is_refused() {
        for command in [Command::GrantSucceeded, grant_failed()] {
            let result = transition(&pending(), &command, &agent_of("prod"), &policy(), at(30));
            assert_eq!(
                result.map(|accepted| (accepted.request.credentials, accepted.effects)),
                Err(invalid(RequestState::Pending, command.verb())),
                "{command:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Extensions
// ---------------------------------------------------------------------------------------

mod extensions {
    use super::*;

    fn active() -> AccessRequest {
        pending().approved().active(expiry())
    }

    #[test]
    fn the_requester_asks_for_more_time_on_an_active_request() {
        let asked = apply(&active(), extend(1_800), &alice(), at(300));
        let extension = asked.request.extension.as_ref().unwrap();
        assert_eq!(extension.ttl_seconds, 1_800);
        assert_eq!(extension.reason, "the incident is still open");
        assert_eq!(extension.requested_at, at(300));
        assert!(extension.approvals.is_empty());
        assert_eq!(asked.request.expires_at, Some(expiry()));
        assert_eq!(asked.request.extensions, 0);
        assert!(asked.effects.is_empty());
        assert_one_event(&asked, "extension.requested", &alice());
    }

    #[test]
    fn only_the_requester_asks_for_an_extension() {
        for actor in [bob(), admin(), Actor::System] {
            assert_eq!(
                refuse(&active(), extend(1_800), &actor, at(300)),
                DomainError::NotTheRequester,
                "{}",
                actor.audit_name()
            );
        }
    }

    #[test]
    fn only_an_active_request_is_extended() {
        assert_eq!(
            refuse(&pending(), extend(1_800), &alice(), at(30)),
            invalid(RequestState::Pending, "extended")
        );
        assert_eq!(
            refuse(&pending().approved(), extend(1_800), &alice(), at(61)),
            invalid(RequestState::Approved, "extended")
        );
        assert_eq!(
            refuse(&active().revoked(), extend(1_800), &alice(), at(5_000)),
            invalid(RequestState::Revoked, "extended")
        );
    }

    #[test]
    fn one_extension_waits_at_a_time() {
        let waiting = active().with_extension(1_800);
        let error = refuse(&waiting, extend(600), &alice(), at(400));
        assert_eq!(error, DomainError::ExtensionPending);
        assert_eq!(error.code(), "extension_pending");
    }

    #[test]
    fn an_extension_ttl_is_bounded_like_a_request_ttl() {
        for given in [599, 28_801] {
            assert_eq!(
                refuse(&active(), extend(given), &alice(), at(300)),
                DomainError::TtlOutOfBounds {
                    min: 600,
                    max: 28_800,
                    given
                }
            );
        }
        for ttl in [600, 28_800] {
            assert!(transition(&active(), &extend(ttl), &alice(), &policy(), at(300)).is_ok());
        }
        let blank = Command::RequestExtension {
            ttl_seconds: 1_800,
            reason: "  ".to_owned(),
        };
        assert_eq!(
            refuse(&active(), blank, &alice(), at(300)),
            DomainError::ReasonRequired
        );
    }

    #[test]
    fn the_requester_never_approves_their_own_extension() {
        let waiting = active().with_extension(1_800);
        assert_eq!(
            refuse(&waiting, Command::ApproveExtension, &alice(), at(400)),
            DomainError::SelfApproval
        );
        assert_eq!(
            refuse(&waiting, Command::ApproveExtension, &eve(), at(400)),
            DomainError::NotAnApprover {
                cluster: "prod".to_owned()
            }
        );
    }

    #[test]
    fn an_approved_extension_moves_the_expiry_and_re_grants() {
        let waiting = active().with_extension(1_800);
        let approved = apply(&waiting, Command::ApproveExtension, &bob(), at(400));
        assert_eq!(approved.request.expires_at, Some(expiry() + seconds(1_800)));
        assert_eq!(approved.request.extension, None);
        assert_eq!(approved.request.extensions, 1);
        assert_eq!(approved.request.state, RequestState::Active);
        assert_eq!(approved.request.credentials, CredentialsStatus::Live);
        assert_eq!(approved.effects, [Effect::QueueGrant]);
        assert_one_event(&approved, "extension.approved", &bob());

        // The re-minted tokens are reported like a grant; nothing else moves.
        let regranted = apply(
            &approved.request,
            Command::GrantSucceeded,
            &agent_of("prod"),
            at(401),
        );
        assert_eq!(regranted.request.state, RequestState::Active);
        assert_eq!(regranted.request.expires_at, Some(expiry() + seconds(1_800)));
        assert_eq!(regranted.request.activated_at, Some(at(120)));

        // Another extension may follow.
        let second = apply(&regranted.request, extend(600), &alice(), at(500));
        assert!(second.request.extension.is_some());
    }

    #[test]
    fn an_extension_needs_the_clusters_quorum() {
        let waiting = pending_on("quorum")
            .approved()
            .active(expiry())
            .with_extension(3_600);
        let first = apply(&waiting, Command::ApproveExtension, &bob(), at(400));
        assert_eq!(first.request.expires_at, Some(expiry()));
        assert_eq!(
            first.request.extension.as_ref().map(|e| e.approvals.len()),
            Some(1)
        );
        assert!(first.effects.is_empty());
        assert_one_event(&first, "extension.approval_recorded", &bob());

        assert_eq!(
            refuse(&first.request, Command::ApproveExtension, &bob(), at(401)),
            DomainError::AlreadyApproved
        );

        let second = apply(&first.request, Command::ApproveExtension, &carol(), at(402));
        assert_eq!(second.request.expires_at, Some(expiry() + seconds(3_600)));
        assert_eq!(second.request.extensions, 1);
        assert_eq!(second.effects, [Effect::QueueGrant]);
    }

    #[test]
    fn a_denied_extension_is_cleared_and_the_expiry_stays() {
        let waiting = active().with_extension(1_800);
        let denied = apply(&waiting, Command::DenyExtension { reason: None }, &bob(), at(400));
        assert_eq!(denied.request.extension, None);
        assert_eq!(denied.request.expires_at, Some(expiry()));
        assert_eq!(denied.request.extensions, 0);
        assert!(denied.effects.is_empty());
        assert_one_event(&denied, "extension.denied", &bob());

        assert_eq!(
            refuse(&denied.request, Command::ApproveExtension, &bob(), at(401)),
            DomainError::NoExtensionPending
        );
        assert_eq!(
            refuse(
                &denied.request,
                Command::DenyExtension { reason: None },
                &bob(),
                at(401)
            ),
            DomainError::NoExtensionPending
        );
        assert_eq!(
            refuse(&waiting, Command::DenyExtension { reason: None }, &eve(), at(400)),
            DomainError::NotAnApprover {
                cluster: "prod".to_owned()
            }
        );
    }

    #[test]
    fn there_must_be_an_extension_to_approve() {
        let error = refuse(&active(), Command::ApproveExtension, &bob(), at(300));
        assert_eq!(error, DomainError::NoExtensionPending);
        assert_eq!(error.code(), "no_extension_pending");
    }

    #[test]
    fn ending_a_request_drops_its_waiting_extension() {
        let revoked = active().with_extension(1_800).revoked();
        assert_eq!(revoked.extension, None);
        let expired = apply(
            &active().with_extension(1_800),
            Command::Expire,
            &Actor::System,
            expiry(),
        );
        assert_eq!(expired.request.extension, None);
    }
}

// ---------------------------------------------------------------------------------------
// Bookkeeping every accepted command shares, and the errors themselves
// ---------------------------------------------------------------------------------------

mod bookkeeping {
    use super::*;

    #[test]
    fn every_accepted_command_bumps_the_version_once_and_yields_one_event() {
        let policy = policy_with(|policy| policy.pending_expiry_seconds = 1_800);
        let active = pending().approved().active(expiry());
        let waiting = active.clone().with_extension(1_800);
        let revoked = active.clone().revoked();
        let late = pending().approved().revoked();
        let prod = agent_of("prod");
        let cases: Vec<(AccessRequest, Command, Actor, DateTime<Utc>, &str)> = vec![
            (pending(), approve(), bob(), at(60), "request.approved"),
            (
                pending_on("quorum"),
                approve(),
                bob(),
                at(60),
                "request.approval_recorded",
            ),
            (pending(), deny(), bob(), at(60), "request.denied"),
            (pending(), Command::Withdraw, alice(), at(60), "request.withdrawn"),
            (pending(), revoke(), carol(), at(60), "request.revoked"),
            (
                pending(),
                Command::AutoDeny,
                Actor::System,
                at(1_800),
                "request.denied",
            ),
            (
                pending().approved(),
                Command::GrantSucceeded,
                prod.clone(),
                at(120),
                "grant.succeeded",
            ),
            (
                pending().approved(),
                grant_failed(),
                prod.clone(),
                at(120),
                "grant.failed",
            ),
            (
                pending().approved(),
                Command::GrantTimeout,
                Actor::System,
                at(180),
                "request.failed",
            ),
            (
                active.clone(),
                Command::Expire,
                Actor::System,
                expiry(),
                "request.expired",
            ),
            (
                active.clone(),
                extend(600),
                alice(),
                at(300),
                "extension.requested",
            ),
            (
                waiting.clone(),
                Command::ApproveExtension,
                dave(),
                at(400),
                "extension.approved",
            ),
            (
                waiting,
                Command::DenyExtension { reason: None },
                admin(),
                at(400),
                "extension.denied",
            ),
            (
                revoked.clone(),
                Command::CleanupSucceeded,
                prod.clone(),
                at(5_000),
                "cleanup.succeeded",
            ),
            (
                revoked,
                cleanup_failed(),
                prod.clone(),
                at(5_000),
                "cleanup.failed",
            ),
            (late, Command::GrantSucceeded, prod, at(200), "grant.succeeded"),
        ];
        for (request, command, actor, now, action) in cases {
            let accepted = apply_with(&policy, &request, command, &actor, now);
            assert_eq!(accepted.request.version, request.version + 1, "{action}");
            assert_eq!(accepted.request.id, request.id);
            assert_one_event(&accepted, action, &actor);
        }
    }

    #[test]
    fn a_submission_starts_at_version_one() {
        assert_eq!(pending().version, 1);
        assert_eq!(pending().approved().version, 2);
        assert_eq!(pending_on("quorum").approved().active(expiry()).version, 4);
    }
}

mod errors {
    use super::*;

    /// One of each variant. The `match` below has no wildcard, so a new variant fails
    /// to compile until it is listed here.
    fn every_error() -> Vec<DomainError> {
        let errors = vec![
            DomainError::SelfApproval,
            DomainError::NotAnApprover {
                cluster: "prod".to_owned(),
            },
            DomainError::NotTheRequester,
            DomainError::AlreadyApproved,
            invalid(RequestState::Pending, "expired"),
            DomainError::StaleState {
                expected: RequestState::Pending,
                actual: RequestState::Approved,
            },
            DomainError::TtlOutOfBounds {
                min: 600,
                max: 28_800,
                given: 60,
            },
            DomainError::TtlNotAnOption {
                options: vec![3_600, 7_200],
            },
            DomainError::UnknownCluster {
                cluster: "staging".to_owned(),
            },
            DomainError::UnknownProfile {
                profile: "root".to_owned(),
            },
            DomainError::ExcludedNamespace {
                namespace: "kube-system".to_owned(),
            },
            DomainError::UnknownNamespace {
                cluster: "prod".to_owned(),
                namespace: "billing".to_owned(),
            },
            DomainError::InvalidNamespace {
                namespace: "Pay_ments".to_owned(),
            },
            DomainError::NoNamespaces,
            DomainError::DuplicateNamespace {
                namespace: "payments".to_owned(),
            },
            DomainError::ReasonRequired,
            DomainError::ReasonTooLong { max: 500 },
            DomainError::TooManyRequestsPerHour { limit: 10 },
            DomainError::TooManyLiveRequests { limit: 5 },
            DomainError::AlreadyLive {
                existing: other_request_id(),
                cluster: "prod".to_owned(),
                namespace: "payments".to_owned(),
            },
            DomainError::NotYetDue,
            DomainError::ExtensionPending,
            DomainError::NoExtensionPending,
            DomainError::WrongAgent,
            DomainError::NotAPerson,
            DomainError::SystemOnly,
        ];
        for error in &errors {
            match error {
                DomainError::SelfApproval
                | DomainError::NotAnApprover { .. }
                | DomainError::NotTheRequester
                | DomainError::AlreadyApproved
                | DomainError::InvalidTransition { .. }
                | DomainError::StaleState { .. }
                | DomainError::TtlOutOfBounds { .. }
                | DomainError::TtlNotAnOption { .. }
                | DomainError::UnknownCluster { .. }
                | DomainError::UnknownProfile { .. }
                | DomainError::ExcludedNamespace { .. }
                | DomainError::UnknownNamespace { .. }
                | DomainError::InvalidNamespace { .. }
                | DomainError::NoNamespaces
                | DomainError::DuplicateNamespace { .. }
                | DomainError::ReasonRequired
                | DomainError::ReasonTooLong { .. }
                | DomainError::TooManyRequestsPerHour { .. }
                | DomainError::TooManyLiveRequests { .. }
                | DomainError::AlreadyLive { .. }
                | DomainError::NotYetDue
                | DomainError::ExtensionPending
                | DomainError::NoExtensionPending
                | DomainError::WrongAgent
                | DomainError::NotAPerson
                | DomainError::SystemOnly => {}
            }
        }
        errors
    }

    #[test]
    fn every_error_has_a_distinct_snake_case_code() {
        let errors = every_error();
        let codes: BTreeSet<&str> = errors.iter().map(DomainError::code).collect();
        assert_eq!(codes.len(), errors.len(), "codes must be distinct: {codes:?}");
        for code in codes {
            assert!(
                !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code:?}"
            );
        }
    }

    #[test]
    fn every_error_message_is_one_sentence() {
        for error in every_error() {
            assert_one_sentence(&error);
        }
    }

    #[test]
    fn refusals_about_who_asked_are_authorization_refusals() {
        let authorization: BTreeSet<&str> = every_error()
            .iter()
            .filter(|error| error.is_authorization_refusal())
            .map(DomainError::code)
            .collect();
        assert_eq!(
            authorization,
            BTreeSet::from([
                "self_approval",
                "not_an_approver",
                "not_the_requester",
                "wrong_agent",
                "not_a_person",
                "system_only"
            ])
        );
    }

    #[test]
    fn an_invalid_transition_names_the_state_and_the_verb() {
        let error = refuse(&pending(), Command::Expire, &Actor::System, at(10));
        assert_eq!(error.to_string(), "A pending request cannot be expired.");
        assert_eq!(error.code(), "invalid_transition");
    }

    /// The message is shown to people ("A active request cannot be approved.").
    #[test]
    fn an_invalid_transition_message_uses_the_right_article() {
        for from in RequestState::ALL {
            let message = invalid(from, "approved").to_string();
            let article = if from.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) {
                "An"
            } else {
                "A"
            };
            assert_eq!(message, format!("{article} {from} request cannot be approved."));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Properties over random command sequences
// ---------------------------------------------------------------------------------------

mod properties {
    use proptest::prelude::*;
    use proptest::sample::select;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

    use super::*;

    /// The actor pool: the requester, three approvers, an admin, a stranger, the
    /// scheduler, the request's own agent and another cluster's agent.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Who {
        Requester,
        Bob,
        Carol,
        Dave,
        Admin,
        Stranger,
        System,
        RightAgent,
        WrongAgent,
    }

    impl Who {
        const ALL: [Who; 9] = [
            Who::Requester,
            Who::Bob,
            Who::Carol,
            Who::Dave,
            Who::Admin,
            Who::Stranger,
            Who::System,
            Who::RightAgent,
            Who::WrongAgent,
        ];

        fn actor(self, cluster: &str) -> Actor {
            match self {
                Who::Requester => alice(),
                Who::Bob => bob(),
                Who::Carol => carol(),
                Who::Dave => dave(),
                Who::Admin => admin(),
                Who::Stranger => eve(),
                Who::System => Actor::System,
                Who::RightAgent => agent_of(cluster),
                Who::WrongAgent => agent_of(if cluster == "prod" { "quorum" } else { "prod" }),
            }
        }
    }

    #[derive(Debug, Clone)]
    struct Step {
        command: Command,
        who: Who,
        /// Seconds the clock moves before the command.
        advance: u64,
    }

    #[derive(Debug, Clone)]
    struct Case {
        cluster: &'static str,
        requested_ttl: Option<u64>,
        pending_expiry_seconds: u64,
        steps: Vec<Step>,
    }

    /// Valid and invalid TTLs, for approvals and extensions alike (600 s to the maximum,
    /// and for approvals one of the options, is what is valid).
    fn any_ttl() -> impl Strategy<Value = u64> {
        prop_oneof![
            3 => select(vec![600, 1_800, 3_600, 7_200, 14_400, 28_800]),
            2 => select(vec![0, 1, 599, 601, 5_000, 28_801, 57_600, u64::MAX]),
            1 => 0_u64..40_000,
        ]
    }

    fn optional_reason() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            3 => select(vec![None, Some(String::new()), Some("   ".to_owned()), Some("ok".to_owned())]),
            1 => Just(Some("x".repeat(501))),
        ]
    }

    fn reason() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => select(vec!["need more time".to_owned(), "x".repeat(500)]),
            1 => select(vec![String::new(), " \t ".to_owned(), "x".repeat(501)]),
        ]
    }

    fn error_text() -> impl Strategy<Value = String> {
        select(vec![String::new(), "forbidden".to_owned(), "e".repeat(1_500)])
    }

    /// Commands weighted so that sequences often get past Pending: the ways out of a live
    /// request are rarer than the ways forward.
    fn command() -> impl Strategy<Value = Command> {
        prop_oneof![
            8 => (prop::option::weighted(0.3, any_ttl()), optional_reason())
                .prop_map(|(ttl_seconds, reason)| Command::Approve { ttl_seconds, reason }),
            1 => optional_reason().prop_map(|reason| Command::Deny { reason }),
            1 => Just(Command::Withdraw),
            1 => optional_reason().prop_map(|reason| Command::Revoke { reason }),
            2 => Just(Command::Expire),
            1 => Just(Command::AutoDeny),
            1 => Just(Command::GrantTimeout),
            5 => Just(Command::GrantSucceeded),
            1 => error_text().prop_map(|error| Command::GrantFailed { error }),
            2 => Just(Command::CleanupSucceeded),
            1 => error_text().prop_map(|error| Command::CleanupFailed { error }),
            5 => (any_ttl(), reason())
                .prop_map(|(ttl_seconds, reason)| Command::RequestExtension { ttl_seconds, reason }),
            5 => Just(Command::ApproveExtension),
            2 => optional_reason().prop_map(|reason| Command::DenyExtension { reason }),
        ]
    }

    /// Who would normally issue `command`, so that sequences get somewhere.
    fn usual_actor(command: &Command, approver: Who) -> Who {
        match command {
            Command::Approve { .. }
            | Command::Deny { .. }
            | Command::Revoke { .. }
            | Command::ApproveExtension
            | Command::DenyExtension { .. } => approver,
            Command::Withdraw | Command::RequestExtension { .. } => Who::Requester,
            Command::Expire | Command::AutoDeny | Command::GrantTimeout => Who::System,
            Command::GrantSucceeded
            | Command::GrantFailed { .. }
            | Command::CleanupSucceeded
            | Command::CleanupFailed { .. } => Who::RightAgent,
        }
    }

    fn step() -> impl Strategy<Value = Step> {
        let advance = prop_oneof![2 => Just(0_u64), 3 => 0_u64..300, 2 => 0_u64..40_000];
        let approver = select(vec![Who::Bob, Who::Carol, Who::Dave, Who::Admin]);
        let usual = prop_oneof![3 => Just(true), 1 => Just(false)];
        (command(), usual, select(Who::ALL.to_vec()), approver, advance).prop_map(
            |(command, usual, anyone, approver, advance)| {
                let who = if usual {
                    usual_actor(&command, approver)
                } else {
                    anyone
                };
                Step {
                    command,
                    who,
                    advance,
                }
            },
        )
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            select(vec!["prod", "quorum"]),
            select(vec![None, Some(600), Some(3_600), Some(28_800)]),
            select(vec![0_u64, 1_800]),
            prop::collection::vec(step(), 0..=40),
        )
            .prop_map(|(cluster, requested_ttl, pending_expiry_seconds, steps)| Case {
                cluster,
                requested_ttl,
                pending_expiry_seconds,
                steps,
            })
    }

    /// The state table of DESIGN §3, plus Active → Failed when a token refresh after an
    /// extension fails (ARCHITECTURE.md: fail closed).
    const LEGAL_MOVES: [(RequestState, RequestState); 12] = [
        (RequestState::Pending, RequestState::Approved),
        (RequestState::Pending, RequestState::Denied),
        (RequestState::Pending, RequestState::Revoked),
        (RequestState::Pending, RequestState::Withdrawn),
        (RequestState::Approved, RequestState::Active),
        (RequestState::Approved, RequestState::Failed),
        (RequestState::Approved, RequestState::Revoked),
        (RequestState::Approved, RequestState::Withdrawn),
        (RequestState::Active, RequestState::Expired),
        (RequestState::Active, RequestState::Failed),
        (RequestState::Active, RequestState::Revoked),
        (RequestState::Active, RequestState::Withdrawn),
    ];

    /// Commands that may be accepted without moving the state, and where.
    fn may_keep_state(command: &Command, state: RequestState) -> bool {
        match command {
            Command::Approve { .. } => state == RequestState::Pending,
            Command::GrantSucceeded => state == RequestState::Active || state.is_terminal(),
            Command::GrantFailed { .. } => state.is_terminal(),
            Command::CleanupSucceeded | Command::CleanupFailed { .. } => state.is_terminal(),
            Command::RequestExtension { .. } | Command::ApproveExtension | Command::DenyExtension { .. } => {
                state == RequestState::Active
            }
            Command::Deny { .. }
            | Command::Withdraw
            | Command::Revoke { .. }
            | Command::Expire
            | Command::AutoDeny
            | Command::GrantTimeout => false,
        }
    }

    /// Whether an agent's grant report on a Pending request is generated. It is a known
    /// bug (see `agent_reports::a_grant_report_on_a_pending_request_is_refused`) that the
    /// domain accepts one, so the main property leaves those steps out.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Mode {
        SkipGrantReportsWhilePending,
        Everything,
    }

    /// What a run went through, to show the generator reaches every corner.
    #[derive(Debug, Default)]
    struct Coverage {
        states: BTreeMap<&'static str, usize>,
        actions: BTreeMap<&'static str, usize>,
    }

    /// What the run remembers between steps.
    struct Model {
        policy: Policy,
        requester: Principal,
        required: usize,
        reached_approved: bool,
        /// Seconds added to `expires_at` by approved extensions.
        extended_seconds: u64,
    }

    fn run(case: &Case, mode: Mode, coverage: &mut Coverage) -> Result<(), TestCaseError> {
        let policy = policy_with(|policy| policy.pending_expiry_seconds = case.pending_expiry_seconds);
        let draft = draft_with(|draft| {
            draft.cluster = case.cluster.to_owned();
            draft.ttl_seconds = case.requested_ttl;
        });
        let submitted = try_submit_with(draft, &policy, None, &UserActivity::default())
            .map_err(|error| TestCaseError::fail(format!("submit refused: {error}")))?;
        let mut request = submitted.request;
        let mut model = Model {
            required: policy.approvals_required(&request.cluster) as usize,
            requester: request.requester.clone(),
            policy,
            reached_approved: false,
            extended_seconds: 0,
        };
        let mut clock = now();
        *coverage.states.entry(request.state.as_str()).or_default() += 1;
        check_request(&request, &model)?;

        for step in &case.steps {
            clock += seconds(step.advance);
            let actor = step.who.actor(&request.cluster);
            let grant_report = matches!(
                step.command,
                Command::GrantSucceeded | Command::GrantFailed { .. }
            );
            if mode == Mode::SkipGrantReportsWhilePending
                && grant_report
                && step.who == Who::RightAgent
                && request.state == RequestState::Pending
            {
                continue;
            }
            let attempt = request.clone();
            match transition(&attempt, &step.command, &actor, &model.policy, clock) {
                Ok(accepted) => {
                    check_accepted(&request, &accepted, step, &actor, clock, &mut model)?;
                    *coverage
                        .actions
                        .entry(accepted.events[0].action.as_str())
                        .or_default() += 1;
                    request = accepted.request;
                }
                Err(error) => {
                    prop_assert_eq!(&attempt, &request, "a refused command changed the request");
                    check_refused(&request, step, &error, clock)?;
                }
            }
            *coverage.states.entry(request.state.as_str()).or_default() += 1;
            check_request(&request, &model)?;
        }
        Ok(())
    }

    /// Checks one accepted command: the move, its effects and its bookkeeping.
    fn check_accepted(
        before: &AccessRequest,
        accepted: &Transition,
        step: &Step,
        actor: &Actor,
        now: DateTime<Utc>,
        model: &mut Model,
    ) -> Result<(), TestCaseError> {
        let after = &accepted.request;
        let (from, to) = (before.state, after.state);
        let command = &step.command;

        // Bookkeeping: one version, one event, the right names.
        prop_assert_eq!(after.version, before.version + 1);
        prop_assert_eq!(accepted.events.len(), 1);
        let event = &accepted.events[0];
        prop_assert_eq!(&event.actor, &actor.audit_name());
        prop_assert_eq!(event.request_id.as_ref(), Some(&before.id));
        prop_assert_eq!(event.cluster.as_deref(), Some(before.cluster.as_str()));
        prop_assert_eq!(&after.id, &before.id);
        prop_assert_eq!(&after.requester, &before.requester);
        prop_assert_eq!(&after.cluster, &before.cluster);
        prop_assert_eq!(&after.namespaces, &before.namespaces);

        // Nobody outside the request's circle gets anything done.
        prop_assert!(
            step.who != Who::Stranger,
            "the stranger's {:?} was accepted",
            command
        );
        prop_assert!(
            step.who != Who::WrongAgent,
            "another cluster's agent's {:?} was accepted",
            command
        );

        // Only legal state moves.
        if from == to {
            prop_assert!(
                may_keep_state(command, from),
                "{:?} was accepted on a {} request without moving it",
                command,
                from
            );
        } else {
            prop_assert!(
                LEGAL_MOVES.contains(&(from, to)),
                "illegal move {} → {} by {:?}",
                from,
                to,
                command
            );
        }
        if from.is_terminal() {
            prop_assert_eq!(to, from, "a terminal state changed");
        }

        // Who may cause which move.
        match (from, to) {
            (RequestState::Pending, RequestState::Approved) => {
                prop_assert!(
                    matches!(command, Command::Approve { .. }),
                    "approved by {:?}",
                    command
                );
                prop_assert_ne!(actor.person(), Some(&model.requester));
                prop_assert_eq!(after.credentials, CredentialsStatus::Provisioning);
                prop_assert_eq!(after.decided_at, Some(now));
                prop_assert!(accepted.effects.contains(&Effect::QueueGrant));
                model.reached_approved = true;
            }
            (RequestState::Approved, RequestState::Active) => {
                prop_assert!(
                    matches!(actor, Actor::Agent { cluster } if cluster == &before.cluster),
                    "activated by {}",
                    actor.audit_name()
                );
                prop_assert_eq!(after.credentials, CredentialsStatus::Live);
                prop_assert_eq!(after.activated_at, Some(now));
                prop_assert_eq!(after.expires_at, Some(now + seconds(after.ttl_seconds)));
            }
            (_, RequestState::Withdrawn) if from != to => {
                prop_assert_eq!(actor.person(), Some(&model.requester));
            }
            (RequestState::Active, RequestState::Expired) => {
                prop_assert_eq!(actor, &Actor::System);
                prop_assert!(before.expires_at.is_some_and(|expires_at| expires_at <= now));
            }
            _ => {}
        }

        // Effects of ending.
        if from.is_live() && to.is_terminal() {
            prop_assert_eq!(after.ended_at, Some(now));
            if from == RequestState::Pending {
                prop_assert!(
                    !accepted.effects.contains(&Effect::QueueCleanup),
                    "{} from Pending queued a cleanup",
                    to
                );
                prop_assert_eq!(after.credentials, CredentialsStatus::None);
            } else {
                prop_assert!(accepted.effects.contains(&Effect::QueueCleanup));
                prop_assert!(accepted.effects.contains(&Effect::CloseTerminals));
                prop_assert_eq!(after.credentials, CredentialsStatus::Cleaning);
            }
        }
        // A grant report after the end: whatever was made must go again.
        if from.is_terminal() && matches!(command, Command::GrantSucceeded | Command::GrantFailed { .. }) {
            prop_assert!(accepted.effects.contains(&Effect::QueueCleanup));
            prop_assert_eq!(after.credentials, CredentialsStatus::Cleaning);
        }
        // Grant work is queued on approval and on an approved extension, nowhere else.
        if accepted.effects.contains(&Effect::QueueGrant) {
            prop_assert!(
                (from, to) == (RequestState::Pending, RequestState::Approved)
                    || event.action.as_str() == "extension.approved",
                "grant queued by {:?} ({} → {})",
                command,
                from,
                to
            );
        }

        // Extensions.
        if event.action.as_str() == "extension.approved" {
            let extension = before.extension.as_ref();
            prop_assert!(extension.is_some());
            let ttl = extension.map_or(0, |extension| extension.ttl_seconds);
            prop_assert_eq!(after.expires_at, before.expires_at.map(|at| at + seconds(ttl)));
            prop_assert_eq!(after.extensions, before.extensions + 1);
            model.extended_seconds += ttl;
        } else {
            prop_assert_eq!(after.extensions, before.extensions);
            if to == from {
                prop_assert_eq!(after.expires_at, before.expires_at);
            }
        }
        Ok(())
    }

    /// Checks a refusal: the ways out of a request must never be refused.
    fn check_refused(
        request: &AccessRequest,
        step: &Step,
        error: &DomainError,
        now: DateTime<Utc>,
    ) -> Result<(), TestCaseError> {
        if step.who == Who::WrongAgent {
            prop_assert_eq!(error, &DomainError::WrongAgent);
        }
        let must_accept = match (&step.command, step.who) {
            (Command::Withdraw, Who::Requester) => request.state.is_live(),
            (Command::Expire, Who::System) => {
                request.state == RequestState::Active
                    && request.expires_at.is_some_and(|expires_at| expires_at <= now)
            }
            (Command::CleanupSucceeded, Who::RightAgent) => {
                request.state.is_terminal() && !request.credentials.is_settled()
            }
            (Command::GrantSucceeded, Who::RightAgent) => request.state == RequestState::Approved,
            _ => false,
        };
        prop_assert!(
            !must_accept,
            "{:?} by {:?} on a {} request ({}) was refused: {}",
            step.command,
            step.who,
            request.state,
            request.credentials,
            error
        );
        Ok(())
    }

    /// What must hold of a request at every step.
    fn check_request(request: &AccessRequest, model: &Model) -> Result<(), TestCaseError> {
        let policy = &model.policy;
        let state = request.state;

        // Credentials follow the state.
        match state {
            RequestState::Pending => prop_assert_eq!(request.credentials, CredentialsStatus::None),
            RequestState::Approved => prop_assert_eq!(request.credentials, CredentialsStatus::Provisioning),
            RequestState::Active => prop_assert_eq!(request.credentials, CredentialsStatus::Live),
            _ => prop_assert!(
                !matches!(
                    request.credentials,
                    CredentialsStatus::Live | CredentialsStatus::Provisioning
                ),
                "a {} request has credentials {}",
                state,
                request.credentials
            ),
        }

        // Ending is recorded; a live request has not ended.
        if state.is_terminal() {
            prop_assert!(request.ended_at.is_some());
            prop_assert!(request.end_reason.is_some());
            prop_assert!(request.extension.is_none());
        } else {
            prop_assert!(request.ended_at.is_none());
            prop_assert!(request.end_reason.is_none());
        }

        // Approvals: never the requester, never twice, and a quorum before approval.
        let approvers: BTreeSet<&Principal> = request.approvals.iter().map(|a| &a.by).collect();
        prop_assert_eq!(
            approvers.len(),
            request.approvals.len(),
            "an approver counted twice"
        );
        prop_assert!(!approvers.contains(&model.requester), "the requester approved");
        for approver in &approvers {
            prop_assert!(policy.is_approver(approver, &request.cluster));
        }
        if state == RequestState::Pending {
            prop_assert!(approvers.len() < model.required);
        }
        if model.reached_approved {
            prop_assert!(approvers.len() >= model.required);
        }
        prop_assert_eq!(
            model.reached_approved,
            matches!(
                state,
                RequestState::Approved | RequestState::Active | RequestState::Expired | RequestState::Failed
            ) || request.decided_at.is_some() && approvers.len() >= model.required
        );
        if let Some(extension) = &request.extension {
            prop_assert_eq!(state, RequestState::Active);
            let extension_approvers: BTreeSet<&Principal> =
                extension.approvals.iter().map(|a| &a.by).collect();
            prop_assert_eq!(extension_approvers.len(), extension.approvals.len());
            prop_assert!(!extension_approvers.contains(&model.requester));
            prop_assert!(extension_approvers.len() < model.required);
            prop_assert!((MIN_TTL_SECONDS..=policy.max_ttl_seconds).contains(&extension.ttl_seconds));
        }

        // TTLs within bounds; the expiry is the TTL plus the approved extensions.
        let bounds = MIN_TTL_SECONDS..=policy.max_ttl_seconds;
        prop_assert!(
            bounds.contains(&request.ttl_seconds),
            "ttl {}",
            request.ttl_seconds
        );
        prop_assert!(bounds.contains(&request.requested_ttl_seconds));
        match (request.activated_at, request.expires_at) {
            (Some(activated_at), Some(expires_at)) => {
                let granted = expires_at - activated_at;
                prop_assert_eq!(granted, seconds(request.ttl_seconds + model.extended_seconds));
                let most = request.ttl_seconds + u64::from(request.extensions) * policy.max_ttl_seconds;
                prop_assert!(granted <= seconds(most));
            }
            (None, None) => {
                prop_assert!(!matches!(state, RequestState::Active | RequestState::Expired));
                prop_assert_eq!(request.extensions, 0);
            }
            (activated_at, expires_at) => {
                prop_assert!(false, "activated {:?} but expires {:?}", activated_at, expires_at);
            }
        }
        Ok(())
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 512,
            // A failure prints the shrunk case; turn it into a unit test above.
            failure_persistence: None,
            // ChaCha is slow without optimisations; XorShift keeps the suite fast.
            rng_algorithm: RngAlgorithm::XorShift,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn random_command_sequences_keep_the_invariants(case in case()) {
            run(&case, Mode::SkipGrantReportsWhilePending, &mut Coverage::default())?;
        }

        #[test]
        fn random_command_sequences_keep_the_invariants_with_grant_reports_while_pending(case in case()) {
            run(&case, Mode::Everything, &mut Coverage::default())?;
        }
    }

    /// The generator is not vacuous: over a fixed-seed sample it reaches every state and
    /// the interesting corners of the state machine.
    #[test]
    fn generated_sequences_reach_every_state() {
        let mut runner =
            TestRunner::new_with_rng(config(), TestRng::deterministic_rng(RngAlgorithm::XorShift));
        let mut coverage = Coverage::default();
        for _ in 0..512 {
            let case = case().new_tree(&mut runner).unwrap().current();
            run(&case, Mode::SkipGrantReportsWhilePending, &mut coverage).unwrap();
        }
        for state in RequestState::ALL {
            assert!(
                coverage.states.contains_key(state.as_str()),
                "never reached {state}: {coverage:?}"
            );
        }
        for action in [
            "request.approval_recorded",
            "request.approved",
            "grant.succeeded",
            "grant.failed",
            "request.expired",
            "extension.requested",
            "extension.approval_recorded",
            "extension.approved",
            "extension.denied",
            "cleanup.succeeded",
            "cleanup.failed",
        ] {
            assert!(
                coverage.actions.contains_key(action),
                "never saw {action}: {coverage:?}"
            );
        }
    }
}

mod questions;
