//! Slack: `/janus` slash commands, card buttons and modals, and the outbox notifier.
//!
//! Every request from Slack is verified (v0 signature, five-minute window on Janus's
//! clock) before its body is read as anything; a refusal is a 401 and an audit event.
//! Slack user ids become principals through `users.info` (the profile email), cached for
//! an hour. Answers go back within Slack's three seconds: work that takes longer finishes
//! in the background and replies through the interaction's `response_url`.

mod api;
mod blocks;
mod command;
mod interactions;
mod notify;
mod slash;
mod verify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, TimeDelta, Utc};
use janus_core::config::Config;
use janus_core::domain::{Principal, RequestId};
use janus_core::links::LinkSigner;
use janus_core::workflow::Workflow;
use serde_json::json;

pub use api::{SlackApi, SlackError};
pub use blocks::{card_message, escape};
pub use command::{SlashCommand, parse as parse_command};
pub use notify::SlackNotifier;
pub use verify::{SignatureError, verify};

/// The channel name of Slack in the outbox and in chat identities.
pub const CHANNEL: &str = "slack";

/// Slack's bodies are small; anything larger is refused before it is read.
const MAX_BODY_BYTES: usize = 64 * 1024;
const IDENTITY_TTL_SECONDS: i64 = 3_600;
const IDENTITY_CACHE_ENTRIES: usize = 10_000;

/// The Slack adapter: routes for Slack, and the notifier for the outbox.
#[derive(Debug)]
pub struct Slack {
    workflow: Workflow,
    config: Arc<Config>,
    api: SlackApi,
    links: Arc<LinkSigner>,
    identities: Mutex<HashMap<String, (Principal, DateTime<Utc>)>>,
}

impl Slack {
    /// Builds the adapter from `slack.*` and `webui.baseUrl`. `links` is the signer the web
    /// verifies terminal links with, so the links Slack posts are the ones the web accepts.
    pub fn new(workflow: Workflow, config: Arc<Config>, links: Arc<LinkSigner>) -> Arc<Slack> {
        let api = SlackApi::new(&config.slack.api_base_url, config.slack.bot_token.clone());
        Arc::new(Slack {
            workflow,
            config,
            api,
            links,
            identities: Mutex::new(HashMap::new()),
        })
    }

    /// `POST /slack/commands` and `POST /slack/interactions`.
    pub fn routes(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/slack/commands", post(commands))
            .route("/slack/interactions", post(interactions))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.clone())
    }

    /// The outbox notifier that posts and updates this adapter's cards.
    pub fn notifier(self: &Arc<Self>) -> Arc<SlackNotifier> {
        Arc::new(SlackNotifier::new(self.clone()))
    }

    fn now(&self) -> DateTime<Utc> {
        self.workflow.clock().now()
    }

    /// Checks the signature; a refusal is audited and answered 401.
    async fn verified(&self, headers: &HeaderMap, body: &Bytes) -> Result<(), Response> {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let result = verify(
            self.config.slack.signing_secret.expose(),
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
            body,
            self.now(),
        );
        let Err(error) = result else { return Ok(()) };
        tracing::warn!(code = error.code(), "refused a Slack request: {error}");
        self.audit(
            janus_core::domain::AuditAction::ChatRequestRejected,
            "slack",
            None,
            json!({ "platform": CHANNEL, "code": error.code() }),
        )
        .await;
        let body = json!({ "error": { "code": error.code(), "message": error.to_string() } });
        Err((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response())
    }

    async fn audit(
        &self,
        action: janus_core::domain::AuditAction,
        actor: &str,
        id: Option<&RequestId>,
        details: serde_json::Value,
    ) {
        crate::chat::audit(&self.workflow, action, actor, id, details).await;
    }

    /// The principal behind a Slack user: the profile email, vouched for by Slack.
    async fn principal(&self, user_id: &str) -> Result<Principal, String> {
        let now = self.now();
        if let Some((principal, at)) = self.cached(user_id)
            && now - at < TimeDelta::seconds(IDENTITY_TTL_SECONDS)
        {
            return Ok(principal);
        }
        let email = self.api.user_email(user_id).await.map_err(|error| {
            tracing::warn!(%error, "users.info failed");
            "Janus could not look up your Slack profile right now; try again in a moment.".to_owned()
        })?;
        let Some(email) = email else {
            crate::chat::identity_refused(&self.workflow, CHANNEL, user_id, "no_email").await;
            return Err(
                "Janus identifies people by email, and your Slack profile shows none. Ask a \
                        workspace admin to make emails visible, or use the Janus dashboard."
                    .to_owned(),
            );
        };
        let Ok(principal) = Principal::parse(&email) else {
            crate::chat::identity_refused(&self.workflow, CHANNEL, user_id, "bad_email").await;
            return Err("Your Slack profile email is not one Janus can use.".to_owned());
        };
        {
            let mut cache = self.identities.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= IDENTITY_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(user_id.to_owned(), (principal.clone(), now));
        }
        if let Err(error) = self
            .workflow
            .remember_chat_identity(CHANNEL, user_id, &principal)
            .await
        {
            tracing::warn!(%error, "could not remember a Slack identity");
        }
        Ok(principal)
    }

    fn cached(&self, user_id: &str) -> Option<(Principal, DateTime<Utc>)> {
        self.identities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user_id)
            .cloned()
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
}

async fn commands(State(slack): State<Arc<Slack>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = slack.verified(&headers, &body).await {
        return refusal;
    }
    slash::handle(slack, &body).await
}

async fn interactions(State(slack): State<Arc<Slack>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = slack.verified(&headers, &body).await {
        return refusal;
    }
    interactions::handle(slack, &body).await
}

/// A 400 with a sentence, for bodies that verified but do not parse.
fn bad_request(message: &str) -> Response {
    let body = json!({ "error": { "code": "bad_request", "message": message } });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}
