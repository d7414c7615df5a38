//! Discord: the HTTP interactions endpoint (application commands, autocomplete, buttons,
//! the TTL menu, modals), account linking, and the outbox notifier.
//!
//! Every request is verified before its body is read as anything: Ed25519 over
//! `timestamp ‖ body` with the application's public key (serenity's `Verifier`), and a
//! five-minute window on Janus's clock. A refusal is a 401 (413 for a body over 64 KiB, 400
//! for one that does not parse) and a `chat.request_rejected` audit event; nothing else
//! happens. Bodies are parsed with serenity's strict interaction models.
//!
//! Discord tells Janus no email. A Discord user acts as a principal when `discord.users`
//! maps their id, or when they linked their account: `/janus link` answers (ephemerally)
//! with a signed, single-use link valid for ten minutes; opening it signs the person in
//! through the web and binds the Discord id to that principal. Anyone else is told to run
//! `/janus link`. Every answer leaves well within Discord's three seconds: the outcome itself
//! when it is ready within [`ANSWER_BUDGET`] (almost always: a click is one transaction),
//! otherwise "thinking…" at once, and the answer is edited when the outcome is known.

mod api;
mod command;
mod embed;
mod interactions;
mod notify;
mod verify;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, TimeDelta, Utc};
use janus_core::config::Config;
use janus_core::domain::{Principal, RequestId};
use janus_core::links::LinkSigner;
use janus_core::workflow::Workflow;
use serde_json::{Value, json};
use serenity::interactions_endpoint::Verifier;
use tokio::sync::oneshot;

pub use api::{DiscordApi, DiscordError};
pub use command::{commands as command_definitions, link_name, link_subject, link_url};
pub use embed::{card_embed, card_message, escape};
pub use notify::DiscordNotifier;
pub use verify::{MAX_SKEW_SECONDS, SignatureError, verifier, verify};

/// The channel name of Discord in the outbox and in chat identities.
pub const CHANNEL: &str = "discord";

/// The purpose `/janus link` signatures are made for (see `LinkSigner::sign_for`).
pub const LINK_PURPOSE: &str = "discord-link";
/// How long a `/janus link` link stays valid.
pub const LINK_TTL_SECONDS: i64 = 600;

/// Discord's bodies are small; anything larger is refused before it is parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long an interaction's answer waits for its outcome before Janus acknowledges it
/// ("thinking…", deferred) and edits the answer later. Discord allows three seconds; a short
/// budget keeps acknowledgements fast when the database is busy (a queue of waiting answers
/// would otherwise grow with the load), at the cost of one more REST call for those answers.
pub const ANSWER_BUDGET: Duration = Duration::from_millis(15);
/// How often Janus re-records which Discord account acts as a principal (for DMs).
const REMEMBER_SECONDS: i64 = 3_600;
const REMEMBERED_ENTRIES: usize = 10_000;

/// The Discord adapter.
pub struct Discord {
    workflow: Workflow,
    config: Arc<Config>,
    api: DiscordApi,
    links: Arc<LinkSigner>,
    verifier: Option<Verifier>,
    remembered: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Discord")
            .field("api", &self.api)
            .field("verifier", &self.verifier.is_some())
            .finish_non_exhaustive()
    }
}

impl Discord {
    /// Builds the adapter from `discord.*` and `webui.baseUrl`. `links` is the web's signer,
    /// so terminal links and `/janus link` links verify where they are opened. An invalid
    /// public key (refused when the configuration loads) refuses every request.
    pub fn new(workflow: Workflow, config: Arc<Config>, links: Arc<LinkSigner>) -> Arc<Discord> {
        let discord = &config.discord;
        let api = DiscordApi::new(
            &discord.api_base_url,
            discord.bot_token.clone(),
            &discord.application_id,
        );
        let verifier = verifier(&discord.public_key);
        if verifier.is_none() {
            tracing::error!(
                "discord.publicKey is not an Ed25519 public key; every Discord request will be refused"
            );
        }
        Arc::new(Discord {
            workflow,
            config,
            api,
            links,
            verifier,
            remembered: Mutex::new(HashMap::new()),
        })
    }

    /// `POST /discord/interactions`.
    pub fn routes(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/discord/interactions", post(interactions_endpoint))
            // The handler reads the body itself, so the refusal of a large one is audited.
            .layer(DefaultBodyLimit::disable())
            .with_state(self.clone())
    }

    /// The outbox notifier that posts and edits this adapter's cards.
    pub fn notifier(self: &Arc<Self>) -> Arc<DiscordNotifier> {
        Arc::new(DiscordNotifier::new(self.clone()))
    }

    /// The REST client (also for `janus discord register-commands`).
    pub fn api(&self) -> &DiscordApi {
        &self.api
    }

    fn now(&self) -> DateTime<Utc> {
        self.workflow.clock().now()
    }

    async fn refuse(&self, status: StatusCode, code: &'static str, message: &str) -> Response {
        tracing::warn!(code, "refused a Discord request: {message}");
        crate::chat::audit(
            &self.workflow,
            janus_core::domain::AuditAction::ChatRequestRejected,
            CHANNEL,
            None,
            json!({ "platform": CHANNEL, "code": code }),
        )
        .await;
        let body = json!({ "error": { "code": code, "message": message } });
        (status, axum::Json(body)).into_response()
    }

    /// The principal a Discord user acts as: `discord.users`, then a linked account.
    async fn principal(&self, user_id: &str) -> Result<Principal, String> {
        let email = match self.config.discord.users.get(user_id) {
            Some(email) => Some(email.clone()),
            None => self.workflow.discord_principal(user_id).await.map_err(|error| {
                tracing::warn!(%error, "could not look up a Discord account");
                "Janus could not look up your account right now; try again in a moment.".to_owned()
            })?,
        };
        let Some(email) = email else {
            crate::chat::identity_refused(&self.workflow, CHANNEL, user_id, "unlinked").await;
            return Err(
                "Janus does not know who you are on Discord yet. Run `/janus link` to connect your \
                 Discord account to your Janus sign-in."
                    .to_owned(),
            );
        };
        let Ok(principal) = Principal::parse(&email) else {
            crate::chat::identity_refused(&self.workflow, CHANNEL, user_id, "bad_email").await;
            return Err("The account linked to your Discord user is not one Janus can use.".to_owned());
        };
        self.remember(user_id, &principal).await;
        Ok(principal)
    }

    /// Records which Discord user acts as `principal`, so direct messages reach them; at
    /// most once an hour per user.
    async fn remember(&self, user_id: &str, principal: &Principal) {
        let now = self.now();
        {
            let mut remembered = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((known, at)) = remembered.get(user_id)
                && known == principal.as_str()
                && now - *at < TimeDelta::seconds(REMEMBER_SECONDS)
            {
                return;
            }
            if remembered.len() >= REMEMBERED_ENTRIES {
                remembered.clear();
            }
            remembered.insert(user_id.to_owned(), (principal.to_string(), now));
        }
        if let Err(error) = self
            .workflow
            .remember_chat_identity(CHANNEL, user_id, principal)
            .await
        {
            tracing::warn!(%error, "could not remember a Discord identity");
        }
    }

    /// Runs `command` for `actor` (see [`crate::chat::act`]).
    async fn act(
        &self,
        id: &RequestId,
        expected: Option<janus_core::domain::RequestState>,
        command: janus_core::domain::Command,
        actor: &Principal,
    ) -> Result<janus_core::domain::AccessRequest, String> {
        crate::chat::act(&self.workflow, CHANNEL, id, expected, command, actor).await
    }

    /// Answers with `work`'s result if it is ready within [`ANSWER_BUDGET`]; otherwise answers
    /// "thinking…" (ephemeral) and edits that answer with the result when it comes.
    async fn answer_within_deadline(
        self: &Arc<Self>,
        token: String,
        work: impl Future<Output = Value> + Send + 'static,
    ) -> Response {
        let (sender, mut receiver) = oneshot::channel();
        let discord = self.clone();
        tokio::spawn(async move {
            let answer = work.await;
            if let Err(answer) = sender.send(answer) {
                // Too late for the HTTP answer: edit the deferred one.
                let data = answer.get("data").cloned().unwrap_or(Value::Null);
                if let Err(error) = discord.api.edit_original(&token, &data).await {
                    tracing::warn!(%error, "could not send a late answer to Discord");
                }
            }
        });
        tokio::select! {
            answer = &mut receiver => match answer {
                Ok(answer) => axum::Json(answer).into_response(),
                Err(_) => axum::Json(embed::ephemeral("Janus could not finish that; try again.")).into_response(),
            },
            () = self.workflow.clock().sleep(ANSWER_BUDGET) => {
                receiver.close();
                match receiver.try_recv() {
                    Ok(answer) => axum::Json(answer).into_response(),
                    Err(_) => axum::Json(embed::deferred()).into_response(),
                }
            }
        }
    }
}

async fn interactions_endpoint(
    State(discord): State<Arc<Discord>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return discord
            .refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "The body is larger than 64 KiB.",
            )
            .await;
    };
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let Some(verifier) = &discord.verifier else {
        return discord
            .refuse(
                StatusCode::UNAUTHORIZED,
                "no_public_key",
                "Janus has no valid discord.publicKey.",
            )
            .await;
    };
    if let Err(error) = verify(
        verifier,
        header("x-signature-ed25519"),
        header("x-signature-timestamp"),
        &body,
        discord.now(),
    ) {
        return discord
            .refuse(StatusCode::UNAUTHORIZED, error.code(), &error.to_string())
            .await;
    }
    interactions::handle(discord, &body).await
}
