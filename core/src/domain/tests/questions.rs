//! The questions every entry point asks (`questions.rs`): visibility, TTL choices,
//! requestable namespaces, link lifetimes and the actions a person may take.

use super::*;

fn member(email: &str, groups: &[&str]) -> Actor {
    Actor::Member {
        principal: principal(email),
        groups: groups.iter().map(|group| (*group).to_owned()).collect(),
    }
}

/// `policy()` where members of the `sre` group approve prod (erin is one; she is not listed).
fn policy_with_groups() -> Policy {
    policy_with(|policy| {
        policy
            .approver_groups
            .insert("prod".to_owned(), BTreeSet::from(["sre".to_owned()]));
    })
}

fn erin() -> Actor {
    member("erin@example.com", &["sre"])
}

#[test]
fn the_approver_ttl_menu_offers_exactly_what_an_approval_accepts() {
    // 300 s is below the TokenRequest minimum and 36 000 s above the maximum: the copies in the
    // chat card and the dashboard used to offer 300 s, which the domain then refused.
    let policy = policy_with(|policy| {
        policy.approval_ttl_options = vec![7_200, 300, 3_600, 36_000, 3_600];
        policy.max_ttl_seconds = 28_800;
    });
    let choices = policy.approval_ttl_choices();
    assert_eq!(choices, [3_600, 7_200]);
    for ttl in &choices {
        apply_with(&policy, &pending(), approve_with_ttl(*ttl), &bob(), at(60));
    }
    for ttl in [300, 36_000] {
        assert!(matches!(
            refuse_with(&policy, &pending(), approve_with_ttl(ttl), &bob(), at(60)),
            DomainError::TtlNotAnOption { .. }
        ));
    }
}

#[test]
fn the_request_menu_adds_the_default_sorted_and_bounded() {
    let policy = policy_with(|policy| {
        policy.approval_ttl_options = vec![14_400, 7_200];
        policy.default_ttl_seconds = 1_800;
    });
    assert_eq!(policy.request_ttl_choices(), [1_800, 7_200, 14_400]);
    for ttl in policy.request_ttl_choices() {
        let draft = draft_with(|draft| draft.ttl_seconds = Some(ttl));
        try_submit_with(draft, &policy, None, &UserActivity::default()).unwrap();
    }
    // A default already among the options is not offered twice.
    let policy = policy_with(|policy| policy.default_ttl_seconds = 7_200);
    assert_eq!(policy.request_ttl_choices(), [3_600, 7_200, 14_400, 28_800]);
}

#[test]
fn the_requester_approvers_by_email_or_group_and_admins_see_a_request() {
    let policy = policy_with_groups();
    let request = pending();
    for actor in [alice(), bob(), erin(), admin()] {
        assert!(
            policy.may_see(&actor, &request),
            "{} should see it",
            actor.audit_name()
        );
    }
    for actor in [eve(), member("eve@example.com", &["dev"]), Actor::System] {
        assert!(
            !policy.may_see(&actor, &request),
            "{} must not see it",
            actor.audit_name()
        );
    }
    // A group approves only its own clusters.
    assert!(!policy.may_see(&erin(), &pending_on("quorum")));
    assert_eq!(
        policy.approvable_clusters(&erin()),
        BTreeSet::from(["prod".to_owned()])
    );
    assert_eq!(policy.approvable_clusters(&admin()).len(), 2);
}

#[test]
fn excluded_namespaces_are_never_requestable() {
    let policy = policy();
    let reported = namespaces(&["payments", "kube-system", "checkout", "janus", "payments"]);
    assert_eq!(policy.requestable_namespaces(reported), ["payments", "checkout"]);
    assert!(!policy.namespace_requestable("kube-public"));
}

#[test]
fn a_link_lives_until_the_grant_ends_or_links_ttl_whichever_is_first() {
    let policy = policy_with(|policy| policy.link_ttl_seconds = 900);
    let active = pending().approved().active(expiry());
    let signed_at = at(200);
    assert_eq!(policy.link_expiry(&active, signed_at), Some(at(200 + 900)));
    let near_the_end = expiry() - TimeDelta::seconds(60);
    assert_eq!(policy.link_expiry(&active, near_the_end), Some(expiry()));
    assert_eq!(policy.link_expiry(&pending(), signed_at), None);
    assert_eq!(policy.link_expiry(&pending().approved(), signed_at), None);
    assert_eq!(policy.link_expiry(&active.revoked(), signed_at), None);
}

#[test]
fn a_group_approver_and_a_listed_approver_get_the_same_actions() {
    let policy = policy_with_groups();
    let pending = pending();
    let by_group = available_actions(&pending, &erin(), &policy, at(60));
    let by_email = available_actions(&pending, &bob(), &policy, at(60));
    assert_eq!(by_group, [Action::Approve, Action::Deny]);
    assert_eq!(by_group, by_email);

    let active = pending.approved().active(expiry());
    assert_eq!(
        available_actions(&active, &erin(), &policy, at(200)),
        available_actions(&active, &bob(), &policy, at(200))
    );
    let extended = active.with_extension(1_800);
    assert_eq!(
        available_actions(&extended, &erin(), &policy, at(300)),
        [Action::ApproveExtension, Action::DenyExtension, Action::Revoke]
    );
}

#[test]
fn each_person_gets_only_their_own_actions() {
    let policy = policy();
    let quorum = pending_on("quorum");
    assert_eq!(
        available_actions(&quorum, &alice(), &policy, at(60)),
        [Action::Withdraw]
    );
    assert!(available_actions(&quorum, &eve(), &policy, at(60)).is_empty());
    assert!(available_actions(&quorum, &Actor::System, &policy, at(60)).is_empty());
    // Bob approved already: he may still deny, not approve twice.
    let once = quorum.after(approve(), &bob(), at(60));
    assert_eq!(available_actions(&once, &bob(), &policy, at(61)), [Action::Deny]);
    assert_eq!(
        available_actions(&once, &carol(), &policy, at(61)),
        [Action::Approve, Action::Deny]
    );

    let active = pending().approved().active(expiry());
    assert_eq!(
        available_actions(&active, &alice(), &policy, at(200)),
        [Action::Extend, Action::Withdraw]
    );
    assert_eq!(
        available_actions(&active, &bob(), &policy, at(200)),
        [Action::Revoke]
    );
    // Nothing is left to do once it ended, for anyone.
    let withdrawn = pending_on("prod").after(Command::Withdraw, &alice(), at(1));
    for actor in [alice(), bob(), admin()] {
        assert!(available_actions(&withdrawn, &actor, &policy, at(2)).is_empty());
    }
}

#[test]
fn the_card_offers_every_action_someone_may_take_and_nothing_after_the_end() {
    let policy = policy();
    let pending = pending();
    assert_eq!(
        card_actions(&pending),
        [Action::Approve, Action::Deny, Action::Withdraw]
    );
    let approved = pending.approved();
    assert_eq!(card_actions(&approved), [Action::Revoke, Action::Withdraw]);
    let active = approved.active(expiry());
    assert_eq!(
        card_actions(&active),
        [Action::Revoke, Action::Extend, Action::Withdraw]
    );
    let extended = active.clone().with_extension(1_800);
    assert_eq!(
        card_actions(&extended),
        [
            Action::ApproveExtension,
            Action::DenyExtension,
            Action::Revoke,
            Action::Withdraw
        ]
    );
    assert!(card_actions(&active.revoked()).is_empty());
    // Whatever a person is offered, the card offers too.
    for request in [pending_on("prod"), pending_on("prod").approved(), extended] {
        for actor in [alice(), bob(), admin(), eve()] {
            for action in available_actions(&request, &actor, &policy, at(300)) {
                assert!(card_actions(&request).contains(&action));
            }
        }
    }
}

#[test]
fn a_grant_ends_when_its_claim_said_not_when_the_report_arrives() {
    let approved = pending().approved();
    let end = fix_grant_end(&approved, at(90)).unwrap();
    assert_eq!(end, at(90 + 3_600));
    let mut claimed = approved;
    claimed.expires_at = Some(end);
    // Fixed once: a second claim (a lost lease) does not move it.
    assert_eq!(fix_grant_end(&claimed, at(95)), None);
    let active = apply(&claimed, Command::GrantSucceeded, &agent_of("prod"), at(130)).request;
    assert_eq!(active.activated_at, Some(at(130)));
    assert_eq!(active.expires_at, Some(end));
    assert_eq!(fix_grant_end(&active, at(200)), None);
    // Only an approved extension moves it, by exactly the extension.
    let extended = active
        .with_extension(1_800)
        .after(Command::ApproveExtension, &bob(), at(300));
    assert_eq!(extended.expires_at, Some(end + TimeDelta::seconds(1_800)));
}
