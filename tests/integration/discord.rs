//! Discord end to end: Ed25519-signed interactions against central, the card kept in sync by
//! the outbox on the fake Discord REST API, a real agent granting on the fake API server.

use janus_core::clock::Clock;
use janus_core::domain::{RequestId, RequestState};
use janus_core::scheduler::Scheduler;
use janus_fixtures::discord::payloads::{autocomplete, button, command, ping, select};
use janus_fixtures::discord::{
    APPLICATION_ID, BOT_TOKEN, DiscordSigner, Fault, Route, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::discord::{ALICE, APPROVALS, BOB, CAROL, DAVE, EVE, STRANGER, TEAM, user};
use crate::support::person;

/// Central's configuration in this story: Discord on (the fake's address and the test key come
/// from the environment), the four people it knows, `prod` approved by bob or carol, `quorum`
/// by both; `extra` is more top-level YAML (e.g. a `slack:` section).
fn config(extra: &str) -> String {
    format!(
        "janus:\n  adminEmails: [admin@example.com]\n  pendingExpirySeconds: 900\n  \
         limits: {{ requestsPerHour: 1000, liveRequestsPerUser: 100 }}\n\
         webui:\n  baseUrl: https://janus.example.test\n\
         links:\n  mode: sso\n  keys: [{{kid: k1, secret: 0123456789abcdef0123456789abcdef}}]\n\
         discord:\n  enabled: true\n  applicationId: \"{APPLICATION_ID}\"\n  \
         botToken: {BOT_TOKEN}\n  users:\n    \"{ALICE}\": alice@example.com\n    \
         \"{BOB}\": bob@example.com\n    \"{CAROL}\": carol@example.com\n    \"{EVE}\": eve@example.com\n    \
         \"{DAVE}\": dave@example.com\n\
         {extra}\
         clusters:\n  - name: prod\n    approvers: [bob@example.com, carol@example.com]\n    discordChannel: \"{APPROVALS}\"\n    slackChannel: C0APPROVALS\n\
         \x20 - name: quorum\n    approvers: [bob@example.com, carol@example.com]\n    approvalsRequired: 2\n    \
         discordChannel: \"{APPROVALS}\"\n"
    )
}

/// Central with `config("")`, fake Discord and a real agent on the fake cluster.
async fn start() -> TestApp {
    TestApp::builder()
        .config(config(""))
        .discord()
        .agent()
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_journey_from_request_to_expiry() {
    let mut test = start().await;
    assert_eq!(
        test.discord().interact(&ping()).await,
        json!({ "type": 1 }),
        "PING is answered with PONG"
    );
    let id = test
        .discord()
        .submit(ALICE, "prod", "payments,checkout", "7200")
        .await;
    let card = test.discord().card_shows(&id, "Pending · 0 of 1 approvals").await;
    let embed = &card.embeds[0];
    assert_eq!(embed["title"], format!("Access request {id}"));
    assert!(card.text().contains("investigating 500s on /pay"));
    let buttons = &card.components[0]["components"];
    assert_eq!(buttons[0]["custom_id"], format!("janus_approve:{id}"));
    assert_eq!(buttons[0]["style"], 3, "Approve is green");

    assert_eq!(
        test.discord().click(BOB, "janus_approve", &id).await,
        format!("You approved {id}.")
    );
    let active = test
        .discord()
        .card_shows(&id, "Active · approved by bob@example.com")
        .await;
    assert!(active.edit_count() >= 1, "the card was edited, not reposted");
    assert_eq!(
        test.discord().inspect(|state| state.messages(APPROVALS).len()),
        1,
        "one card per request"
    );

    // The link goes in a thread started on the card, bound to Alice, valid until the expiry.
    let url = test.discord().thread_link(&id).await;
    test.assert_link_for_alice(&id, &url, test.discord().now()).await;

    // Alice hears about it directly.
    let dms = test
        .discord()
        .wait_for_value(|state| {
            let dms = state.dms_to(ALICE);
            (dms.len() >= 2).then(|| dms.iter().map(|m| m.content.clone()).collect::<Vec<_>>())
        })
        .await;
    assert!(dms[0].contains("was approved"), "{dms:?}");
    assert!(dms[1].contains("is active until"), "{dms:?}");

    // Expiry: the scheduler ends it, the agent deletes everything, the card says so.
    test.stop_agent().await;
    test.clock.advance_secs(7_200);
    let report = Scheduler::new(test.workflow.clone()).tick().await.unwrap();
    assert_eq!(report.expired, 1);
    test.restart_agent().await;
    test.discord().card_shows(&id, "Credentials deleted.").await;
    let card = test.discord().card_shows(&id, "Expired").await;
    assert_eq!(card.components, json!([]), "no components once ended");
    assert_eq!(card.embeds[0]["color"], 0x95_A5_A6);
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deny_with_a_reason_through_the_modal() {
    let test = start().await;
    let id = test.discord().submit(ALICE, "prod", "payments", "1h").await;
    let (custom_id, opened) = test.discord().open_form(BOB, "janus_deny_reason", &id).await;
    assert_eq!(custom_id, format!("janus_deny_modal:{id}"));
    assert_eq!(
        opened["data"]["components"][0]["components"][0]["custom_id"],
        "reason"
    );
    assert_eq!(
        test.workflow.get(&id).await.unwrap().state,
        RequestState::Pending,
        "opening the form changes nothing"
    );
    assert_eq!(
        test.discord()
            .fill_form(BOB, &id, &custom_id, &[("reason", "not during the freeze")])
            .await,
        format!("You denied {id}.")
    );
    let card = test.discord().card_shows(&id, "Denied by bob@example.com").await;
    assert!(
        card.text().contains("Reason: not during the freeze"),
        "{}",
        card.text()
    );
    let dm = test
        .discord()
        .wait_for_value(|state| state.dms_to(ALICE).first().map(|m| m.content.clone()))
        .await;
    assert_eq!(dm, format!("Your request {id} was denied: not during the freeze"));
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn withdraw_revoke_and_extend() {
    let test = start().await;
    let first = test.discord().submit(ALICE, "prod", "payments", "1h").await;
    assert_eq!(
        test.discord().click(ALICE, "janus_withdraw", &first).await,
        format!("You withdrew {first}.")
    );
    test.discord()
        .card_shows(&first, "Withdrawn by alice@example.com")
        .await;

    let id = test.discord().active(ALICE, "prod", "checkout", "1h").await;
    // The Extend button opens a form; the form asks for the time and a reason.
    let (custom_id, _) = test.discord().open_form(ALICE, "janus_extend", &id).await;
    assert_eq!(
        test.discord()
            .fill_form(ALICE, &id, &custom_id, &[("ttl", "30m"), ("reason", "")])
            .await,
        "Give a reason for the extension."
    );
    let answer = test
        .discord()
        .command(
            ALICE,
            "extend",
            &[("id", id.as_str()), ("ttl", "3600"), ("reason", "still digging")],
        )
        .await;
    assert_eq!(
        answer,
        format!("Asked for 1h more on {id}; an approver must approve it.")
    );
    test.discord().card_shows(&id, "Extension requested: +1h").await;
    assert_eq!(
        test.discord().click(BOB, "janus_approve_extension", &id).await,
        format!("You approved the extension of {id}.")
    );
    let before = test.workflow.get(&id).await.unwrap();
    assert!(before.extension.is_none());
    assert_eq!(before.extensions, 1);

    let answer = test
        .discord()
        .command(BOB, "revoke", &[("id", id.as_str()), ("reason", "done")])
        .await;
    assert_eq!(
        answer,
        format!("Request {id} revoked; its credentials are being deleted.")
    );
    test.discord().card_shows(&id, "Revoked by bob@example.com").await;
    let status = test
        .discord()
        .command(ALICE, "status", &[("id", id.as_str())])
        .await;
    assert!(status.contains("revoked"), "{status}");
    let list = test.discord().command(ALICE, "list", &[]).await;
    assert!(
        list.contains(first.as_str()) && list.contains(id.as_str()),
        "{list}"
    );
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quorum_of_two_shows_its_progress() {
    let test = start().await;
    let id = test.discord().submit(ALICE, "quorum", "payments", "1h").await;
    test.discord().card_shows(&id, "Pending · 0 of 2 approvals").await;
    assert_eq!(
        test.discord().click(BOB, "janus_approve", &id).await,
        format!("Your approval of {id} is recorded.")
    );
    test.discord()
        .card_shows(&id, "Pending · 1 of 2 approvals (bob@example.com)")
        .await;
    let again = test.discord().click(BOB, "janus_approve", &id).await;
    assert!(
        again.contains("already"),
        "a second approval by the same person counts once: {again}"
    );
    assert_eq!(
        test.discord().click(CAROL, "janus_approve", &id).await,
        format!("You approved {id}.")
    );
    test.discord()
        .card_shows(&id, "Approved by bob@example.com, carol@example.com")
        .await;
    assert_eq!(test.audited("request.approved").await, 1);
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ttl_menu_approves_with_the_chosen_ttl() {
    let test = start().await;
    let id = test.discord().submit(ALICE, "prod", "payments", "4h").await;
    let message = test.discord().card(&id).await;
    let chosen = select(
        &user(BOB),
        APPROVALS,
        &message,
        &format!("janus_ttl:{id}"),
        &["3600"],
    );
    assert_eq!(
        test.discord().ephemeral(&chosen).await,
        format!("You approved {id}.")
    );
    test.discord()
        .card_shows(&id, "Active · approved by bob@example.com · TTL 1h")
        .await;
    assert_eq!(test.workflow.get(&id).await.unwrap().ttl_seconds, 3_600);
    test.finish().await;
}

/// The configuration is the policy: Dave is a known Discord user, but `prod` lists only Bob and
/// Carol as approvers, so his Approve click is refused (and audited) and nothing moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_the_configuration_does_not_list_cannot_approve() {
    let test = start().await;
    let id = test.discord().submit(ALICE, "prod", "payments", "1h").await;
    let answer = test.discord().click(DAVE, "janus_approve", &id).await;
    assert!(
        answer.starts_with("You are not an approver for cluster `prod`"),
        "{answer}"
    );
    let request = test.workflow.get(&id).await.unwrap();
    assert_eq!(request.state, RequestState::Pending);
    assert!(request.approvals.is_empty());
    assert_eq!(test.audited("command.refused").await, 1);
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clicks_are_authorized_and_races_end_in_one_transition() {
    let test = start().await;
    let id = test.discord().submit(ALICE, "prod", "payments", "1h").await;
    assert_eq!(
        test.discord().click(ALICE, "janus_approve", &id).await,
        "You cannot approve your own request; another approver must decide."
    );
    let answer = test.discord().click(EVE, "janus_approve", &id).await;
    assert!(
        answer.starts_with("You are not an approver for cluster `prod`"),
        "{answer}"
    );
    let answer = test.discord().click(STRANGER, "janus_approve", &id).await;
    assert!(answer.contains("Run `/janus link`"), "{answer}");
    assert_eq!(test.workflow.get(&id).await.unwrap().state, RequestState::Pending);
    assert_eq!(test.audited("command.refused").await, 2);
    assert_eq!(
        test.audited("chat.identity_refused").await,
        1,
        "the unlinked click is audited too"
    );

    // Bob and Carol click at the same moment (and Bob twice): one approval wins.
    let (bob, carol, bob_again) = tokio::join!(
        test.discord().click(BOB, "janus_approve", &id),
        test.discord().click(CAROL, "janus_approve", &id),
        test.discord().click(BOB, "janus_approve", &id)
    );
    let answers = [bob, carol, bob_again];
    let approved = answers
        .iter()
        .filter(|a| **a == format!("You approved {id}."))
        .count();
    assert_eq!(approved, 1, "{answers:?}");
    assert_eq!(test.audited("request.approved").await, 1);
    assert_eq!(
        test.audited("command.refused").await,
        4,
        "the losing clicks are audited"
    );

    // A click on a card that moved on changes nothing.
    test.discord().card_shows(&id, "Active").await;
    let answer = test.discord().click(BOB, "janus_deny_extension", &id).await;
    assert!(!answer.starts_with("You denied"), "{answer}");
    let answer = test
        .discord()
        .fill_form(BOB, &id, &format!("janus_deny_modal:{id}"), &[("reason", "late")])
        .await;
    assert!(answer.contains("active"), "{answer}");
    assert_eq!(test.workflow.get(&id).await.unwrap().state, RequestState::Active);
    assert_eq!(test.audited("command.refused").await, 6);
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_are_refused_change_nothing_and_are_audited() {
    let test = start().await;
    let interaction = command(
        &user(ALICE),
        TEAM,
        "request",
        &[
            ("cluster", "prod"),
            ("namespaces", "payments"),
            ("ttl", "3600"),
            ("reason", "sneaky"),
        ],
    );
    let body = interaction.to_string().into_bytes();
    let now = test.discord().now();
    // Forged: signed with another key.
    let forged = DiscordSigner::with_seed([9; 32]).headers(now, &body);
    assert_eq!(test.discord().send(forged, body.clone()).await.status(), 401);
    // Stale and from the future: signed correctly, more than five minutes off.
    assert_eq!(
        test.discord().post_signed(body.clone(), now - 301).await.status(),
        401
    );
    assert_eq!(
        test.discord().post_signed(body.clone(), now + 301).await.status(),
        401
    );
    // Replayed: an old signature with a fresh timestamp.
    let mut replayed = test.discord().signer.headers(now - 60, &body);
    replayed[1].1 = now.to_string();
    assert_eq!(test.discord().send(replayed, body.clone()).await.status(), 401);
    // The body changed after signing.
    let signed = test.discord().signer.headers(now, &body);
    let mut changed = body.clone();
    changed.push(b' ');
    assert_eq!(test.discord().send(signed, changed).await.status(), 401);
    // Unsigned, or half-signed.
    assert_eq!(test.discord().send(Vec::new(), body.clone()).await.status(), 401);
    let only_signature = vec![(
        SIGNATURE_HEADER,
        test.discord().signer.sign(&now.to_string(), &body),
    )];
    assert_eq!(
        test.discord().send(only_signature, body.clone()).await.status(),
        401
    );
    let bad_timestamp = vec![
        (SIGNATURE_HEADER, test.discord().signer.sign("soon", &body)),
        (TIMESTAMP_HEADER, "soon".to_owned()),
    ];
    assert_eq!(
        test.discord().send(bad_timestamp, body.clone()).await.status(),
        401
    );
    // Oversized, even when signed.
    let mut huge = interaction.clone();
    huge["padding"] = json!("x".repeat(70 * 1024));
    assert_eq!(
        test.discord()
            .post_signed(huge.to_string().into_bytes(), now)
            .await
            .status(),
        413
    );
    // Signed, but not JSON, or JSON that is not an interaction.
    assert_eq!(
        test.discord()
            .post_signed(b"{not json".to_vec(), now)
            .await
            .status(),
        400
    );
    let response = test.discord().post_signed(br#"{"type":2}"#.to_vec(), now).await;
    assert_eq!(response.status(), 400);
    let refusal: Value = response.json().await.unwrap();
    assert_eq!(refusal["error"]["code"], "malformed");

    assert_eq!(test.audited("chat.request_rejected").await, 11);
    let listed = test.requests().await;
    assert!(listed.is_empty(), "nothing was created");
    assert!(
        test.discord().inspect(|state| state.calls().is_empty()),
        "nothing was posted"
    );
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_people_and_bad_options_get_a_sentence() {
    let test = start().await;
    let answer = test.discord().command(STRANGER, "list", &[]).await;
    assert!(answer.contains("Run `/janus link`"), "{answer}");
    let answer = test
        .discord()
        .command(
            ALICE,
            "request",
            &[
                ("cluster", "prod"),
                ("namespaces", "kube-system"),
                ("ttl", "3600"),
                ("reason", "x"),
            ],
        )
        .await;
    assert!(answer.contains("excluded"), "{answer}");
    let answer = test.discord().command(ALICE, "status", &[("id", "jr-x")]).await;
    assert!(answer.contains("\"jr-x\" is not a request id"), "{answer}");
    let answer = test.discord().command(EVE, "help", &[]).await;
    assert!(answer.contains("/janus request"), "{answer}");
    assert!(test.requests().await.is_empty());

    // Autocomplete offers the clusters by prefix, without needing to know who asks.
    let answer = test
        .discord()
        .interact(&autocomplete(
            &user(STRANGER),
            TEAM,
            "request",
            &[("cluster", "pr")],
            "cluster",
        ))
        .await;
    assert_eq!(answer["type"], 8);
    assert_eq!(
        answer["data"]["choices"],
        json!([{ "name": "prod", "value": "prod" }])
    );
    // Namespaces: those the cluster's agent reported, minus the excluded ones, completing the
    // last of a comma list.
    test.workflow
        .report_namespaces(
            "prod",
            &["payments".into(), "checkout".into(), "kube-system".into()],
        )
        .await
        .unwrap();
    let shared = &test;
    let choices = |typed: &'static str| {
        let interaction = autocomplete(
            &user(ALICE),
            TEAM,
            "request",
            &[("cluster", "prod"), ("namespaces", typed)],
            "namespaces",
        );
        async move { shared.discord().interact(&interaction).await["data"]["choices"].clone() }
    };
    assert_eq!(
        choices("").await,
        json!([{ "name": "payments", "value": "payments" }, { "name": "checkout", "value": "checkout" }])
    );
    assert_eq!(
        choices("payments, ch").await,
        json!([{ "name": "payments,checkout", "value": "payments,checkout" }])
    );
    assert_eq!(
        choices("kube").await,
        json!([]),
        "excluded namespaces are not offered"
    );
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_made_elsewhere_edits_the_card() {
    let mut test = start().await;
    let id = test.discord().submit(ALICE, "prod", "payments", "1h").await;
    test.discord().card_shows(&id, "Pending").await;
    // An admin denies it through the dashboard's JSON API.
    let accounts = janus_core::accounts::Accounts::for_workflow(&test.workflow);
    let (token, _) = accounts
        .create_api_token(&person("admin@example.com"), "discord test", None)
        .await
        .unwrap();
    let response = test
        .discord()
        .http
        .post(format!("{}/api/v1/requests/{id}/deny", test.base))
        .bearer_auth(token.expose())
        .json(&json!({ "reason": "use the staging cluster" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let card = test
        .discord()
        .card_shows(&id, "Denied by admin@example.com")
        .await;
    assert!(card.text().contains("use the staging cluster"));

    // The scheduler: a pending request nobody decided is denied automatically.
    let other = test.discord().submit(ALICE, "quorum", "checkout", "1h").await;
    test.discord().card_shows(&other, "Pending").await;
    test.stop_agent().await;
    let pending_expiry = test.workflow.policy().pending_expiry_seconds;
    test.clock.advance_secs(pending_expiry);
    let report = Scheduler::new(test.workflow.clone()).tick().await.unwrap();
    assert_eq!(report.auto_denied, 1);
    let card = test
        .discord()
        .card_shows(&other, "Denied automatically: no decision in time")
        .await;
    assert_eq!(card.components, json!([]));
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_from_slack_edits_the_discord_card() {
    use janus_fixtures::slack::SlackSigner;
    use janus_fixtures::slack::payloads::{BlockActions, SlashCommand};
    let secret = crate::support::slack::SIGNING_SECRET;
    let slack_section =
        format!("slack:\n  enabled: true\n  botToken: xoxb-test\n  signingSecret: {secret}\n");
    let test = TestApp::builder()
        .config(config(&slack_section))
        .slack()
        .discord()
        .agent()
        .start()
        .await;
    let slack = test.slack();
    let signer = SlackSigner::new(secret);
    let post = |path: &'static str, body: String| {
        let mut request = test
            .discord()
            .http
            .post(format!("{}{path}", test.base))
            .header("content-type", "application/x-www-form-urlencoded");
        for (name, value) in signer.headers(test.discord().now(), &body) {
            request = request.header(name, value);
        }
        request.body(body).send()
    };
    // Requested on Slack: the Discord card appears too.
    let body = SlashCommand::new("U0ALICE", "request prod payments 1h investigating").form();
    let answer: Value = post("/slack/commands", body).await.unwrap().json().await.unwrap();
    let text = answer["text"].as_str().unwrap().to_owned();
    let id = text.split_whitespace().find_map(RequestId::parse).unwrap();
    test.discord().card_shows(&id, "Pending · 0 of 1 approvals").await;
    // Approved on Slack: the Discord card is edited.
    let ts = slack
        .wait_for_value(|state| {
            state
                .messages("C0APPROVALS")
                .iter()
                .find(|m| m.thread_ts.is_none())
                .map(|m| m.ts.clone())
        })
        .await;
    let click = BlockActions::button("U0BOB", "C0APPROVALS", &ts, "janus_approve", id.as_str())
        .with_response_url(&slack.response_url("bob"));
    assert_eq!(
        post("/slack/interactions", click.form()).await.unwrap().status(),
        200
    );
    test.discord()
        .card_shows(&id, "Active · approved by bob@example.com")
        .await;
    // And the other way round: revoked on Discord, the Slack card follows.
    test.discord().click(BOB, "janus_revoke", &id).await;
    slack
        .wait_for(|state| {
            state.message("C0APPROVALS", &ts).is_some_and(|m| {
                m.blocks
                    .as_ref()
                    .is_some_and(|b| b.to_string().contains("Revoked by bob@example.com"))
            })
        })
        .await;
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limited_edit_is_delivered_once_after_retry_after() {
    let mut test = start().await;
    let id = test.discord().submit(ALICE, "quorum", "payments", "1h").await;
    let message = test.discord().card(&id).await;
    test.discord()
        .fail_next(Route::EditMessage, Fault::RateLimited { retry_after: 29.5 });
    test.discord().click(BOB, "janus_approve", &id).await;
    test.discord()
        .wait_for_value(|state| state.calls_to(Route::EditMessage).first().map(|call| call.status))
        .await;
    retry_scheduled(&test, "rate_limited").await;
    assert_eq!(
        test.discord()
            .inspect(|state| state.message(&message).unwrap().edit_count()),
        0
    );

    test.stop_agent().await;
    test.clock.advance_secs(29);
    let due = test.store.next_notice_due().await.unwrap().unwrap();
    assert!(due > test.clock.now(), "not before retry_after");
    test.clock.advance_secs(1);
    test.discord().card_shows(&id, "1 of 2 approvals").await;
    let edits = test.discord().inspect(|state| {
        state
            .calls_to(Route::EditMessage)
            .iter()
            .map(|call| call.status)
            .collect::<Vec<_>>()
    });
    assert_eq!(edits, [429, 200], "delivered once, after the wait");
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_error_is_retried_and_the_card_catches_up() {
    let mut test = start().await;
    let id = test.discord().submit(ALICE, "quorum", "payments", "1h").await;
    test.discord().card(&id).await;
    test.discord().fail_next(Route::EditMessage, Fault::ServerError);
    test.discord().click(BOB, "janus_approve", &id).await;
    retry_scheduled(&test, "retried").await;
    test.stop_agent().await;
    test.clock.advance_secs(60);
    test.discord().card_shows(&id, "1 of 2 approvals").await;
    test.finish().await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_direct_change_through_the_workflow_edits_the_card() {
    let test = start().await;
    let id = test.discord().submit(ALICE, "prod", "checkout", "1h").await;
    test.admin_revokes_pending(&id).await;
    test.discord()
        .card_shows(&id, "Revoked by admin@example.com")
        .await;
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_click_is_deferred_then_answered_by_editing_the_original() {
    use sqlx::Connection as _;
    let test = start().await;
    let id = test.discord().submit(ALICE, "quorum", "payments", "1h").await;
    let message = test.discord().card(&id).await;
    let clock = test.clock.clone();
    // Another writer holds the database (another replica mid-transaction): Bob's approval waits.
    let mut blocker = sqlx::SqliteConnection::connect(&test.database_url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let interaction = button(&user(BOB), APPROVALS, &message, &format!("janus_approve:{id}"));
    let token = interaction["token"].as_str().unwrap().to_owned();
    let idle = clock.waiters();
    let click = tokio::spawn({
        let body = interaction.to_string().into_bytes();
        let headers = test.discord().signer.headers(test.discord().now(), &body);
        let request = test
            .discord()
            .http
            .post(format!("{}/discord/interactions", test.base))
            .header("content-type", "application/json");
        let request = headers
            .into_iter()
            .fold(request, |request, (name, value)| request.header(name, value));
        async move {
            request
                .body(body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    // Once the endpoint waits on Janus's clock, its answer budget passes: Discord hears back now.
    let waiting = async {
        while clock.waiters() <= idle {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the endpoint waits for the deadline");
    // (Another waiter — the outbox worker going back to sleep — may have been counted: then the
    // endpoint starts waiting just after, and the next step releases it.)
    let mut click = click;
    let mut answer = None;
    for _ in 0..10 {
        clock.advance(janus_bot::discord::ANSWER_BUDGET);
        if let Ok(done) = tokio::time::timeout(std::time::Duration::from_secs(1), &mut click).await {
            answer = Some(done.unwrap());
            break;
        }
    }
    let answer = answer.expect("the endpoint answered once the deadline passed");
    assert_eq!(
        answer,
        json!({ "type": 5, "data": { "flags": 64 } }),
        "deferred, ephemeral"
    );
    assert_eq!(test.workflow.get(&id).await.unwrap().approvals.len(), 0);

    // The database comes back; the approval is made and the deferred answer edited.
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    let edited = test
        .discord()
        .wait_for_value(|state| state.original_edits(&token).first().cloned())
        .await;
    assert_eq!(edited["content"], format!("Your approval of {id} is recorded."));
    assert_eq!(edited["flags"], 64);
    test.discord().card_shows(&id, "1 of 2 approvals").await;
    test.finish().await;
}
