//! Slack end to end: signed commands and clicks against central, the card kept in sync by
//! the outbox on the fake Slack Web API, a real agent granting on the fake API server.

use janus_core::clock::Clock;
use janus_core::config::Config;
use janus_core::domain::{Actor, Command, RequestId, RequestState};
use janus_core::links::{LinkParams, LinkSigner};
use janus_core::scheduler::Scheduler;
use janus_fixtures::kube::RequestMatcher;
use janus_fixtures::slack::payloads::{BlockActions, SlashCommand, view_submission};
use janus_fixtures::slack::{FakeSlack, Fault, SlackSigner};
use serde_json::{Value, json};

use crate::grants::TestApp;
use crate::support::person;

const SECRET: &str = "slack-signing-secret-for-tests";
const APPROVALS: &str = "C0APPROVALS";
const TEAM: &str = "C0TEAMROOM";
const ALICE: &str = "U0ALICE";
const BOB: &str = "U0BOB";
const CAROL: &str = "U0CAROL";
const EVE: &str = "U0EVE";
const NOMAIL: &str = "U0NOMAIL";

pub struct SlackTest {
    pub app: TestApp,
    pub slack: FakeSlack,
    signer: SlackSigner,
    http: reqwest::Client,
    config: Config,
}

fn config(api_url: &str, extra: &str) -> Config {
    let yaml = format!(
        "janus:\n  adminEmails: [admin@example.com]\n{extra}\
         webui:\n  baseUrl: https://janus.example.test\n\
         links:\n  mode: sso\n  keys: [{{kid: k1, secret: 0123456789abcdef0123456789abcdef}}]\n\
         slack:\n  enabled: true\n  botToken: xoxb-test\n  signingSecret: {SECRET}\n  apiBaseUrl: {api_url}\n\
         clusters:\n  - name: prod\n    approvers: [bob@example.com, carol@example.com]\n    slackChannel: {APPROVALS}\n\
         \x20 - name: quorum\n    approvers: [bob@example.com, carol@example.com]\n    approvalsRequired: 2\n    \
         slackChannel: {APPROVALS}\n"
    );
    Config::load(Some(&yaml), &[], &|_| Err(std::io::Error::other("no files"))).unwrap()
}

impl SlackTest {
    pub async fn start() -> SlackTest {
        Self::start_with("").await
    }

    /// `extra` is YAML under `janus:` (indented two spaces).
    pub async fn start_with(extra: &str) -> SlackTest {
        crate::support::install_crypto();
        let slack = FakeSlack::builder()
            .channel(APPROVALS)
            .channel(TEAM)
            .user(ALICE, Some("alice@example.com"), "Alice")
            .user(BOB, Some("bob@example.com"), "Bob")
            .user(CAROL, Some("carol@example.com"), "Carol")
            .user(EVE, Some("eve@example.com"), "Eve")
            .user(NOMAIL, None, "No Mail")
            .start()
            .await;
        let config = config(&slack.api_url(), extra);
        let app = TestApp::start_with_config(config.clone()).await;
        SlackTest {
            app,
            slack,
            signer: SlackSigner::new(SECRET),
            http: reqwest::Client::new(),
            config,
        }
    }

    fn now(&self) -> i64 {
        self.app.central.clock.now().timestamp()
    }

    pub async fn post_signed(&self, path: &str, body: String, timestamp: i64) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.app.central.base))
            .header("content-type", "application/x-www-form-urlencoded");
        for (name, value) in self.signer.headers(timestamp, &body) {
            request = request.header(name, value);
        }
        request.body(body).send().await.unwrap()
    }

    /// `/janus <text>` as `user`; returns the immediate (ephemeral) answer's text.
    pub async fn command(&self, user: &str, text: &str) -> String {
        let body = SlashCommand::new(user, text)
            .with_channel(TEAM, "team")
            .with_response_url(&self.slack.response_url(&format!("cmd-{user}")))
            .form();
        let response = self.post_signed("/slack/commands", body, self.now()).await;
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["response_type"], "ephemeral");
        answer["text"].as_str().unwrap().to_owned()
    }

    pub async fn submit(&self, user: &str, text: &str) -> RequestId {
        let answer = self.command(user, text).await;
        let id = answer
            .split_whitespace()
            .find_map(RequestId::parse)
            .unwrap_or_else(|| panic!("no request id in {answer:?}"));
        assert_eq!(answer, format!("Request {id} submitted, waiting for approval."));
        id
    }

    /// The card of `id` once posted: its ts.
    pub async fn card(&self, id: &RequestId) -> String {
        let needle = id.to_string();
        self.slack
            .wait_for_value(|state| {
                state
                    .messages(APPROVALS)
                    .iter()
                    .find(|message| message.thread_ts.is_none() && text_of(message).contains(&needle))
                    .map(|message| message.ts.clone())
            })
            .await
    }

    /// Waits until the card's current text contains `needle`; returns the whole card.
    pub async fn card_shows(&self, id: &RequestId, needle: &str) -> Value {
        let ts = self.card(id).await;
        self.slack
            .wait_for_value(|state| {
                let message = state.message(APPROVALS, &ts)?;
                text_of(message)
                    .contains(needle)
                    .then(|| json!({ "text": message.text, "blocks": message.blocks }))
            })
            .await
    }

    /// Clicks `action` on the card of `id` as `user`; returns the ephemeral answer.
    pub async fn click(&self, user: &str, action: &str, id: &RequestId, state: Option<Value>) -> String {
        let ts = self.card(id).await;
        let key = format!("click-{user}-{action}-{}", rand::random::<u32>());
        let mut click = BlockActions::button(user, APPROVALS, &ts, action, id.as_str())
            .with_response_url(&self.slack.response_url(&key));
        if let Some(state) = state {
            click = click.with_state(state);
        }
        let response = self
            .post_signed("/slack/interactions", click.form(), self.now())
            .await;
        assert_eq!(response.status(), 200);
        self.reply(&key).await
    }

    pub async fn reply(&self, key: &str) -> String {
        let post = self
            .slack
            .wait_for_value(|state| state.responses(key).first().map(|post| (*post).clone()))
            .await;
        post.text().unwrap_or_default().to_owned()
    }

    pub async fn finish(self) {
        self.app.finish().await;
    }
}

/// A message's text and blocks, for searching.
fn text_of(message: &janus_fixtures::slack::Message) -> String {
    format!(
        "{} {}",
        message.text.clone().unwrap_or_default(),
        message.blocks.clone().unwrap_or(Value::Null)
    )
}

async fn audited(test: &SlackTest, action: &str) -> usize {
    test.app
        .central
        .store
        .audit_page(0, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|event| event.action == action)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_journey_from_request_to_expiry() {
    let mut test = SlackTest::start().await;
    let id = test
        .submit(
            ALICE,
            "request prod payments,checkout 2h investigating 500s on /pay",
        )
        .await;
    let card = test.card_shows(&id, "Pending · 0 of 1 approvals").await;
    assert!(card.to_string().contains("investigating 500s on /pay"));

    let answer = test.click(BOB, "janus_approve", &id, None).await;
    assert_eq!(answer, format!("You approved {id}."));
    test.card_shows(&id, "Active · approved by bob@example.com").await;

    // The link goes in the card's thread, bound to Alice, valid until the expiry.
    let ts = test.card(&id).await;
    let reply = test
        .slack
        .wait_for_value(|state| state.thread_replies(APPROVALS, &ts).first().map(|m| (*m).clone()))
        .await;
    let text = text_of(&reply);
    let start = text
        .find("https://janus.example.test/t/")
        .expect("link in thread");
    let url = &text[start..];
    let url = &url[..url.find('|').unwrap()];
    let (path, query) = url.split_once('?').unwrap();
    assert!(path.ends_with(&format!("/t/{id}")));
    let params = LinkParams::from_query(query).unwrap();
    let signer = LinkSigner::from_config(&test.config.links).unwrap();
    let verified = signer
        .verify(id.as_str(), &params, Some("alice@example.com"), test.now())
        .unwrap();
    let request = test.app.central.workflow.get(&id).await.unwrap();
    assert_eq!(
        Some(verified.expires_at),
        request.expires_at.map(|at| at.timestamp())
    );
    assert!(
        signer
            .verify(id.as_str(), &params, Some("bob@example.com"), test.now())
            .is_err()
    );

    // Alice hears about it directly.
    let dms = test.slack.wait_for_value(|state| {
        let dms = state.dms_to(ALICE);
        (dms.len() >= 2).then(|| dms.iter().map(|m| text_of(m)).collect::<Vec<_>>())
    });
    let dms = dms.await;
    assert!(dms[0].contains("was approved"), "{dms:?}");
    assert!(dms[1].contains("is active until"), "{dms:?}");

    // Expiry: the scheduler ends it, the agent deletes everything, the card says so.
    test.app.stop_agent().await;
    test.app.central.clock.advance_secs(7_200);
    let report = Scheduler::new(test.app.central.workflow.clone())
        .tick()
        .await
        .unwrap();
    assert_eq!(report.expired, 1);
    test.app.restart_agent().await;
    test.card_shows(&id, "Credentials deleted.").await;
    let card = test.card_shows(&id, "Expired").await;
    assert!(
        !card.to_string().contains("janus_revoke"),
        "no buttons once ended"
    );
    for namespace in ["payments", "checkout"] {
        for kind in ["ServiceAccount", "RoleBinding"] {
            let left = test.app.kube.objects(kind, Some(namespace));
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
    let test = SlackTest::start().await;
    let workflow = &test.app.central.workflow;
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
        .with_response_url(&test.slack.response_url("modal"))
        .form();
    let response = test.post_signed("/slack/commands", body, test.now()).await;
    assert_eq!(response.status(), 200);
    let view = test
        .slack
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
    let response = test.post_signed("/slack/interactions", body, test.now()).await;
    assert_eq!(response.status(), 200);
    let answer = response.text().await.unwrap();
    assert!(answer.is_empty(), "the modal closes: {answer}");
    let confirmation = test
        .slack
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
    test.card_shows(&id, "Pending").await;

    // A bad submission keeps the modal open with the problem on its field.
    let values = json!({
        "cluster": { "value": { "selected_option": { "value": "prod" } } },
        "namespaces": { "value": { "selected_options": [{ "value": "prod/payments" }] } },
        "ttl": { "value": { "selected_option": { "value": "3600" } } },
        "reason": { "value": { "value": "" } },
    });
    let body = view_submission(ALICE, "janus_request", TEAM, values);
    let answer: Value = test
        .post_signed("/slack/interactions", body, test.now())
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
    let test = SlackTest::start().await;
    let id = test.submit(ALICE, "request prod payments 1h checking logs").await;
    test.card_shows(&id, "Pending").await;
    let ts = test.card(&id).await;
    let click = BlockActions::button(BOB, APPROVALS, &ts, "janus_deny_reason", id.as_str())
        .with_trigger_id("55.66.trigger")
        .with_response_url(&test.slack.response_url("deny"));
    assert_eq!(
        test.post_signed("/slack/interactions", click.form(), test.now())
            .await
            .status(),
        200
    );
    let view = test
        .slack
        .wait_for_value(|state| state.views().first().map(|v| v.view.clone()))
        .await;
    assert_eq!(view["callback_id"], "janus_deny");
    assert_eq!(view["private_metadata"], id.as_str());

    let values =
        json!({ "reason": { "value": { "type": "plain_text_input", "value": "not during the freeze" } } });
    let body = view_submission(BOB, "janus_deny", id.as_str(), values);
    assert_eq!(
        test.post_signed("/slack/interactions", body, test.now())
            .await
            .status(),
        200
    );
    let card = test.card_shows(&id, "Denied by bob@example.com").await;
    assert!(card.to_string().contains("Reason: not during the freeze"));
    let dm = test
        .slack
        .wait_for_value(|state| state.dms_to(ALICE).first().map(|m| text_of(m)))
        .await;
    assert!(dm.contains("was denied: not during the freeze"), "{dm}");
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn withdraw_revoke_and_extend() {
    let test = SlackTest::start().await;
    // Withdraw from the card, by the requester only.
    let first = test.submit(ALICE, "request prod search 1h poking").await;
    let answer = test.click(BOB, "janus_withdraw", &first, None).await;
    assert_eq!(answer, "Only the requester can do this.");
    assert_eq!(
        test.click(ALICE, "janus_withdraw", &first, None).await,
        format!("You withdrew {first}.")
    );
    test.card_shows(&first, "Withdrawn by alice@example.com").await;

    // Extend from the command, approved on the card; revoke from the card.
    let id = test.submit(ALICE, "request prod payments 1h investigating").await;
    test.click(BOB, "janus_approve", &id, None).await;
    test.card_shows(&id, "Active").await;
    let answer = test
        .command(ALICE, &format!("extend {id} 1h still digging"))
        .await;
    assert_eq!(
        answer,
        format!("Asked for 1h more on {id}; an approver must approve it.")
    );
    test.card_shows(&id, "Extension requested: +1h").await;
    let before = test
        .app
        .central
        .workflow
        .get(&id)
        .await
        .unwrap()
        .expires_at
        .unwrap();
    assert_eq!(
        test.click(ALICE, "janus_approve_extension", &id, None).await,
        "You cannot approve your own request; another approver must decide."
    );
    assert_eq!(
        test.click(CAROL, "janus_approve_extension", &id, None).await,
        format!("You approved the extension of {id}.")
    );
    let request = test
        .app
        .wait_until(&test.app.central.workflow.get(&id).await.unwrap(), |r| {
            r.extension.is_none()
        })
        .await;
    assert_eq!(request.expires_at.unwrap() - before, chrono::TimeDelta::hours(1));

    assert_eq!(
        test.click(BOB, "janus_revoke", &id, None).await,
        format!("You revoked {id}.")
    );
    test.card_shows(&id, "Revoked by bob@example.com").await;
    test.card_shows(&id, "Credentials deleted.").await;
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_requests_auto_expire_and_the_card_says_so() {
    let mut test = SlackTest::start_with("  pendingExpirySeconds: 900\n").await;
    let id = test.submit(ALICE, "request prod payments 1h investigating").await;
    test.card_shows(&id, "Pending").await;
    test.app.stop_agent().await;
    test.app.central.clock.advance_secs(900);
    let report = Scheduler::new(test.app.central.workflow.clone())
        .tick()
        .await
        .unwrap();
    assert_eq!(report.auto_denied, 1);
    let card = test
        .card_shows(&id, "Denied automatically: no decision in time")
        .await;
    assert!(!card.to_string().contains("janus_approve"));
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quorum_of_two_shows_its_progress() {
    let test = SlackTest::start().await;
    let id = test
        .submit(ALICE, "request quorum payments 1h investigating")
        .await;
    test.card_shows(&id, "0 of 2 approvals").await;
    assert_eq!(
        test.click(BOB, "janus_approve", &id, None).await,
        format!("Your approval of {id} is recorded.")
    );
    test.card_shows(&id, "1 of 2 approvals (bob@example.com)").await;
    assert_eq!(
        test.click(BOB, "janus_approve", &id, None).await,
        "You have already approved this; another approver must add theirs."
    );
    assert_eq!(
        test.click(CAROL, "janus_approve", &id, None).await,
        format!("You approved {id}.")
    );
    test.card_shows(&id, "Approved by bob@example.com, carol@example.com")
        .await;
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_failure_shows_the_agents_error_on_the_card() {
    let test = SlackTest::start().await;
    let id = test.submit(ALICE, "request prod payments 1h investigating").await;
    test.card_shows(&id, "Pending").await;
    test.app
        .kube
        .faults()
        .fail_next(RequestMatcher::new("create", "rolebindings"), 1, 500);
    test.click(BOB, "janus_approve", &id, None).await;
    let card = test.card_shows(&id, "Failed").await;
    assert!(card.to_string().contains("Error: "), "{card}");
    let dm = test
        .slack
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
    let test = SlackTest::start().await;
    let id = test.submit(ALICE, "request prod payments 1h investigating").await;
    test.card_shows(&id, "Pending").await;
    // An admin denies it through the JSON API with a personal API token.
    let accounts = janus_core::accounts::Accounts::for_workflow(&test.app.central.workflow);
    let (token, _) = accounts
        .create_api_token(&person("admin@example.com"), "slack test", None)
        .await
        .unwrap();
    let response = test
        .http
        .post(format!("{}/api/v1/requests/{id}/deny", test.app.central.base))
        .bearer_auth(token.expose())
        .json(&json!({ "reason": "use the staging cluster" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let card = test.card_shows(&id, "Denied by admin@example.com").await;
    assert!(card.to_string().contains("use the staging cluster"));

    // And the scheduler's and the agent's changes arrive the same way (see the journey and
    // the grant-failure tests); a change from the workflow directly, too.
    let other = test.submit(ALICE, "request prod checkout 1h investigating").await;
    test.app
        .central
        .workflow
        .execute(
            &other,
            Some(RequestState::Pending),
            Command::Revoke { reason: None },
            &Actor::Person(person("admin@example.com")),
        )
        .await
        .unwrap();
    test.card_shows(&other, "Revoked by admin@example.com").await;
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_are_refused_change_nothing_and_are_audited() {
    let test = SlackTest::start().await;
    let body = SlashCommand::new(ALICE, "request prod payments 1h sneaky")
        .with_response_url(&test.slack.response_url("forged"))
        .form();
    let url = format!("{}/slack/commands", test.app.central.base);
    let now = test.now();
    let send = |headers: Vec<(&'static str, String)>, body: String| {
        let mut request = test
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
    let stale = test.signer.headers(now - 360, &body);
    assert_eq!(send(stale, body.clone()).await.unwrap().status(), 401);
    // Replayed: an old signature with a fresh timestamp.
    let mut replayed = test.signer.headers(now - 60, &body);
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
    let status = test.post_signed("/slack/commands", huge, now).await.status();
    assert_eq!(status, 413);
    // Signed, but the payload is not JSON / not a form.
    let status = test
        .post_signed("/slack/interactions", "payload=%7Bnot-json".into(), now)
        .await
        .status();
    assert_eq!(status, 400);
    let status = test
        .post_signed("/slack/commands", "%%%".into(), now)
        .await
        .status();
    assert_eq!(status, 400);

    assert_eq!(audited(&test, "chat.request_rejected").await, 4);
    let listed = test
        .app
        .central
        .store
        .list_requests(&Default::default())
        .await
        .unwrap();
    assert!(listed.is_empty(), "nothing was created");
    assert!(
        test.slack
            .calls()
            .iter()
            .all(|call| call.method != "chat.postMessage")
    );
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_commands_and_unknown_people_get_a_sentence() {
    let test = SlackTest::start().await;
    let answer = test.command(ALICE, "request prod payments soon because").await;
    assert!(
        answer.contains("`soon` is not a duration") && answer.contains("Usage:"),
        "{answer}"
    );
    let answer = test.command(ALICE, "request prod kube-system 1h because").await;
    assert!(answer.contains("excluded"), "{answer}");
    let answer = test.command(NOMAIL, "request prod payments 1h because").await;
    assert!(answer.contains("your Slack profile shows none"), "{answer}");
    assert_eq!(
        audited(&test, "chat.identity_refused").await,
        1,
        "a person Janus cannot identify is refused on the record"
    );
    let answer = test.command(EVE, "help").await;
    assert!(answer.contains("/janus request"), "{answer}");
    assert!(
        test.app
            .central
            .store
            .list_requests(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clicks_are_authorized_and_races_end_in_one_transition() {
    let test = SlackTest::start().await;
    let id = test.submit(ALICE, "request prod payments 1h investigating").await;
    assert_eq!(
        test.click(ALICE, "janus_approve", &id, None).await,
        "You cannot approve your own request; another approver must decide."
    );
    let answer = test.click(EVE, "janus_approve", &id, None).await;
    assert!(
        answer.starts_with("You are not an approver for cluster `prod`"),
        "{answer}"
    );
    assert_eq!(
        test.app.central.workflow.get(&id).await.unwrap().state,
        RequestState::Pending
    );
    assert_eq!(audited(&test, "command.refused").await, 2);

    // Bob and Carol click at the same moment: one approval wins, the other is refused.
    let (bob, carol) = tokio::join!(
        test.click(BOB, "janus_approve", &id, None),
        test.click(CAROL, "janus_approve", &id, None)
    );
    let answers = [bob, carol];
    let approved = answers
        .iter()
        .filter(|a| **a == format!("You approved {id}."))
        .count();
    assert_eq!(approved, 1, "{answers:?}");
    assert_eq!(audited(&test, "request.approved").await, 1);
    assert_eq!(
        audited(&test, "command.refused").await,
        3,
        "the losing click is audited"
    );

    // A click on a card that moved on changes nothing.
    test.card_shows(&id, "Active").await;
    let answer = test.click(BOB, "janus_deny", &id, None).await;
    assert!(answer.contains("active"), "{answer}");
    assert_eq!(
        test.app.central.workflow.get(&id).await.unwrap().state,
        RequestState::Active
    );
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ttl_chosen_on_the_card_applies() {
    let test = SlackTest::start().await;
    let id = test.submit(ALICE, "request prod payments 4h investigating").await;
    let state = json!({ "values": { "janus_actions": { "janus_ttl": {
        "type": "static_select", "selected_option": { "value": format!("{id}:3600") } } } } });
    test.click(BOB, "janus_approve", &id, Some(state)).await;
    test.card_shows(&id, "Active · approved by bob@example.com · TTL 1h")
        .await;
    assert_eq!(
        test.app.central.workflow.get(&id).await.unwrap().ttl_seconds,
        3_600
    );
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limited_update_is_delivered_once_after_retry_after() {
    let mut test = SlackTest::start().await;
    let id = test
        .submit(ALICE, "request quorum payments 1h investigating")
        .await;
    let ts = test.card(&id).await;
    test.slack
        .fail_next("chat.update", Fault::RateLimited { retry_after_secs: 30 });
    test.click(BOB, "janus_approve", &id, None).await;
    test.slack
        .wait_for(|state| !state.faulted_calls().is_empty())
        .await;
    retry_scheduled(&test, "rate_limited").await;
    assert_eq!(test.slack.message(APPROVALS, &ts).unwrap().update_count(), 0);

    test.app.stop_agent().await;
    test.app.central.clock.advance_secs(29);
    let due = test.app.central.store.next_notice_due().await.unwrap().unwrap();
    assert!(due > test.app.central.clock.now(), "not before Retry-After");
    test.app.central.clock.advance_secs(1);
    test.card_shows(&id, "1 of 2 approvals").await;
    assert_eq!(test.slack.faulted_calls().len(), 1);
    assert_eq!(test.slack.calls_to("chat.update").len(), 1, "delivered once");
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slack_down_during_a_change_then_the_card_catches_up() {
    let mut test = SlackTest::start().await;
    let id = test
        .submit(ALICE, "request quorum payments 1h investigating")
        .await;
    test.card_shows(&id, "0 of 2 approvals").await;
    test.slack.go_down();
    let workflow = &test.app.central.workflow;
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
    test.slack.come_up();
    test.app.stop_agent().await;
    test.app.central.clock.advance_secs(1);
    test.card_shows(&id, "Approved by bob@example.com, carol@example.com")
        .await;
    test.finish().await;
}

/// Waits (yielding, bounded) until the outbox has recorded `outcome` (`rate_limited`,
/// `retried`) for a delivery, i.e. the retry is scheduled on Janus's clock.
async fn retry_scheduled(test: &SlackTest, outcome: &str) {
    let metrics = test.app.central.workflow.metrics().clone();
    let scheduled = async {
        while metrics.notices_total(outcome) == 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), scheduled)
        .await
        .expect("the outbox scheduled a retry");
}
