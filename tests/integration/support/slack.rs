//! The Slack part of a [`TestApp`](super::TestApp): the fake Slack Web API (`fixtures/`) with
//! its channels and people, and a signed client of central's Slack routes. Central's
//! configuration must enable `slack:` with [`SIGNING_SECRET`]; the part points `apiBaseUrl`
//! at the fake.

use janus_core::clock::{Clock, ManualClock};
use janus_core::domain::RequestId;
use janus_fixtures::slack::payloads::{BlockActions, SlashCommand};
use janus_fixtures::slack::{FakeSlack, SlackSigner};

use serde_json::{Value, json};

pub const SIGNING_SECRET: &str = "slack-signing-secret-for-tests";
/// Where the cards are posted.
pub const APPROVALS: &str = "C0APPROVALS";
/// Where people type commands.
pub const TEAM: &str = "C0TEAMROOM";
pub const ALICE: &str = "U0ALICE";
pub const BOB: &str = "U0BOB";
pub const CAROL: &str = "U0CAROL";
pub const DAVE: &str = "U0DAVE";
pub const EVE: &str = "U0EVE";
/// A Slack user without an email.
pub const NOMAIL: &str = "U0NOMAIL";

/// The fake Slack and a signed client of central's Slack routes.
pub struct SlackPart {
    pub fake: FakeSlack,
    pub signer: SlackSigner,
    pub http: reqwest::Client,
    base: String,
    clock: ManualClock,
}

impl std::ops::Deref for SlackPart {
    type Target = FakeSlack;

    fn deref(&self) -> &FakeSlack {
        &self.fake
    }
}

impl SlackPart {
    pub(super) async fn start(base: &str, clock: &ManualClock, env: &mut Vec<(String, String)>) -> SlackPart {
        let fake = FakeSlack::builder()
            .channel(APPROVALS)
            .channel(TEAM)
            .user(ALICE, Some("alice@example.com"), "Alice")
            .user(BOB, Some("bob@example.com"), "Bob")
            .user(CAROL, Some("carol@example.com"), "Carol")
            .user(DAVE, Some("dave@example.com"), "Dave")
            .user(EVE, Some("eve@example.com"), "Eve")
            .user(NOMAIL, None, "No Mail")
            .start()
            .await;
        env.push(("JANUS_SLACK__API_BASE_URL".to_owned(), fake.api_url()));
        SlackPart {
            fake,
            signer: SlackSigner::new(SIGNING_SECRET),
            http: reqwest::Client::new(),
            base: base.to_owned(),
            clock: clock.clone(),
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    pub async fn post_signed(&self, path: &str, body: String, timestamp: i64) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
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
            .with_response_url(&self.fake.response_url(&format!("cmd-{user}")))
            .form();
        let response = self.post_signed("/slack/commands", body, self.now()).await;
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["response_type"], "ephemeral");
        answer["text"].as_str().unwrap().to_owned()
    }

    /// `/janus request …` as `user`: the new request's id.
    pub async fn submit(&self, user: &str, text: &str) -> RequestId {
        let answer = self.command(user, text).await;
        super::chat::submitted_id(&answer)
    }

    /// `/janus request …` as `user`, once its card is posted and shows it Pending: the id.
    pub async fn pending(&self, user: &str, text: &str) -> RequestId {
        let id = self.submit(user, text).await;
        self.card_shows(&id, "Pending").await;
        id
    }

    /// `/janus request …` as `user`, approved by Bob on the card, once the card shows it
    /// Active: the id.
    pub async fn active(&self, user: &str, text: &str) -> RequestId {
        let id = self.submit(user, text).await;
        self.click(BOB, "janus_approve", &id, None).await;
        self.card_shows(&id, "Active").await;
        id
    }

    /// The card of `id` once posted: its ts.
    pub async fn card(&self, id: &RequestId) -> String {
        let needle = id.to_string();
        self.fake
            .wait_for_value(|state| {
                state
                    .messages(APPROVALS)
                    .iter()
                    .find(|message| message.thread_ts.is_none() && text_of(message).contains(&needle))
                    .map(|message| message.ts.clone())
            })
            .await
    }

    /// The terminal link posted in the thread of `id`'s card (its first reply).
    pub async fn thread_link(&self, id: &RequestId) -> String {
        let ts = self.card(id).await;
        let reply = self
            .fake
            .wait_for_value(|state| state.thread_replies(APPROVALS, &ts).first().map(|m| (*m).clone()))
            .await;
        let text = text_of(&reply);
        let start = text
            .find("https://janus.example.test/t/")
            .expect("link in thread");
        let url = &text[start..];
        url[..url.find('|').expect("a Slack link")].to_owned()
    }

    /// Waits until the card's current text contains `needle`; returns the whole card.
    pub async fn card_shows(&self, id: &RequestId, needle: &str) -> Value {
        let ts = self.card(id).await;
        self.fake
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
            .with_response_url(&self.fake.response_url(&key));
        if let Some(state) = state {
            click = click.with_state(state);
        }
        let response = self
            .post_signed("/slack/interactions", click.form(), self.now())
            .await;
        assert_eq!(response.status(), 200);
        self.reply(&key).await
    }

    /// The first post to the `response_url` named `key`: its text.
    pub async fn reply(&self, key: &str) -> String {
        let post = self
            .fake
            .wait_for_value(|state| state.responses(key).first().map(|post| (*post).clone()))
            .await;
        post.text().unwrap_or_default().to_owned()
    }
}

/// A message's text and blocks, for searching.
pub fn text_of(message: &janus_fixtures::slack::Message) -> String {
    format!(
        "{} {}",
        message.text.clone().unwrap_or_default(),
        message.blocks.clone().unwrap_or(Value::Null)
    )
}

impl super::TestApp {
    /// The Slack part.
    pub fn slack(&self) -> &SlackPart {
        self.slack
            .as_ref()
            .expect("this story has no Slack: start it with `.slack()`")
    }
}
