//! The Discord part of a [`TestApp`](super::TestApp): the fake Discord REST API (`fixtures/`)
//! and an Ed25519-signed client of central's interactions endpoint. Central's configuration
//! must enable `discord:`; the part sets `publicKey` (the fixed test key) and `apiBaseUrl`
//! (the fake) from the environment, as a deployment would.

use janus_core::clock::{Clock, ManualClock};
use janus_core::domain::RequestId;
use janus_fixtures::discord::payloads::{User, button, command, modal};
use janus_fixtures::discord::{DiscordSigner, FakeDiscord, Message};
use serde_json::Value;

/// Where the cards are posted.
pub const APPROVALS: &str = "1200000000000000010";
/// Where people type commands.
pub const TEAM: &str = "1200000000000000011";
pub const ALICE: &str = "1000000000000000001";
pub const BOB: &str = "1000000000000000002";
pub const CAROL: &str = "1000000000000000003";
pub const EVE: &str = "1000000000000000004";
/// Listed nowhere, linked to nobody.
pub const STRANGER: &str = "1000000000000000005";
pub const DAVE: &str = "1000000000000000006";

/// The Discord user `id` as payloads carry it.
pub fn user(id: &str) -> User {
    User::new(id, &format!("user{}", &id[id.len() - 2..]))
}

/// The fake Discord and a signed client of central's interactions endpoint.
pub struct DiscordPart {
    pub fake: FakeDiscord,
    pub signer: DiscordSigner,
    pub http: reqwest::Client,
    base: String,
    clock: ManualClock,
}

impl std::ops::Deref for DiscordPart {
    type Target = FakeDiscord;

    fn deref(&self) -> &FakeDiscord {
        &self.fake
    }
}

impl DiscordPart {
    pub(super) async fn start(
        base: &str,
        clock: &ManualClock,
        env: &mut Vec<(String, String)>,
    ) -> DiscordPart {
        let fake = FakeDiscord::start(&[APPROVALS, TEAM]).await;
        let signer = DiscordSigner::fixed();
        env.push(("JANUS_DISCORD__API_BASE_URL".to_owned(), fake.url()));
        env.push(("JANUS_DISCORD__PUBLIC_KEY".to_owned(), signer.public_key_hex()));
        DiscordPart {
            fake,
            signer,
            http: reqwest::Client::new(),
            base: base.to_owned(),
            clock: clock.clone(),
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    pub async fn send(&self, headers: Vec<(&'static str, String)>, body: Vec<u8>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/discord/interactions", self.base))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.body(body).send().await.unwrap()
    }

    pub async fn post_signed(&self, body: Vec<u8>, timestamp: i64) -> reqwest::Response {
        let headers = self.signer.headers(timestamp, &body);
        self.send(headers, body).await
    }

    /// Sends a signed interaction; the JSON answer.
    pub async fn interact(&self, interaction: &Value) -> Value {
        let response = self
            .post_signed(interaction.to_string().into_bytes(), self.now())
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// An interaction answered with an ephemeral message: its text.
    pub async fn ephemeral(&self, interaction: &Value) -> String {
        let answer = self.interact(interaction).await;
        assert_eq!(answer["type"], 4, "{answer}");
        assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
        answer["data"]["content"].as_str().unwrap().to_owned()
    }

    /// `/janus <subcommand>` in the team channel as `user_id`: the ephemeral answer.
    pub async fn command(&self, user_id: &str, subcommand: &str, options: &[(&str, &str)]) -> String {
        self.ephemeral(&command(&user(user_id), TEAM, subcommand, options))
            .await
    }

    /// `/janus request` as `user_id`: the new request's id.
    pub async fn submit(&self, user_id: &str, cluster: &str, namespaces: &str, ttl: &str) -> RequestId {
        let options = [
            ("cluster", cluster),
            ("namespaces", namespaces),
            ("ttl", ttl),
            ("reason", "investigating 500s on /pay"),
        ];
        let answer = self.command(user_id, "request", &options).await;
        super::chat::submitted_id(&answer)
    }

    /// `/janus request` as `user_id`, approved by Bob on the card, once the card shows it
    /// Active: the id.
    pub async fn active(&self, user_id: &str, cluster: &str, namespaces: &str, ttl: &str) -> RequestId {
        let id = self.submit(user_id, cluster, namespaces, ttl).await;
        self.click(BOB, "janus_approve", &id).await;
        self.card_shows(&id, "Active").await;
        id
    }

    /// The id of `id`'s card once posted.
    pub async fn card(&self, id: &RequestId) -> String {
        let needle = id.to_string();
        self.fake
            .wait_for_value(|state| {
                state
                    .messages(APPROVALS)
                    .iter()
                    .find(|message| message.text().contains(&needle))
                    .map(|message| message.id.clone())
            })
            .await
    }

    /// The terminal link posted in the thread started on `id`'s card.
    pub async fn thread_link(&self, id: &RequestId) -> String {
        let card = self.card(id).await;
        let thread = self
            .fake
            .wait_for_value(|state| {
                let thread = state.thread_of(&card)?;
                state
                    .messages(thread)
                    .first()
                    .map(|message| message.content.clone())
            })
            .await;
        let start = thread
            .find("https://janus.example.test/t/")
            .expect("link in thread");
        thread[start..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the card's current version contains `needle`.
    pub async fn card_shows(&self, id: &RequestId, needle: &str) -> Message {
        let message = self.card(id).await;
        self.fake
            .wait_for_value(|state| {
                let card = state.message(&message)?;
                card.text().contains(needle).then(|| card.clone())
            })
            .await
    }

    /// Clicks the button `action` on `id`'s card as `user_id` where the button opens a form
    /// (a modal): the form's custom id and the whole answer.
    pub async fn open_form(&self, user_id: &str, action: &str, id: &RequestId) -> (String, Value) {
        let message = self.card(id).await;
        let interaction = button(&user(user_id), APPROVALS, &message, &format!("{action}:{id}"));
        let opened = self.interact(&interaction).await;
        assert_eq!(opened["type"], 9, "a modal: {opened}");
        let custom_id = opened["data"]["custom_id"].as_str().unwrap().to_owned();
        (custom_id, opened)
    }

    /// Submits the form `custom_id` opened from `id`'s card as `user_id`, with `fields`: the
    /// ephemeral answer.
    pub async fn fill_form(
        &self,
        user_id: &str,
        id: &RequestId,
        custom_id: &str,
        fields: &[(&str, &str)],
    ) -> String {
        let message = self.card(id).await;
        let submitted = modal(&user(user_id), APPROVALS, Some(&message), custom_id, fields);
        self.ephemeral(&submitted).await
    }

    /// Clicks the button `action` on `id`'s card as `user_id`: the ephemeral answer.
    pub async fn click(&self, user_id: &str, action: &str, id: &RequestId) -> String {
        let message = self.card(id).await;
        let interaction = button(&user(user_id), APPROVALS, &message, &format!("{action}:{id}"));
        self.ephemeral(&interaction).await
    }
}

impl super::TestApp {
    /// The Discord part.
    pub fn discord(&self) -> &DiscordPart {
        self.discord
            .as_ref()
            .expect("this story has no Discord: start it with `.discord()`")
    }
}
