//! Slack end to end: signed commands and clicks against central, the card kept in sync by
//! the outbox on the fake Slack Web API, a real agent granting on the fake API server.

use std::time::Duration;

use janus_core::clock::Clock;
use janus_core::config::Config;
use janus_core::domain::{Actor, Command, RequestId, RequestState};
use janus_core::links::{LinkParams, LinkSigner};
use janus_core::scheduler::Scheduler;
use janus_fixtures::slack::payloads::{BlockActions, SlashCommand, view_submission};
use janus_fixtures::slack::{Fault, FakeSlack, SlackSigner};
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
        .submit(ALICE, "request prod payments,checkout 2h investigating 500s on /pay")
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
    let start = text.find("https://janus.example.test/t/").expect("link in thread");
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
    assert_eq!(Some(verified.expires_at), request.expires_at.map(|at| at.timestamp()));
    assert!(signer.verify(id.as_str(), &params, Some("bob@example.com"), test.now()).is_err());

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
    let report = Scheduler::new(test.app.central.workflow.clone()).tick().await.unwrap();
    assert_eq!(report.expired, 1);
    test.app.restart_agent().await;
    test.card_shows(&id, "Credentials deleted.").await;
    let card = test.card_shows(&id, "Expired").await;
    assert!(!card.to_string().contains("janus_revoke"), "no buttons once ended");
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
