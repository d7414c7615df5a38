//! The store conformance suite (both backends): what every backend must do identically.

use chrono::TimeDelta;
use janus_core::clock::Clock;
use janus_core::domain::{Actor, Command, CredentialsStatus, DomainError, RequestState};
use janus_core::queue::{Completion, WorkKind, WorkOutcome};
use janus_core::store::RequestFilter;
use janus_core::workflow::WorkflowError;

use crate::support::{TestApp, both_backends, draft, person};

both_backends!(
    round_trip_keeps_every_field,
    list_filters_by_state_cluster_and_requester,
    refused_and_stale_commands_write_nothing,
    work_is_claimed_in_order_with_leases,
    an_expired_lease_is_reclaimed_and_the_old_token_refused,
    completion_is_idempotent,
    work_belongs_to_its_cluster,
    grant_work_of_an_ended_request_is_skipped,
    failed_cleanup_is_retried_after_backoff,
    reported_namespaces_gate_submissions,
    limits_hold_under_concurrent_submissions,
    retention_purges_only_settled_requests,
    a_batch_applies_only_to_requests_still_in_the_expected_state,
    discord_links_are_single_use_and_removable_by_their_owner,
    quick_commands_are_kept_per_cluster_with_unique_names_and_audited,
);

async fn round_trip_keeps_every_field(env: &TestApp) {
    let submitted = env.submit("Alice@Example.com", &["payments", "checkout"]).await;
    let stored = env.workflow.get(&submitted.id).await.unwrap();
    assert_eq!(stored, submitted);
    assert_eq!(stored.requester.as_str(), "alice@example.com");
    assert_eq!(stored.namespaces, ["payments", "checkout"]);
    assert_eq!(stored.created_at, env.clock.now());

    env.clock.advance(std::time::Duration::from_micros(1_234_567));
    let approved = env
        .workflow
        .execute(
            &stored.id,
            Some(RequestState::Pending),
            Command::Approve {
                ttl_seconds: Some(7_200),
                reason: Some("  on call  ".into()),
            },
            &Actor::Person(person("bob@example.com")),
        )
        .await
        .unwrap();
    let stored = env.workflow.get(&approved.id).await.unwrap();
    assert_eq!(
        stored, approved,
        "what the workflow returns is what was stored, to the microsecond"
    );
    assert_eq!(stored.ttl_seconds, 7_200);
    assert_eq!(stored.approvals[0].reason.as_deref(), Some("on call"));
    assert_eq!(stored.credentials, CredentialsStatus::Provisioning);
    assert_eq!(
        env.audit_actions(&stored).await,
        ["request.submitted", "request.approved"]
    );
}

async fn list_filters_by_state_cluster_and_requester(env: &TestApp) {
    let first = env.submit("alice@example.com", &["payments"]).await;
    let second = env.submit("erin@example.com", &["payments"]).await;
    env.approve(&second, "carol@example.com").await;
    let quorum = env.submit_on("alice@example.com", "quorum", &["web"]).await;

    let ids = |requests: Vec<janus_core::domain::AccessRequest>| {
        let mut ids: Vec<String> = requests
            .into_iter()
            .map(|request| request.id.to_string())
            .collect();
        ids.sort();
        ids
    };
    let mut expected = vec![first.id.to_string(), quorum.id.to_string()];
    expected.sort();
    let pending = RequestFilter {
        state: Some(RequestState::Pending),
        ..Default::default()
    };
    assert_eq!(ids(env.store.list_requests(&pending).await.unwrap()), expected);
    let by_cluster = RequestFilter {
        cluster: Some("quorum".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(env.store.list_requests(&by_cluster).await.unwrap()),
        [quorum.id.to_string()]
    );
    let by_requester = RequestFilter {
        requester: Some("erin@example.com".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(env.store.list_requests(&by_requester).await.unwrap()),
        [second.id.to_string()]
    );
    assert_eq!(
        env.store
            .list_requests(&RequestFilter::default())
            .await
            .unwrap()
            .len(),
        3
    );
    let counts = env.store.count_by_state().await.unwrap();
    assert!(counts.contains(&("pending".to_owned(), 2)) && counts.contains(&("approved".to_owned(), 1)));
}

async fn refused_and_stale_commands_write_nothing(env: &TestApp) {
    let request = env.submit("alice@example.com", &["payments"]).await;
    let (head_before, _) = env.store.audit_head().await.unwrap();

    let self_approval = env
        .workflow
        .execute(
            &request.id,
            None,
            Command::Approve {
                ttl_seconds: None,
                reason: None,
            },
            &Actor::Person(person("alice@example.com")),
        )
        .await;
    assert!(matches!(
        self_approval,
        Err(WorkflowError::Refused(DomainError::SelfApproval))
    ));
    let stale = env
        .workflow
        .execute(
            &request.id,
            Some(RequestState::Active),
            Command::Revoke { reason: None },
            &Actor::Person(person("bob@example.com")),
        )
        .await;
    assert!(matches!(
        stale,
        Err(WorkflowError::Refused(DomainError::StaleState {
            expected: RequestState::Active,
            actual: RequestState::Pending
        }))
    ));

    assert_eq!(
        env.workflow.get(&request.id).await.unwrap(),
        request,
        "the request is untouched"
    );
    assert!(env.claim("prod").await.is_none(), "no work was queued");
    let (head_after, _) = env.store.audit_head().await.unwrap();
    assert_eq!(
        head_after,
        head_before + 1,
        "only the authorization refusal is audited"
    );
    let events = env.store.audit_page(head_before, 10).await.unwrap();
    assert_eq!(events[0].action, "command.refused");
    assert_eq!(events[0].actor, "alice@example.com");
    assert_eq!(events[0].details["code"], "self_approval");

    let missing = janus_core::domain::RequestId::parse("jr-aaaaaaaa").unwrap();
    let result = env
        .workflow
        .execute(
            &missing,
            None,
            Command::Withdraw,
            &Actor::Person(person("alice@example.com")),
        )
        .await;
    assert!(matches!(result, Err(WorkflowError::NotFound(_))));
}

async fn work_is_claimed_in_order_with_leases(env: &TestApp) {
    let first = env.submit("alice@example.com", &["payments"]).await;
    let second = env.submit("erin@example.com", &["payments"]).await;
    env.approve(&first, "bob@example.com").await;
    env.approve(&second, "bob@example.com").await;

    let one = env.claim("prod").await.unwrap();
    let two = env.claim("prod").await.unwrap();
    assert_eq!(
        (one.request_id.clone(), one.kind, one.attempt),
        (first.id.clone(), WorkKind::Grant, 1)
    );
    assert_eq!(two.request_id, second.id);
    assert_ne!(one.lease_token, two.lease_token);
    assert!(
        env.claim("prod").await.is_none(),
        "leased work is not handed out twice"
    );

    // A revoke while the grant is leased queues cleanup behind it: not claimable until
    // the grant is finished, so cleanup can never run before the objects exist.
    env.workflow
        .execute(
            &first.id,
            None,
            Command::Revoke { reason: None },
            &Actor::Person(person("bob@example.com")),
        )
        .await
        .unwrap();
    assert!(
        env.claim("prod").await.is_none(),
        "cleanup waits for the grant it follows"
    );
    env.workflow
        .complete_work("prod", one.id, &one.lease_token, WorkOutcome::Succeeded)
        .await
        .unwrap();
    let revoked = env.workflow.get(&first.id).await.unwrap();
    assert_eq!(
        (revoked.state, revoked.credentials),
        (RequestState::Revoked, CredentialsStatus::Cleaning)
    );
    let cleanup = env.claim("prod").await.unwrap();
    assert_eq!(
        (cleanup.request_id, cleanup.kind),
        (first.id.clone(), WorkKind::Cleanup)
    );
}

async fn an_expired_lease_is_reclaimed_and_the_old_token_refused(env: &TestApp) {
    let request = env.submit("alice@example.com", &["payments"]).await;
    env.approve(&request, "bob@example.com").await;
    let first = env.claim("prod").await.unwrap();
    env.clock.advance_secs(61);
    let second = env.claim("prod").await.unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!(second.attempt, 2);
    let late = env
        .workflow
        .complete_work("prod", first.id, &first.lease_token, WorkOutcome::Succeeded)
        .await;
    assert!(matches!(late, Err(WorkflowError::LeaseLost)), "{late:?}");
    let completion = env
        .workflow
        .complete_work("prod", second.id, &second.lease_token, WorkOutcome::Succeeded)
        .await;
    assert_eq!(completion.unwrap(), Completion::Recorded);
    assert_eq!(
        env.workflow.get(&request.id).await.unwrap().state,
        RequestState::Active
    );
}

async fn completion_is_idempotent(env: &TestApp) {
    let request = env.submit("alice@example.com", &["payments"]).await;
    env.approve(&request, "bob@example.com").await;
    let item = env.claim("prod").await.unwrap();
    let first = env
        .workflow
        .complete_work("prod", item.id, &item.lease_token, WorkOutcome::Succeeded)
        .await
        .unwrap();
    let active = env.workflow.get(&request.id).await.unwrap();
    let again = env
        .workflow
        .complete_work("prod", item.id, &item.lease_token, WorkOutcome::Succeeded)
        .await
        .unwrap();
    assert_eq!((first, again), (Completion::Recorded, Completion::AlreadyDone));
    assert_eq!(
        env.workflow.get(&request.id).await.unwrap(),
        active,
        "the repeat changed nothing"
    );
    assert_eq!(
        env.audit_actions(&request).await,
        ["request.submitted", "request.approved", "grant.succeeded"]
    );
}

async fn work_belongs_to_its_cluster(env: &TestApp) {
    let request = env.submit("alice@example.com", &["payments"]).await;
    env.approve(&request, "bob@example.com").await;
    assert!(
        env.claim("quorum").await.is_none(),
        "another cluster's agent sees nothing"
    );
    let item = env.claim("prod").await.unwrap();
    let stolen = env
        .workflow
        .complete_work("quorum", item.id, &item.lease_token, WorkOutcome::Succeeded)
        .await;
    assert!(matches!(
        stolen,
        Err(WorkflowError::Refused(DomainError::WrongAgent))
    ));
    assert_eq!(
        env.workflow.get(&request.id).await.unwrap().state,
        RequestState::Approved
    );
    let events = env.store.audit_page(0, 100).await.unwrap();
    let refusal = events
        .iter()
        .find(|event| event.action == "command.refused")
        .expect("refusal audited");
    assert_eq!(refusal.actor, "agent:quorum");
}

async fn grant_work_of_an_ended_request_is_skipped(env: &TestApp) {
    let request = env.submit("alice@example.com", &["payments"]).await;
    env.approve(&request, "bob@example.com").await;
    env.workflow
        .execute(
            &request.id,
            Some(RequestState::Approved),
            Command::Withdraw,
            &Actor::Person(person("alice@example.com")),
        )
        .await
        .unwrap();
    // The grant was never claimed: the agent is handed the cleanup, not the grant.
    let item = env.claim("prod").await.unwrap();
    assert_eq!(
        (item.kind, item.request_id),
        (WorkKind::Cleanup, request.id.clone())
    );
    assert!(env.claim("prod").await.is_none());
}

async fn failed_cleanup_is_retried_after_backoff(env: &TestApp) {
    let request = env.active("alice@example.com", &["payments"]).await;
    env.workflow
        .execute(
            &request.id,
            Some(RequestState::Active),
            Command::Revoke { reason: None },
            &Actor::Person(person("bob@example.com")),
        )
        .await
        .unwrap();
    let cleanup = env.claim("prod").await.unwrap();
    let failed = env
        .workflow
        .complete_work(
            "prod",
            cleanup.id,
            &cleanup.lease_token,
            WorkOutcome::Failed {
                error: "API unreachable".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(failed, Completion::RetryScheduled);
    assert_eq!(
        env.workflow.get(&request.id).await.unwrap().credentials,
        CredentialsStatus::CleanupFailed
    );
    assert!(env.claim("prod").await.is_none(), "not before the backoff");
    env.clock.advance_secs(4);
    assert_eq!(
        env.store.requeue_cleanups(env.clock.now()).await.unwrap(),
        Vec::<String>::new()
    );
    env.clock.advance_secs(1);
    assert_eq!(
        env.store.requeue_cleanups(env.clock.now()).await.unwrap(),
        ["prod"]
    );
    let retry = env.claim("prod").await.unwrap();
    assert_eq!((retry.id, retry.attempt), (cleanup.id, 2));
    env.workflow
        .complete_work("prod", retry.id, &retry.lease_token, WorkOutcome::Succeeded)
        .await
        .unwrap();
    assert_eq!(
        env.workflow.get(&request.id).await.unwrap().credentials,
        CredentialsStatus::Cleaned
    );
}

async fn reported_namespaces_gate_submissions(env: &TestApp) {
    // Before the agent reports, only exclusions apply.
    env.submit("alice@example.com", &["anything"]).await;
    env.workflow
        .report_namespaces("prod", &["payments".into(), "checkout".into()])
        .await
        .unwrap();
    assert_eq!(
        env.store.namespaces("prod").await.unwrap().unwrap(),
        ["payments", "checkout"]
    );
    let unknown = env
        .workflow
        .submit(&person("erin@example.com"), draft("prod", &["ghost"]))
        .await;
    assert!(matches!(
        unknown,
        Err(WorkflowError::Refused(DomainError::UnknownNamespace { .. }))
    ));
    let excluded = env
        .workflow
        .submit(&person("erin@example.com"), draft("prod", &["kube-system"]))
        .await;
    assert!(matches!(
        excluded,
        Err(WorkflowError::Refused(DomainError::ExcludedNamespace { .. }))
    ));
    env.submit_on("erin@example.com", "prod", &["checkout"]).await;
}

async fn limits_hold_under_concurrent_submissions(env: &TestApp) {
    // A second replica whose configuration allows five live requests per person.
    let mut config = env.config.clone();
    config.janus.limits.live_requests_per_user = 5;
    let workflow = env.replica_with(config).await;
    let tasks: Vec<_> = (0..20)
        .map(|index| {
            let workflow = workflow.clone();
            tokio::spawn(async move {
                workflow
                    .submit(
                        &person("alice@example.com"),
                        draft("prod", &[&format!("ns-{index}")]),
                    )
                    .await
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(WorkflowError::Refused(DomainError::TooManyLiveRequests { limit: 5 })) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, 5);
    let mine = RequestFilter {
        requester: Some("alice@example.com".into()),
        ..Default::default()
    };
    assert_eq!(env.store.list_requests(&mine).await.unwrap().len(), 5);

    // Same namespace twice at once: exactly one live request.
    let racing: Vec<_> = (0..10)
        .map(|_| {
            let workflow = workflow.clone();
            tokio::spawn(async move {
                workflow
                    .submit(&person("erin@example.com"), draft("prod", &["payments"]))
                    .await
            })
        })
        .collect();
    let mut live = 0;
    for task in racing {
        if task.await.unwrap().is_ok() {
            live += 1;
        }
    }
    assert_eq!(live, 1);
}

async fn retention_purges_only_settled_requests(env: &TestApp) {
    let denied = env.submit("alice@example.com", &["payments"]).await;
    env.workflow
        .execute(
            &denied.id,
            None,
            Command::Deny {
                reason: Some("not now".into()),
            },
            &Actor::Person(person("bob@example.com")),
        )
        .await
        .unwrap();
    let dirty = env.active("erin@example.com", &["payments"]).await;
    env.workflow
        .execute(
            &dirty.id,
            None,
            Command::Revoke { reason: None },
            &Actor::Person(person("bob@example.com")),
        )
        .await
        .unwrap();
    let live = env.submit("frank@example.com", &["payments"]).await;
    // A terminal recording goes with its request, and only then.
    let recording = |session: &str, request: &janus_core::domain::AccessRequest| {
        janus_core::store::recordings::Recording {
            session: session.to_owned(),
            request_id: request.id.to_string(),
            cluster: request.cluster.clone(),
            namespace: "payments".to_owned(),
            pod: "api-0".to_owned(),
            container: "api".to_owned(),
            requester: request.requester.to_string(),
            started_at: env.clock.now(),
            ended_at: env.clock.now(),
            end_reason: "user".to_owned(),
            bytes: 40,
            truncated: false,
        }
    };
    let cast = "{\"version\":2,\"width\":80,\"height\":24}\n";
    for (session, request) in [("ts-denied", &denied), ("ts-dirty", &dirty)] {
        env.store
            .save_recording(&recording(session, request), cast)
            .await
            .unwrap();
    }

    env.clock.advance(std::time::Duration::from_secs(86_400 + 1));
    let purged = env
        .store
        .purge_finished(env.clock.now() - TimeDelta::seconds(86_400))
        .await
        .unwrap();
    assert_eq!(
        purged, 1,
        "only the denied request: the revoked one still has credentials"
    );
    assert!(env.store.get_request(&denied.id).await.unwrap().is_none());
    assert!(env.store.get_request(&dirty.id).await.unwrap().is_some());
    assert!(env.store.get_request(&live.id).await.unwrap().is_some());
    assert_eq!(env.store.recording("ts-denied").await.unwrap(), None);
    assert!(env.store.recording("ts-dirty").await.unwrap().is_some());
    assert_eq!(
        env.audit_actions(&denied).await,
        ["request.submitted", "request.denied"],
        "audit is kept"
    );
    assert!(env.verify_chain().await.is_ok());
}

async fn a_batch_applies_only_to_requests_still_in_the_expected_state(env: &TestApp) {
    let first = env.active("alice@example.com", &["payments"]).await;
    let second = env.active("erin@example.com", &["payments"]).await;
    let third = env.active("frank@example.com", &["payments"]).await;
    env.workflow
        .execute(
            &second.id,
            None,
            Command::Revoke { reason: None },
            &Actor::Person(person("bob@example.com")),
        )
        .await
        .unwrap();
    env.clock.advance_secs(3_600);
    let ids = [first.id.clone(), second.id.clone(), third.id.clone()];
    let expired = env
        .workflow
        .execute_batch(&ids, RequestState::Active, Command::Expire)
        .await
        .unwrap();
    let mut expired_ids: Vec<_> = expired.iter().map(|request| request.id.clone()).collect();
    expired_ids.sort();
    let mut expected = vec![first.id.clone(), third.id.clone()];
    expected.sort();
    assert_eq!(expired_ids, expected, "the revoked one is skipped");
    assert_eq!(
        env.workflow.get(&second.id).await.unwrap().state,
        RequestState::Revoked
    );
    for request in [&first, &third] {
        let actions = env.audit_actions(request).await;
        assert_eq!(
            actions
                .iter()
                .filter(|action| *action == "request.expired")
                .count(),
            1
        );
    }
    // Running the same batch again changes nothing.
    assert!(
        env.workflow
            .execute_batch(&ids, RequestState::Active, Command::Expire)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(env.verify_chain().await.is_ok());
}

async fn discord_links_are_single_use_and_removable_by_their_owner(env: &TestApp) {
    let store = &env.store;
    let now = env.workflow.clock().now();
    let expires = now + TimeDelta::minutes(10);
    let event = |action: &str, actor: &str| janus_core::domain::NewEvent {
        action: janus_core::domain::AuditAction::parse(action).unwrap(),
        actor: actor.to_owned(),
        request_id: None,
        cluster: None,
        details: serde_json::json!({ "discord_user_id": "42" }),
    };
    assert_eq!(store.discord_principal("42").await.unwrap(), None);
    // Each link in turn: (nonce, who confirms it, whether it binds, who 42 is afterwards).
    // The same nonce again binds nothing, even to someone else; a new link moves the Discord
    // user to whoever confirmed it.
    for (nonce, principal, binds, bound_to) in [
        ("nonce-1", "alice@example.com", true, "alice@example.com"),
        ("nonce-1", "mallory@example.com", false, "alice@example.com"),
        ("nonce-2", "bob@example.com", true, "bob@example.com"),
    ] {
        let linked = event("discord.linked", principal);
        assert_eq!(
            store
                .link_discord(nonce, "42", principal, expires, &linked, now)
                .await
                .unwrap(),
            binds,
            "{nonce} confirmed by {principal}"
        );
        assert_eq!(
            store.discord_principal("42").await.unwrap().as_deref(),
            Some(bound_to)
        );
    }
    assert!(
        store
            .discord_accounts_of("alice@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    let accounts = store.discord_accounts_of("bob@example.com").await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].discord_user_id, "42");
    // Only the owner removes a binding.
    for (principal, removes) in [("alice@example.com", false), ("bob@example.com", true)] {
        let unlinked = event("discord.unlinked", principal);
        assert_eq!(
            store
                .unlink_discord("42", principal, &unlinked, now)
                .await
                .unwrap(),
            removes,
            "unlinked by {principal}"
        );
    }
    assert_eq!(store.discord_principal("42").await.unwrap(), None);
    let actions: Vec<String> = store
        .audit_page(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.action.starts_with("discord."))
        .map(|event| format!("{} {}", event.action, event.actor))
        .collect();
    assert_eq!(
        actions,
        [
            "discord.linked alice@example.com",
            "discord.linked bob@example.com",
            "discord.unlinked bob@example.com"
        ],
        "each change is audited in its transaction; refused ones write nothing"
    );
}

async fn quick_commands_are_kept_per_cluster_with_unique_names_and_audited(env: &TestApp) {
    use janus_core::quick_commands::{QuickCommand, QuickCommandProblem};
    let now = env.clock.now();
    let command = |id: &str, cluster: &str, name: &str| QuickCommand {
        id: id.to_owned(),
        cluster: cluster.to_owned(),
        name: name.to_owned(),
        command: format!("echo {name}"),
        created_by: "admin@example.com".to_owned(),
        created_at: now,
        updated_by: "admin@example.com".to_owned(),
        updated_at: now,
    };
    let store = &env.store;
    store
        .create_quick_command(&command("qc-aaaaaaaaaa", "prod", "b"))
        .await
        .unwrap()
        .unwrap();
    store
        .create_quick_command(&command("qc-bbbbbbbbbb", "prod", "a"))
        .await
        .unwrap()
        .unwrap();
    store
        .create_quick_command(&command("qc-cccccccccc", "edge", "a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .create_quick_command(&command("qc-dddddddddd", "prod", "a"))
            .await
            .unwrap(),
        Err(QuickCommandProblem::DuplicateName {
            cluster: "prod".into(),
            name: "a".into()
        })
    );
    let names = |commands: Vec<QuickCommand>| -> Vec<String> {
        commands
            .into_iter()
            .map(|c| format!("{}/{}", c.cluster, c.name))
            .collect()
    };
    assert_eq!(
        names(store.quick_commands(Some("prod")).await.unwrap()),
        ["prod/a", "prod/b"]
    );
    assert_eq!(
        names(store.quick_commands(None).await.unwrap()),
        ["edge/a", "prod/a", "prod/b"]
    );
    let stored = store.quick_command("qc-aaaaaaaaaa").await.unwrap().unwrap();
    assert_eq!(
        stored,
        command("qc-aaaaaaaaaa", "prod", "b"),
        "round trip to the microsecond"
    );

    let later = now + TimeDelta::seconds(5);
    assert_eq!(
        store
            .update_quick_command("qc-aaaaaaaaaa", "a", "ls", "carol@example.com", later)
            .await
            .unwrap(),
        Err(QuickCommandProblem::DuplicateName {
            cluster: "prod".into(),
            name: "a".into()
        }),
        "names are unique within a cluster"
    );
    let updated = store
        .update_quick_command("qc-aaaaaaaaaa", "b2", "ls -l", "carol@example.com", later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (updated.updated_by.as_str(), updated.updated_at),
        ("carol@example.com", later)
    );
    assert_eq!(
        store.quick_command("qc-aaaaaaaaaa").await.unwrap().unwrap(),
        updated
    );
    assert_eq!(
        store
            .update_quick_command("qc-zzzzzzzzzz", "x", "y", "carol@example.com", later)
            .await
            .unwrap(),
        Err(QuickCommandProblem::NotFound)
    );
    let deleted = store
        .delete_quick_command("qc-cccccccccc", "carol@example.com", later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deleted.cluster, "edge");
    assert_eq!(
        store
            .delete_quick_command("qc-cccccccccc", "carol@example.com", later)
            .await
            .unwrap(),
        Err(QuickCommandProblem::NotFound)
    );
    assert_eq!(
        names(store.quick_commands(None).await.unwrap()),
        ["prod/a", "prod/b2"]
    );

    let events: Vec<(String, Option<String>)> = store
        .audit_page(0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|event| (event.action, event.cluster))
        .collect();
    let expected: Vec<(String, Option<String>)> = [
        ("quick_command.created", "prod"),
        ("quick_command.created", "prod"),
        ("quick_command.created", "edge"),
        ("quick_command.updated", "prod"),
        ("quick_command.deleted", "edge"),
    ]
    .into_iter()
    .map(|(action, cluster)| (action.to_owned(), Some(cluster.to_owned())))
    .collect();
    assert_eq!(events, expected, "refused changes write no event");
    assert!(env.verify_chain().await.is_ok());
}
