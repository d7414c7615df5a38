//! The notification outbox: notices commit with the change that implies them, and the
//! worker delivers them in order, once, honouring rate limits and retrying failures
//! (both backends). The notifier here records what it was asked to deliver and fails
//! on a script; the Slack adapter's own tests drive the real thing against the fake.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use janus_core::clock::Clock;
use janus_core::domain::{Actor, Command, NoticeKind, RequestState};
use janus_core::outbox::{DeliveryError, Notifier, OutboxItem, OutboxWorker};
use janus_core::scheduler::Scheduler;

use crate::support::{STANDARD, TestApp, both_backends, person};

both_backends!(with crate::support::TestApp::builder().config(super::config()).engine_only();
    notices_commit_with_the_change_and_refusals_queue_none,
    one_card_update_settles_every_change_before_it,
    rate_limit_waits_for_retry_after_then_delivers_once,
    outage_retries_with_backoff_and_the_card_catches_up,
    a_permanent_failure_is_given_up_and_later_notices_go_on,
    the_requester_is_warned_once_per_expiry,
    a_restarted_process_delivers_what_a_crashed_one_had_claimed
);

/// The standard configuration with Slack on (the policy notifies the `slack` channel). The
/// stories run the engine alone, with their own outbox worker and a recording notifier.
fn config() -> String {
    format!(
        "{STANDARD}slack:\n  enabled: true\n  botToken: xoxb-test\n  signingSecret: slack-signing-secret\n"
    )
}

/// What the notifier was asked, with the request state it saw.
type Delivered = (NoticeKind, String, RequestState);

#[derive(Debug, Default)]
struct Recorder {
    delivered: Mutex<Vec<Delivered>>,
    attempts: Mutex<usize>,
    script: Mutex<VecDeque<DeliveryError>>,
}

#[async_trait]
impl Notifier for Recorder {
    fn channel(&self) -> &'static str {
        "slack"
    }

    async fn deliver(
        &self,
        item: &OutboxItem,
        request: &janus_core::domain::AccessRequest,
    ) -> Result<(), DeliveryError> {
        *self.attempts.lock().unwrap() += 1;
        if let Some(error) = self.script.lock().unwrap().pop_front() {
            return Err(error);
        }
        self.delivered
            .lock()
            .unwrap()
            .push((item.kind, item.event.clone(), request.state));
        Ok(())
    }
}

impl Recorder {
    fn failing(errors: Vec<DeliveryError>) -> Arc<Recorder> {
        Arc::new(Recorder {
            script: Mutex::new(errors.into()),
            ..Recorder::default()
        })
    }

    fn delivered(&self) -> Vec<Delivered> {
        self.delivered.lock().unwrap().clone()
    }

    fn attempts(&self) -> usize {
        *self.attempts.lock().unwrap()
    }
}

fn worker(env: &TestApp, recorder: &Arc<Recorder>) -> OutboxWorker {
    OutboxWorker::new(env.workflow.clone()).with(recorder.clone())
}

async fn open(env: &TestApp) -> i64 {
    env.store
        .open_notices()
        .await
        .unwrap()
        .into_iter()
        .map(|(_, count)| count)
        .sum()
}

async fn notices_commit_with_the_change_and_refusals_queue_none(env: &TestApp) {
    let request = env.submit("alice@example.com", &["payments"]).await;
    assert_eq!(open(env).await, 1, "the submission queues the card");

    let refused = env
        .workflow
        .execute(
            &request.id,
            Some(RequestState::Pending),
            Command::Approve {
                ttl_seconds: None,
                reason: None,
            },
            &Actor::Person(person("alice@example.com")),
        )
        .await;
    assert!(refused.is_err(), "self-approval is refused");
    assert_eq!(open(env).await, 1, "a refused command queues nothing");

    env.approve(&request, "bob@example.com").await;
    // The card, and the requester's direct message about the approval.
    assert_eq!(open(env).await, 3);
}

/// `notices` (a kind and its event each), all rendered when the request was `state`.
fn all_showing(state: RequestState, notices: &[(NoticeKind, &str)]) -> Vec<Delivered> {
    notices
        .iter()
        .map(|(kind, event)| (*kind, (*event).to_owned(), state))
        .collect()
}

async fn one_card_update_settles_every_change_before_it(env: &TestApp) {
    let recorder = Arc::new(Recorder::default());
    let request = env.submit("alice@example.com", &["payments"]).await;
    env.approve(&request, "bob@example.com").await;
    env.grant_next("prod").await;

    let worker = worker(env, &recorder);
    while worker.run_once().await.unwrap().attempted() > 0 {}
    let delivered = recorder.delivered();
    // The first card render already shows Active, so the later card notices are settled
    // by it; direct messages and the link go out one by one, in order.
    assert_eq!(
        delivered,
        all_showing(
            RequestState::Active,
            &[
                (NoticeKind::Card, "request.submitted"),
                (NoticeKind::DirectMessage, "request.approved"),
                (NoticeKind::DirectMessage, "grant.succeeded"),
                (NoticeKind::TerminalLink, "grant.succeeded")
            ]
        )
    );
    assert_eq!(open(env).await, 0);
}

async fn rate_limit_waits_for_retry_after_then_delivers_once(env: &TestApp) {
    let recorder = Recorder::failing(vec![DeliveryError::RetryAfter(Duration::from_secs(30))]);
    env.submit("alice@example.com", &["payments"]).await;
    let worker = worker(env, &recorder);

    let first = worker.run_once().await.unwrap();
    assert_eq!((first.delivered, first.retried), (0, 1));
    env.clock.advance_secs(29);
    assert_eq!(
        worker.run_once().await.unwrap().attempted(),
        0,
        "not before Retry-After"
    );
    env.clock.advance_secs(1);
    assert_eq!(worker.run_once().await.unwrap().delivered, 1);
    assert_eq!(recorder.attempts(), 2);
    assert_eq!(recorder.delivered().len(), 1, "delivered once");
    assert_eq!(open(env).await, 0);
}

async fn outage_retries_with_backoff_and_the_card_catches_up(env: &TestApp) {
    let down = || DeliveryError::Transient("HTTP 503 from chat service".into());
    let recorder = Recorder::failing(vec![down(), down(), down()]);
    let request = env.submit("alice@example.com", &["payments"]).await;
    let worker = worker(env, &recorder);

    assert_eq!(worker.run_once().await.unwrap().retried, 1);
    // Meanwhile the request is approved: its notices wait behind the first one.
    env.approve(&request, "bob@example.com").await;
    assert_eq!(
        worker.run_once().await.unwrap().attempted(),
        0,
        "in order, behind the failed one"
    );
    for wait in [1, 2, 4] {
        env.clock.advance_secs(wait);
        assert_eq!(
            worker.run_once().await.unwrap().attempted(),
            1,
            "retry after {wait} s"
        );
    }
    while worker.run_once().await.unwrap().attempted() > 0 {}
    assert_eq!(
        recorder.delivered(),
        all_showing(
            RequestState::Approved,
            &[
                (NoticeKind::Card, "request.submitted"),
                (NoticeKind::DirectMessage, "request.approved")
            ]
        ),
        "the one card update shows the state as it is now"
    );
}

async fn a_permanent_failure_is_given_up_and_later_notices_go_on(env: &TestApp) {
    let recorder = Recorder::failing(vec![DeliveryError::Permanent("channel_not_found".into())]);
    let request = env.submit("alice@example.com", &["payments"]).await;
    env.approve(&request, "bob@example.com").await;
    let worker = worker(env, &recorder);
    while worker.run_once().await.unwrap().attempted() > 0 {}
    assert_eq!(
        recorder.delivered(),
        all_showing(
            RequestState::Approved,
            &[
                (NoticeKind::Card, "request.approved"),
                (NoticeKind::DirectMessage, "request.approved")
            ]
        )
    );
    assert_eq!(open(env).await, 0);
}

async fn the_requester_is_warned_once_per_expiry(env: &TestApp) {
    let recorder = Arc::new(Recorder::default());
    let request = env.active("alice@example.com", &["payments"]).await;
    let worker = worker(env, &recorder);
    while worker.run_once().await.unwrap().attempted() > 0 {}
    let scheduler = Scheduler::new(env.workflow.clone());

    env.clock.advance_secs(3_600 - 601);
    assert_eq!(scheduler.tick().await.unwrap().expiry_warnings, 0);
    env.clock.advance_secs(1);
    assert_eq!(scheduler.tick().await.unwrap().expiry_warnings, 1);
    assert_eq!(
        scheduler.tick().await.unwrap().expiry_warnings,
        0,
        "once per expiry"
    );
    while worker.run_once().await.unwrap().attempted() > 0 {}
    let warned = |recorder: &Recorder| {
        recorder
            .delivered()
            .iter()
            .filter(|(kind, event, _)| *kind == NoticeKind::DirectMessage && event == "request.expiring")
            .count()
    };
    assert_eq!(warned(&recorder), 1);

    // An extension moves the expiry; the new expiry earns a new warning.
    let alice = Actor::Person(person("alice@example.com"));
    env.workflow
        .execute(
            &request.id,
            Some(RequestState::Active),
            Command::RequestExtension {
                ttl_seconds: 3_600,
                reason: "still digging".into(),
            },
            &alice,
        )
        .await
        .unwrap();
    env.workflow
        .execute(
            &request.id,
            Some(RequestState::Active),
            Command::ApproveExtension,
            &Actor::Person(person("bob@example.com")),
        )
        .await
        .unwrap();
    env.grant_next("prod").await;
    assert_eq!(scheduler.tick().await.unwrap().expiry_warnings, 0);
    let expires_at = env.workflow.get(&request.id).await.unwrap().expires_at.unwrap();
    let until_warning = (expires_at - env.clock.now()).num_seconds() - 600;
    env.clock.advance_secs(until_warning.try_into().unwrap());
    assert_eq!(scheduler.tick().await.unwrap().expiry_warnings, 1);
    while worker.run_once().await.unwrap().attempted() > 0 {}
    assert_eq!(warned(&recorder), 2);
}

async fn a_restarted_process_delivers_what_a_crashed_one_had_claimed(env: &TestApp) {
    env.submit("alice@example.com", &["payments"]).await;
    // A process claims the notice and dies before delivering it.
    let now = env.clock.now();
    let claimed = env
        .store
        .claim_notices(now, now + chrono::TimeDelta::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    // Another process (a fresh workflow on the same database) waits out the lease.
    let replica = env.replica().await;
    let recorder = Arc::new(Recorder::default());
    let worker = OutboxWorker::new(replica).with(recorder.clone());
    assert_eq!(
        worker.run_once().await.unwrap().attempted(),
        0,
        "leased elsewhere"
    );
    env.clock.advance_secs(60);
    assert_eq!(worker.run_once().await.unwrap().delivered, 1);
    assert_eq!(recorder.delivered().len(), 1);
    assert_eq!(open(env).await, 0);
}
