//! The scheduler with a manual clock (both backends), and leader election on PostgreSQL.

use janus_core::clock::Clock;
use janus_core::domain::{CredentialsStatus, RequestState};
use janus_core::queue::{WorkKind, WorkOutcome};
use janus_core::scheduler::{Scheduler, TickReport};

use crate::support::{Backend, STANDARD, TestApp, both_backends};

both_backends!(
    expiry_at_expires_at,
    grant_timeout_fails_and_cleans,
    cleanup_retries_until_cleaned,
    retention_keeps_the_audit
);

async fn expiry_at_expires_at(env: &TestApp) {
    let request = env.active("alice@example.com", &["payments", "checkout"]).await;
    let scheduler = Scheduler::new(env.workflow.clone());
    env.clock.advance_secs(3_599);
    assert_eq!(scheduler.tick().await.unwrap().expired, 0);
    assert_eq!(
        env.workflow.get(&request.id).await.unwrap().state,
        RequestState::Active
    );

    env.clock.advance_secs(1);
    let report = scheduler.tick().await.unwrap();
    assert_eq!((report.leader, report.expired), (true, 1));
    let expired = env.workflow.get(&request.id).await.unwrap();
    assert_eq!(
        (expired.state, expired.credentials),
        (RequestState::Expired, CredentialsStatus::Cleaning)
    );
    assert_eq!(expired.ended_at, Some(env.clock.now()));
    let cleanup = env.claim("prod").await.unwrap();
    assert_eq!(
        (cleanup.kind, cleanup.request_id),
        (WorkKind::Cleanup, request.id.clone())
    );
    let events = env.store.audit_for_request(&request.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("request.expired", "system")
    );
    assert_eq!(
        scheduler.tick().await.unwrap().expired,
        0,
        "a second tick does nothing"
    );
}

async fn grant_timeout_fails_and_cleans(env: &TestApp) {
    let request = env.submit("alice@example.com", &["payments"]).await;
    env.approve(&request, "bob@example.com").await;
    let scheduler = Scheduler::new(env.workflow.clone());
    env.clock.advance_secs(119);
    assert_eq!(scheduler.tick().await.unwrap().timed_out, 0);
    env.clock.advance_secs(1);
    assert_eq!(scheduler.tick().await.unwrap().timed_out, 1);
    let failed = env.workflow.get(&request.id).await.unwrap();
    assert_eq!(
        (failed.state, failed.credentials),
        (RequestState::Failed, CredentialsStatus::Cleaning)
    );
    assert_eq!(failed.end_reason.as_deref(), Some("grant_timeout"));
    // The grant was never claimed, so the agent gets only the cleanup.
    assert_eq!(env.claim("prod").await.unwrap().kind, WorkKind::Cleanup);
}

async fn cleanup_retries_until_cleaned(env: &TestApp) {
    let request = env.active("alice@example.com", &["payments"]).await;
    let scheduler = Scheduler::new(env.workflow.clone());
    env.clock.advance_secs(3_600);
    scheduler.tick().await.unwrap();
    for attempt in 1..=3 {
        let item = env.claim("prod").await.expect("cleanup to retry");
        assert_eq!(item.attempt, attempt);
        env.workflow
            .complete_work(
                "prod",
                item.id,
                &item.lease_token,
                WorkOutcome::Failed {
                    error: "connection refused".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            env.workflow.get(&request.id).await.unwrap().credentials,
            CredentialsStatus::CleanupFailed
        );
        assert!(env.claim("prod").await.is_none());
        // 5 s, 10 s, 20 s: the scheduler requeues once the backoff has passed.
        env.clock.advance_secs(5 << (attempt - 1));
        let report = scheduler.tick().await.unwrap();
        assert_eq!(report.cleanup_clusters, ["prod"]);
    }
    env.grant_next("prod").await;
    assert_eq!(
        env.workflow.get(&request.id).await.unwrap().credentials,
        CredentialsStatus::Cleaned
    );
    assert_eq!(
        scheduler.tick().await.unwrap().cleanup_clusters,
        Vec::<String>::new()
    );
}

async fn retention_keeps_the_audit(env: &TestApp) {
    let request = env.active("alice@example.com", &["payments"]).await;
    let scheduler = Scheduler::new(env.workflow.clone());
    env.clock.advance_secs(3_600);
    scheduler.tick().await.unwrap();
    env.grant_next("prod").await; // the cleanup succeeds
    env.clock.advance_secs(86_399);
    assert_eq!(scheduler.tick().await.unwrap().purged, 0);
    env.clock.advance_secs(1);
    assert_eq!(scheduler.tick().await.unwrap().purged, 1);
    assert!(env.store.get_request(&request.id).await.unwrap().is_none());
    assert_eq!(env.audit_actions(&request).await.len(), 5);
    assert_eq!(env.verify_chain().await.unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_auto_expiry_denies_by_system() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let config = STANDARD.replace("janus:\n", "janus:\n  pendingExpirySeconds: 600\n");
        let Some(env) = TestApp::builder()
            .backend(backend)
            .config(config)
            .try_start()
            .await
        else {
            continue;
        };
        let request = env.submit("alice@example.com", &["payments"]).await;
        let scheduler = Scheduler::new(env.workflow.clone());
        env.clock.advance_secs(599);
        assert_eq!(scheduler.tick().await.unwrap().auto_denied, 0);
        env.clock.advance_secs(1);
        assert_eq!(scheduler.tick().await.unwrap().auto_denied, 1);
        let denied = env.workflow.get(&request.id).await.unwrap();
        assert_eq!(denied.state, RequestState::Denied);
        assert_eq!(
            denied.deny_reason.as_deref(),
            Some("no decision within 600 seconds")
        );
        let events = env.store.audit_for_request(&request.id).await.unwrap();
        assert_eq!(events.last().unwrap().actor, "system");
        env.finish().await;
    }
}

/// Two `janus serve` on one PostgreSQL database: only the advisory-lock holder ticks, and
/// every due expiry fires exactly once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_on_one_postgres_never_both_fire() {
    let Some(env) = TestApp::builder().backend(Backend::Postgres).try_start().await else {
        return;
    };
    let (replica, replica_store) = env.replica_with_store().await;
    let first = Scheduler::new(env.workflow.clone());
    let second = Scheduler::new(replica.clone());

    let mut ids = Vec::new();
    for index in 0..20 {
        ids.push(
            env.active(&format!("user{index}@example.com"), &["payments"])
                .await
                .id,
        );
    }
    env.clock.advance_secs(3_600);
    let (a, b) = tokio::join!(first.tick(), second.tick());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.leader != b.leader, "exactly one leader: {a:?} {b:?}");
    assert_eq!(a.expired + b.expired, 20);
    let follower = if a.leader { &second } else { &first };
    assert_eq!(
        follower.tick().await.unwrap(),
        TickReport::default(),
        "the follower keeps doing nothing"
    );
    for id in &ids {
        let expired = env.store.audit_for_request(id).await.unwrap();
        assert_eq!(
            expired
                .iter()
                .filter(|event| event.action == "request.expired")
                .count(),
            1
        );
    }

    // When the leader steps down (shutdown), the other takes over.
    let (leader_store, follower_scheduler) = if a.leader {
        (&env.store, &second)
    } else {
        (&replica_store, &first)
    };
    leader_store.step_down().await;
    let request = env.active("late@example.com", &["payments"]).await;
    env.clock.advance_secs(3_600);
    let report = follower_scheduler.tick().await.unwrap();
    assert!(report.leader);
    assert_eq!(report.expired, 1);
    assert_eq!(
        env.workflow.get(&request.id).await.unwrap().state,
        RequestState::Expired
    );
    replica_store.close().await;
    env.finish().await;
}

/// Durations as large as the configuration accepts mean "never", not an overflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn huge_configured_durations_never_fire_and_never_panic() {
    let config = STANDARD.replace(
        "janus:\n",
        &format!(
            "janus:\n  pendingExpirySeconds: {max}\n  grantTimeoutSeconds: {max}\n  retentionSeconds: {max}\n",
            max = u64::MAX
        ),
    );
    let env = TestApp::builder().config(config).start().await;
    let pending = env.submit("alice@example.com", &["payments"]).await;
    let approved = env.submit("erin@example.com", &["payments"]).await;
    env.approve(&approved, "bob@example.com").await;
    env.clock.advance_secs(10 * 365 * 86_400);
    let report = Scheduler::new(env.workflow.clone()).tick().await.unwrap();
    assert_eq!((report.auto_denied, report.timed_out, report.purged), (0, 0, 0));
    assert_eq!(
        env.workflow.get(&pending.id).await.unwrap().state,
        RequestState::Pending
    );
    assert_eq!(
        env.workflow.get(&approved.id).await.unwrap().state,
        RequestState::Approved
    );
    env.finish().await;
}
