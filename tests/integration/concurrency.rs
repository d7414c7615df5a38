//! Races (both backends): 50 tasks issue approve / deny / revoke / withdraw / expire at
//! once against the state they all saw. Exactly one command wins, and exactly one audit
//! event records it; everyone else is told the request moved on.

use std::sync::Arc;

use janus_core::domain::{AccessRequest, Actor, Command, DomainError, RequestState};
use janus_core::workflow::{Workflow, WorkflowError};
use tokio::sync::Barrier;

use crate::support::{TestApp, both_backends, person};

both_backends!(
    fifty_racers_on_a_pending_request,
    fifty_racers_on_an_active_request,
    approvers_racing_for_a_quorum
);

const RACERS: usize = 50;

fn contender(index: usize) -> (Command, Actor) {
    let approver = [
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
        "admin@example.com",
    ][index % 4];
    match index % 5 {
        0 => (
            Command::Approve {
                ttl_seconds: None,
                reason: None,
            },
            Actor::Person(person(approver)),
        ),
        1 => (
            Command::Deny {
                reason: Some("not now".into()),
            },
            Actor::Person(person(approver)),
        ),
        2 => (Command::Revoke { reason: None }, Actor::Person(person(approver))),
        3 => (Command::Withdraw, Actor::Person(person("alice@example.com"))),
        _ => (Command::Expire, Actor::System),
    }
}

/// Runs the race on two replicas (separate pools) and returns the winners.
async fn race(env: &TestApp, request: &AccessRequest) -> Vec<(Command, AccessRequest)> {
    let replicas = [env.workflow.clone(), env.replica().await];
    let barrier = Arc::new(Barrier::new(RACERS));
    let tasks: Vec<_> = (0..RACERS)
        .map(|index| {
            let workflow: Workflow = replicas[index % 2].clone();
            let barrier = barrier.clone();
            let (id, expected) = (request.id.clone(), request.state);
            tokio::spawn(async move {
                let (command, actor) = contender(index);
                barrier.wait().await;
                let result = workflow
                    .execute(&id, Some(expected), command.clone(), &actor)
                    .await;
                (command, result)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (command, Ok(request)) => winners.push((command, request)),
            (
                _,
                Err(WorkflowError::Refused(
                    DomainError::StaleState { .. } | DomainError::InvalidTransition { .. },
                )),
            )
            | (_, Err(WorkflowError::Refused(DomainError::NotYetDue))) => {}
            (command, Err(other)) => panic!("{command:?} failed unexpectedly: {other:?}"),
        }
    }
    winners
}

async fn fifty_racers_on_a_pending_request(env: &TestApp) {
    let request = env.submit("alice@example.com", &["payments"]).await;
    let winners = race(env, &request).await;
    assert_eq!(winners.len(), 1, "exactly one transition: {winners:?}");
    let stored = env.workflow.get(&request.id).await.unwrap();
    assert_eq!(stored, winners[0].1);
    assert_eq!(stored.version, request.version + 1);
    let actions = env.audit_actions(&request).await;
    assert_eq!(
        actions.len(),
        2,
        "submitted plus exactly one decision: {actions:?}"
    );
    assert!(env.verify_chain().await.is_ok());
}

async fn fifty_racers_on_an_active_request(env: &TestApp) {
    let request = env.active("alice@example.com", &["payments"]).await;
    env.clock.advance_secs(3_600); // expiry is due, so Expire competes too
    let winners = race(env, &request).await;
    assert_eq!(winners.len(), 1, "exactly one transition: {winners:?}");
    let stored = env.workflow.get(&request.id).await.unwrap();
    assert!(matches!(
        stored.state,
        RequestState::Revoked | RequestState::Withdrawn | RequestState::Expired
    ));
    let actions = env.audit_actions(&request).await;
    assert_eq!(
        actions.len(),
        4,
        "submitted, approved, grant, one ending: {actions:?}"
    );
    // The one ending queued exactly one cleanup.
    let cleanup = env.claim("prod").await.expect("cleanup queued");
    assert_eq!(cleanup.request_id, request.id);
    assert!(env.claim("prod").await.is_none(), "and only one");
    assert!(env.verify_chain().await.is_ok());
}

/// Concurrent approvals by distinct approvers are not conflicts: each counts, in order,
/// and the quorum is reached exactly once.
async fn approvers_racing_for_a_quorum(env: &TestApp) {
    let request = env.submit_on("alice@example.com", "quorum", &["web"]).await;
    let approvers = [
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
        "admin@example.com",
    ];
    let tasks: Vec<_> = approvers
        .iter()
        .map(|approver| {
            let workflow = env.workflow.clone();
            let id = request.id.clone();
            let actor = Actor::Person(person(approver));
            tokio::spawn(async move {
                workflow
                    .execute(
                        &id,
                        Some(RequestState::Pending),
                        Command::Approve {
                            ttl_seconds: None,
                            reason: None,
                        },
                        &actor,
                    )
                    .await
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            accepted += 1;
        }
    }
    assert_eq!(
        accepted, 2,
        "the first two approvals count; later ones find it Approved"
    );
    let stored = env.workflow.get(&request.id).await.unwrap();
    assert_eq!(stored.state, RequestState::Approved);
    assert_eq!(stored.approvals.len(), 2);
    assert_ne!(stored.approvals[0].by, stored.approvals[1].by);
    assert_eq!(
        env.audit_actions(&request).await,
        [
            "request.submitted",
            "request.approval_recorded",
            "request.approved"
        ]
    );
    assert!(env.claim("quorum").await.is_some());
    assert!(env.claim("quorum").await.is_none(), "one grant");
}
