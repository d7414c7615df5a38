//! Slack end to end: signed commands and clicks against central, the card kept in sync by
//! the outbox on the fake Slack Web API, a real agent granting on the fake API server.

use janus_core::clock::Clock;
use janus_core::domain::{Actor, Command, RequestId, RequestState};
use janus_core::scheduler::Scheduler;
use janus_fixtures::kube::RequestMatcher;
use janus_fixtures::slack::payloads::{BlockActions, SlashCommand, view_submission};
use janus_fixtures::slack::{Fault, SlackSigner};
use serde_json::{Value, json};

use crate::support::slack::{ALICE, APPROVALS, BOB, CAROL, DAVE, EVE, NOMAIL, SIGNING_SECRET, TEAM, text_of};
use crate::support::{TestApp, person};

/// Central's configuration in this story: Slack on, `prod` approved by bob or carol, `quorum`
/// by both; `extra` is more YAML under `janus:` (indented two spaces). The fake Slack's
/// address is set from the environment (`JANUS_SLACK__API_BASE_URL`).
fn config(extra: &str) -> String {
    format!(
        "janus:\n  adminEmails: [admin@example.com]\n  limits: {{ requestsPerHour: 1000, liveRequestsPerUser: 100 }}\n{extra}\
         webui:\n  baseUrl: https://janus.example.test\n\
         links:\n  mode: sso\n  keys: [{{kid: k1, secret: 0123456789abcdef0123456789abcdef}}]\n\
         slack:\n  enabled: true\n  botToken: xoxb-test\n  signingSecret: {SIGNING_SECRET}\n\
         clusters:\n  - name: prod\n    approvers: [bob@example.com, carol@example.com]\n    slackChannel: {APPROVALS}\n\
         \x20 - name: quorum\n    approvers: [bob@example.com, carol@example.com]\n    approvalsRequired: 2\n    \
         slackChannel: {APPROVALS}\n"
    )
}

/// Central with `config(extra)`, fake Slack and a real agent on the fake cluster.
async fn start(extra: &str) -> TestApp {
    TestApp::builder()
        .config(config(extra))
        .slack()
        .agent()
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_journey_from_request_to_expiry() {
    let mut test = start("").await;
    let id = test
        .slack()
        .submit(
            ALICE,
            "request prod payments,checkout 2h investigating 500s on /pay",
        )
        .await;
    let card = test.slack().card_shows(&id, "Pending · 0 of 1 approvals").await;
    assert!(card.to_string().contains("investigating 500s on /pay"));

    let answer = test.slack().click(BOB, "janus_approve", &id, None).await;
    assert_eq!(answer, format!("You approved {id}."));
    test.slack()
        .card_shows(&id, "Active · approved by bob@example.com")
        .await;

    // The link goes in the card's thread, bound to Alice, valid until the expiry.
    let url = test.slack().thread_link(&id).await;
    test.assert_link_for_alice(&id, &url, test.slack().now()).await;

    // Alice hears about it directly.
    let dms = test.slack().wait_for_value(|state| {
        let dms = state.dms_to(ALICE);
        (dms.len() >= 2).then(|| dms.iter().map(|m| text_of(m)).collect::<Vec<_>>())
    });
    let dms = dms.await;
    assert!(dms[0].contains("was approved"), "{dms:?}");
    assert!(dms[1].contains("is active until"), "{dms:?}");

    // Expiry: the scheduler ends it, the agent deletes everything, the card says so.
    test.stop_agent().await;
    test.clock.advance_secs(7_200);
    let report = Scheduler::new(test.workflow.clone()).tick().await.unwrap();
    assert_eq!(report.expired, 1);
    test.restart_agent().await;
    test.slack().card_shows(&id, "Credentials deleted.").await;
    let card = test.slack().card_shows(&id, "Expired").await;
    assert!(
        !card.to_string().contains("janus_revoke"),
        "no buttons once ended"
    );
    for namespace in ["payments", "checkout"] {
        for kind in ["ServiceAccount", "RoleBinding"] {
            let left = test.kube().objects(kind, Some(namespace));
            assert!(
                !left.iter().any(|object| object.to_string().contains(id.as_str())),
                "{kind} of {id} left in {namespace}"
            );
        }
    }
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_modal_path_submits_a_request() {
    let test = start("").await;
    let workflow = &test.workflow;
    workflow
        .report_namespaces(
            "prod",
            &["payments".into(), "checkout".into(), "kube-system".into()],
        )
        .await
        .unwrap();
    let body = SlashCommand::new(ALICE, "request")
        .with_channel(TEAM, "team")
        .with_trigger_id("1337.42.trigger")
        .with_response_url(&test.slack().response_url("modal"))
        .form();
    let response = test
        .slack()
        .post_signed("/slack/commands", body, test.slack().now())
        .await;
    assert_eq!(response.status(), 200);
    let view = test
        .slack()
        .wait_for_value(|state| state.views().first().map(|v| v.view.clone()))
        .await;
    assert_eq!(view["callback_id"], "janus_request");
    let offered = view.to_string();
    assert!(offered.contains("prod/payments") && offered.contains("prod/checkout"));
    assert!(
        !offered.contains("kube-system"),
        "excluded namespaces are not offered"
    );

    let values = json!({
        "cluster": { "value": { "type": "static_select", "selected_option": { "value": "prod" } } },
        "namespaces": { "value": { "type": "multi_static_select",
            "selected_options": [{ "value": "prod/payments" }, { "value": "prod/checkout" }] } },
        "ttl": { "value": { "type": "static_select", "selected_option": { "value": "3600" } } },
        "reason": { "value": { "type": "plain_text_input", "value": "debugging checkout" } },
    });
    let body = view_submission(ALICE, "janus_request", TEAM, values);
    let response = test
        .slack()
        .post_signed("/slack/interactions", body, test.slack().now())
        .await;
    assert_eq!(response.status(), 200);
    let answer = response.text().await.unwrap();
    assert!(answer.is_empty(), "the modal closes: {answer}");
    let confirmation = test
        .slack()
        .wait_for_value(|state| state.ephemerals_to(ALICE).first().map(|e| e.text.clone()))
        .await
        .unwrap_or_default();
    let id = confirmation
        .split_whitespace()
        .find_map(RequestId::parse)
        .unwrap();
    let request = workflow.get(&id).await.unwrap();
    assert_eq!(request.namespaces, ["payments", "checkout"]);
    assert_eq!(request.ttl_seconds, 3_600);
    test.slack().card_shows(&id, "Pending").await;

    // A bad submission keeps the modal open with the problem on its field.
    let values = json!({
        "cluster": { "value": { "selected_option": { "value": "prod" } } },
        "namespaces": { "value": { "selected_options": [{ "value": "prod/payments" }] } },
        "ttl": { "value": { "selected_option": { "value": "3600" } } },
        "reason": { "value": { "value": "" } },
    });
    let body = view_submission(ALICE, "janus_request", TEAM, values);
    let answer: Value = test
        .slack()
        .post_signed("/slack/interactions", body, test.slack().now())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["response_action"], "errors");
    assert!(
        answer["errors"]["reason"].as_str().unwrap().contains("reason"),
        "{answer}"
    );
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deny_with_a_reason_through_the_modal() {
    let test = start("").await;
    let id = test
        .slack()
        .pending(ALICE, "request prod payments 1h checking logs")
        .await;
    let ts = test.slack().card(&id).await;
    let click = BlockActions::button(BOB, APPROVALS, &ts, "janus_deny_reason", id.as_str())
        .with_trigger_id("55.66.trigger")
        .with_response_url(&test.slack().response_url("deny"));
    assert_eq!(
        test.slack()
            .post_signed("/slack/interactions", click.form(), test.slack().now())
            .await
            .status(),
        200
    );
    let view = test
        .slack()
        .wait_for_value(|state| state.views().first().map(|v| v.view.clone()))
        .await;
    assert_eq!(view["callback_id"], "janus_deny");
    assert_eq!(view["private_metadata"], id.as_str());

    let values =
        json!({ "reason": { "value": { "type": "plain_text_input", "value": "not during the freeze" } } });
    let body = view_submission(BOB, "janus_deny", id.as_str(), values);
    assert_eq!(
        test.slack()
            .post_signed("/slack/interactions", body, test.slack().now())
            .await
            .status(),
        200
    );
    let card = test.slack().card_shows(&id, "Denied by bob@example.com").await;
    assert!(card.to_string().contains("Reason: not during the freeze"));
    let dm = test
        .slack()
        .wait_for_value(|state| state.dms_to(ALICE).first().map(|m| text_of(m)))
        .await;
    assert!(dm.contains("was denied: not during the freeze"), "{dm}");
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn withdraw_revoke_and_extend() {
    let test = start("").await;
    // Withdraw from the card, by the requester only.
    let first = test.slack().submit(ALICE, "request prod search 1h poking").await;
    let answer = test.slack().click(BOB, "janus_withdraw", &first, None).await;
    assert_eq!(answer, "Only the requester can do this.");
    assert_eq!(
        test.slack().click(ALICE, "janus_withdraw", &first, None).await,
        format!("You withdrew {first}.")
    );
    test.slack()
        .card_shows(&first, "Withdrawn by alice@example.com")
        .await;

    // Extend from the command, approved on the card; revoke from the card.
    let id = test
        .slack()
        .active(ALICE, "request prod payments 1h investigating")
        .await;
    let answer = test
        .slack()
        .command(ALICE, &format!("extend {id} 1h still digging"))
        .await;
    assert_eq!(
        answer,
        format!("Asked for 1h more on {id}; an approver must approve it.")
    );
    test.slack().card_shows(&id, "Extension requested: +1h").await;
    let before = test.workflow.get(&id).await.unwrap().expires_at.unwrap();
    assert_eq!(
        test.slack()
            .click(ALICE, "janus_approve_extension", &id, None)
            .await,
        "You cannot approve your own request; another approver must decide."
    );
    assert_eq!(
        test.slack()
            .click(CAROL, "janus_approve_extension", &id, None)
            .await,
        format!("You approved the extension of {id}.")
    );
    let request = test
        .wait_until(&test.workflow.get(&id).await.unwrap(), |r| r.extension.is_none())
        .await;
    assert_eq!(request.expires_at.unwrap() - before, chrono::TimeDelta::hours(1));

    assert_eq!(
        test.slack().click(BOB, "janus_revoke", &id, None).await,
        format!("You revoked {id}.")
    );
    test.slack().card_shows(&id, "Revoked by bob@example.com").await;
    test.slack().card_shows(&id, "Credentials deleted.").await;
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_requests_auto_expire_and_the_card_says_so() {
    let mut test = start("  pendingExpirySeconds: 900\n").await;
    let id = test
        .slack()
        .pending(ALICE, "request prod payments 1h investigating")
        .await;
    test.stop_agent().await;
    test.clock.advance_secs(900);
    let report = Scheduler::new(test.workflow.clone()).tick().await.unwrap();
    assert_eq!(report.auto_denied, 1);
    let card = test
        .slack()
        .card_shows(&id, "Denied automatically: no decision in time")
        .await;
    assert!(!card.to_string().contains("janus_approve"));
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quorum_of_two_shows_its_progress() {
    let test = start("").await;
    let id = test
        .slack()
        .submit(ALICE, "request quorum payments 1h investigating")
        .await;
    test.slack().card_shows(&id, "0 of 2 approvals").await;
    assert_eq!(
        test.slack().click(BOB, "janus_approve", &id, None).await,
        format!("Your approval of {id} is recorded.")
    );
    test.slack()
        .card_shows(&id, "1 of 2 approvals (bob@example.com)")
        .await;
    assert_eq!(
        test.slack().click(BOB, "janus_approve", &id, None).await,
        "You have already approved this; another approver must add theirs."
    );
    assert_eq!(
        test.slack().click(CAROL, "janus_approve", &id, None).await,
        format!("You approved {id}.")
    );
    test.slack()
        .card_shows(&id, "Approved by bob@example.com, carol@example.com")
        .await;
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_failure_shows_the_agents_error_on_the_card() {
    let test = start("").await;
    let id = test
        .slack()
        .pending(ALICE, "request prod payments 1h investigating")
        .await;
    test.kube()
        .faults()
        .fail_next(RequestMatcher::new("create", "rolebindings"), 1, 500);
    test.slack().click(BOB, "janus_approve", &id, None).await;
    let card = test.slack().card_shows(&id, "Failed").await;
    assert!(card.to_string().contains("Error: "), "{card}");
    let dm = test
        .slack()
        .wait_for_value(|state| {
            state
                .dms_to(ALICE)
                .iter()
                .map(|m| text_of(m))
                .find(|t| t.contains("failed"))
        })
        .await;
    assert!(dm.contains(&format!("Your request {id} failed")), "{dm}");
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_made_elsewhere_updates_the_card() {
    let test = start("").await;
    let id = test
        .slack()
        .pending(ALICE, "request prod payments 1h investigating")
        .await;
    // An admin denies it through the JSON API with a personal API token.
    let accounts = janus_core::accounts::Accounts::for_workflow(&test.workflow);
    let (token, _) = accounts
        .create_api_token(&person("admin@example.com"), "slack test", None)
        .await
        .unwrap();
    let response = test
        .slack()
        .http
        .post(format!("{}/api/v1/requests/{id}/deny", test.base))
        .bearer_auth(token.expose())
        .json(&json!({ "reason": "use the staging cluster" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let card = test.slack().card_shows(&id, "Denied by admin@example.com").await;
    assert!(card.to_string().contains("use the staging cluster"));

    // And the scheduler's and the agent's changes arrive the same way (see the journey and
    // the grant-failure tests); a change from the workflow directly, too.
    let other = test
        .slack()
        .submit(ALICE, "request prod checkout 1h investigating")
        .await;
    test.admin_revokes_pending(&other).await;
    test.slack()
        .card_shows(&other, "Revoked by admin@example.com")
        .await;
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_are_refused_change_nothing_and_are_audited() {
    let test = start("").await;
    let body = SlashCommand::new(ALICE, "request prod payments 1h sneaky")
        .with_response_url(&test.slack().response_url("forged"))
        .form();
    let url = format!("{}/slack/commands", test.base);
    let now = test.slack().now();
    let send = |headers: Vec<(&'static str, String)>, body: String| {
        let mut request = test
            .slack()
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.body(body).send()
    };
    // Forged: signed with another secret.
    let forged = SlackSigner::new("not-the-secret").headers(now, &body);
    assert_eq!(send(forged, body.clone()).await.unwrap().status(), 401);
    // Stale: signed correctly, six minutes ago.
    let stale = test.slack().signer.headers(now - 360, &body);
    assert_eq!(send(stale, body.clone()).await.unwrap().status(), 401);
    // Replayed: an old signature with a fresh timestamp.
    let mut replayed = test.slack().signer.headers(now - 60, &body);
    for (name, value) in &mut replayed {
        if name.contains("timestamp") {
            *value = now.to_string();
        }
    }
    assert_eq!(send(replayed, body.clone()).await.unwrap().status(), 401);
    // Missing headers.
    assert_eq!(send(Vec::new(), body.clone()).await.unwrap().status(), 401);
    // Oversized, even when signed.
    let huge = format!("{body}&padding={}", "x".repeat(70 * 1024));
    let status = test
        .slack()
        .post_signed("/slack/commands", huge, now)
        .await
        .status();
    assert_eq!(status, 413);
    // Signed, but the payload is not JSON / not a form.
    let status = test
        .slack()
        .post_signed("/slack/interactions", "payload=%7Bnot-json".into(), now)
        .await
        .status();
    assert_eq!(status, 400);
    let status = test
        .slack()
        .post_signed("/slack/commands", "%%%".into(), now)
        .await
        .status();
    assert_eq!(status, 400);

    assert_eq!(test.audited("chat.request_rejected").await, 4);
    let listed = test.requests().await;
    assert!(listed.is_empty(), "nothing was created");
    assert!(
        test.slack()
            .calls()
            .iter()
            .all(|call| call.method != "chat.postMessage")
    );
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_commands_and_unknown_people_get_a_sentence() {
    let test = start("").await;
    let answer = test
        .slack()
        .command(ALICE, "request prod payments soon because")
        .await;
    assert!(
        answer.contains("`soon` is not a duration") && answer.contains("Usage:"),
        "{answer}"
    );
    let answer = test
        .slack()
        .command(ALICE, "request prod kube-system 1h because")
        .await;
    assert!(answer.contains("excluded"), "{answer}");
    let answer = test
        .slack()
        .command(NOMAIL, "request prod payments 1h because")
        .await;
    assert!(answer.contains("your Slack profile shows none"), "{answer}");
    assert_eq!(
        test.audited("chat.identity_refused").await,
        1,
        "a person Janus cannot identify is refused on the record"
    );
    let answer = test.slack().command(EVE, "help").await;
    assert!(answer.contains("/janus request"), "{answer}");
    assert!(test.requests().await.is_empty());
    test.finish().await;
}

/// The configuration is the policy: Dave has a Slack account and an email, but `prod` lists only
/// Bob and Carol as approvers, so his Approve click is refused (and audited) and nothing moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_the_configuration_does_not_list_cannot_approve() {
    let test = start("").await;
    let id = test
        .slack()
        .submit(ALICE, "request prod payments 1h investigating")
        .await;
    let answer = test.slack().click(DAVE, "janus_approve", &id, None).await;
    assert!(
        answer.starts_with("You are not an approver for cluster `prod`"),
        "{answer}"
    );
    let request = test.workflow.get(&id).await.unwrap();
    assert_eq!(request.state, RequestState::Pending);
    assert!(request.approvals.is_empty());
    assert_eq!(test.audited("command.refused").await, 1);
    test.slack().card_shows(&id, "Pending · 0 of 1 approvals").await;
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clicks_are_authorized_and_races_end_in_one_transition() {
    let test = start("").await;
    let id = test
        .slack()
        .submit(ALICE, "request prod payments 1h investigating")
        .await;
    assert_eq!(
        test.slack().click(ALICE, "janus_approve", &id, None).await,
        "You cannot approve your own request; another approver must decide."
    );
    let answer = test.slack().click(EVE, "janus_approve", &id, None).await;
    assert!(
        answer.starts_with("You are not an approver for cluster `prod`"),
        "{answer}"
    );
    assert_eq!(test.workflow.get(&id).await.unwrap().state, RequestState::Pending);
    assert_eq!(test.audited("command.refused").await, 2);

    // Bob and Carol click at the same moment: one approval wins, the other is refused.
    let (bob, carol) = tokio::join!(
        test.slack().click(BOB, "janus_approve", &id, None),
        test.slack().click(CAROL, "janus_approve", &id, None)
    );
    let answers = [bob, carol];
    let approved = answers
        .iter()
        .filter(|a| **a == format!("You approved {id}."))
        .count();
    assert_eq!(approved, 1, "{answers:?}");
    assert_eq!(test.audited("request.approved").await, 1);
    assert_eq!(
        test.audited("command.refused").await,
        3,
        "the losing click is audited"
    );

    // A click on a card that moved on changes nothing.
    test.slack().card_shows(&id, "Active").await;
    let answer = test.slack().click(BOB, "janus_deny", &id, None).await;
    assert!(answer.contains("active"), "{answer}");
    assert_eq!(test.workflow.get(&id).await.unwrap().state, RequestState::Active);
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ttl_chosen_on_the_card_applies() {
    let test = start("").await;
    let id = test
        .slack()
        .submit(ALICE, "request prod payments 4h investigating")
        .await;
    let state = json!({ "values": { "janus_actions": { "janus_ttl": {
        "type": "static_select", "selected_option": { "value": format!("{id}:3600") } } } } });
    test.slack().click(BOB, "janus_approve", &id, Some(state)).await;
    test.slack()
        .card_shows(&id, "Active · approved by bob@example.com · TTL 1h")
        .await;
    assert_eq!(test.workflow.get(&id).await.unwrap().ttl_seconds, 3_600);
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limited_update_is_delivered_once_after_retry_after() {
    let mut test = start("").await;
    let id = test
        .slack()
        .submit(ALICE, "request quorum payments 1h investigating")
        .await;
    let ts = test.slack().card(&id).await;
    test.slack()
        .fail_next("chat.update", Fault::RateLimited { retry_after_secs: 30 });
    test.slack().click(BOB, "janus_approve", &id, None).await;
    test.slack()
        .wait_for(|state| !state.faulted_calls().is_empty())
        .await;
    retry_scheduled(&test, "rate_limited").await;
    assert_eq!(test.slack().message(APPROVALS, &ts).unwrap().update_count(), 0);

    test.stop_agent().await;
    test.clock.advance_secs(29);
    let due = test.store.next_notice_due().await.unwrap().unwrap();
    assert!(due > test.clock.now(), "not before Retry-After");
    test.clock.advance_secs(1);
    test.slack().card_shows(&id, "1 of 2 approvals").await;
    assert_eq!(test.slack().faulted_calls().len(), 1);
    assert_eq!(test.slack().calls_to("chat.update").len(), 1, "delivered once");
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slack_down_during_a_change_then_the_card_catches_up() {
    let mut test = start("").await;
    let id = test
        .slack()
        .submit(ALICE, "request quorum payments 1h investigating")
        .await;
    test.slack().card_shows(&id, "0 of 2 approvals").await;
    test.slack().go_down();
    let workflow = &test.workflow;
    for approver in ["bob@example.com", "carol@example.com"] {
        let approve = Command::Approve {
            ttl_seconds: None,
            reason: None,
        };
        workflow
            .execute(
                &id,
                Some(RequestState::Pending),
                approve,
                &Actor::Person(person(approver)),
            )
            .await
            .unwrap();
    }
    // The update failed while Slack was down, and a retry is due on Janus's clock.
    retry_scheduled(&test, "retried").await;
    test.slack().come_up();
    test.stop_agent().await;
    test.clock.advance_secs(1);
    test.slack()
        .card_shows(&id, "Approved by bob@example.com, carol@example.com")
        .await;
    test.finish().await;
}

/// Waits (yielding, bounded) until the outbox has recorded `outcome` (`rate_limited`,
/// `retried`) for a delivery, i.e. the retry is scheduled on Janus's clock.
async fn retry_scheduled(test: &TestApp, outcome: &str) {
    let metrics = test.workflow.metrics().clone();
    let scheduled = async {
        while metrics.notices_total(outcome) == 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), scheduled)
        .await
        .expect("the outbox scheduled a retry");
}
