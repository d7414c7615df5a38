//! The one chat notifier: how a notice from the outbox becomes a card, a direct message or
//! a terminal link, whatever the platform.
//!
//! The algorithm is written once here — post the card or update it where it was posted,
//! tell the requester, put the link in the card's thread (or privately, when a link signs
//! its holder in) — over [`ChatPlatform`], the few things Slack and Discord do differently:
//! their message formats and their API calls.

use std::sync::Arc;

use async_trait::async_trait;
use janus_core::config::{ClusterConfig, Config, LinksMode};
use janus_core::domain::{AccessRequest, AuditAction, NoticeKind};
use janus_core::links::LinkSigner;
use janus_core::outbox::{ChatMessageRef, DeliveryError, Notifier, OutboxItem};
use janus_core::workflow::Workflow;
use serde_json::Value;

use crate::card::{self, Card};

/// What every chat adapter works with: the workflow it drives, the configuration, and the
/// signer of terminal links (the one the web verifies them with).
#[derive(Debug, Clone, Copy)]
pub struct ChatContext<'a> {
    pub workflow: &'a Workflow,
    pub config: &'a Config,
    pub links: &'a LinkSigner,
}

/// A platform's message formats, and where it posts a cluster's cards.
#[derive(Debug, Clone, Copy)]
pub struct Formats {
    pub card: fn(&Card) -> Value,
    pub direct_message: fn(&str, &Card) -> Value,
    pub link: fn(&Card, &str) -> Value,
    /// The cluster's card channel on this platform (empty: none).
    pub card_conversation: fn(&ClusterConfig) -> &str,
}

/// What a chat platform provides to the shared notifier.
#[async_trait]
pub trait ChatPlatform: Send + Sync + std::fmt::Debug + 'static {
    /// The outbox channel name (`slack`, `discord`).
    const CHANNEL: &'static str;
    const FORMATS: Formats;

    fn context(&self) -> ChatContext<'_>;

    /// Posts `message` in `conversation`; where it now lives.
    async fn post(&self, conversation: &str, message: &Value) -> Result<ChatMessageRef, DeliveryError>;
    /// Replaces the posted message with `message`.
    async fn update(&self, posted: &ChatMessageRef, message: &Value) -> Result<(), DeliveryError>;
    /// Sends `message` to `user` in a direct conversation.
    async fn direct(&self, user: &str, message: &Value) -> Result<(), DeliveryError>;
    /// Posts `message` in the thread of the card `posted` (of `request`).
    async fn reply_in_thread(
        &self,
        posted: &ChatMessageRef,
        request: &AccessRequest,
        message: &Value,
    ) -> Result<(), DeliveryError>;
    /// Shows `message` to `user` alone, near the card when the platform can; a direct
    /// message otherwise.
    async fn private(
        &self,
        _posted: &ChatMessageRef,
        user: &str,
        message: &Value,
    ) -> Result<(), DeliveryError> {
        self.direct(user, message).await
    }
    /// The requester's platform user id when Janus has not seen them act on this platform
    /// (Discord's static `discord.users` map).
    fn configured_user(&self, _request: &AccessRequest) -> Option<String> {
        None
    }
}

/// The outbox notifier of a platform.
#[derive(Debug)]
pub struct ChatNotifier<P> {
    platform: Arc<P>,
}

impl<P: ChatPlatform> ChatNotifier<P> {
    pub fn new(platform: Arc<P>) -> ChatNotifier<P> {
        ChatNotifier { platform }
    }

    fn card(&self, request: &AccessRequest) -> Card {
        card::card(request, self.platform.context().workflow.policy())
    }

    async fn posted(&self, request: &AccessRequest) -> Result<Option<ChatMessageRef>, DeliveryError> {
        self.platform
            .context()
            .workflow
            .chat_message(&request.id, P::CHANNEL)
            .await
            .map_err(store_error)
    }

    /// The requester's user id on this platform, if Janus knows it.
    async fn requester(&self, request: &AccessRequest) -> Result<Option<String>, DeliveryError> {
        let seen = self
            .platform
            .context()
            .workflow
            .chat_identity_of(P::CHANNEL, &request.requester)
            .await
            .map_err(store_error)?;
        Ok(seen.or_else(|| self.platform.configured_user(request)))
    }

    async fn deliver_card(&self, request: &AccessRequest) -> Result<(), DeliveryError> {
        let message = (P::FORMATS.card)(&self.card(request));
        if let Some(posted) = self.posted(request).await? {
            return self.platform.update(&posted, &message).await;
        }
        let conversation = self
            .platform
            .context()
            .config
            .cluster(&request.cluster)
            .map(P::FORMATS.card_conversation)
            .unwrap_or_default();
        if conversation.is_empty() {
            tracing::debug!(request_id = %request.id, channel = P::CHANNEL, "no card channel for the cluster; no card");
            return Ok(());
        }
        let posted = self.platform.post(conversation, &message).await?;
        self.platform
            .context()
            .workflow
            .save_chat_message(&request.id, P::CHANNEL, &posted)
            .await
            .map_err(store_error)
    }

    async fn deliver_direct_message(
        &self,
        request: &AccessRequest,
        event: &str,
    ) -> Result<(), DeliveryError> {
        let Some(text) = AuditAction::parse(event).and_then(|event| card::direct_message(request, event))
        else {
            return Ok(());
        };
        let Some(user) = self.requester(request).await? else {
            tracing::debug!(request_id = %request.id, channel = P::CHANNEL, "the requester has no known account; no direct message");
            return Ok(());
        };
        let card = self.card(request);
        self.platform
            .direct(&user, &(P::FORMATS.direct_message)(&text, &card))
            .await
    }

    async fn deliver_link(&self, request: &AccessRequest) -> Result<(), DeliveryError> {
        let ChatContext {
            workflow,
            config,
            links,
        } = self.platform.context();
        let Some(url) = links.terminal_link(
            request,
            workflow.policy(),
            workflow.clock().now(),
            &config.webui.base_url,
        ) else {
            return Ok(()); // not Active (it ended before the link went out): nothing to open
        };
        let message = (P::FORMATS.link)(&self.card(request), &url);
        let posted = self.posted(request).await?;
        let requester = self.requester(request).await?;
        match (&config.links.mode, posted, requester) {
            (LinksMode::Sso, Some(posted), _) => {
                self.platform.reply_in_thread(&posted, request, &message).await
            }
            // The link signs its holder in: only the requester may see it.
            (LinksMode::Link, Some(posted), Some(user)) => {
                self.platform.private(&posted, &user, &message).await
            }
            (_, _, Some(user)) => self.platform.direct(&user, &message).await,
            (_, _, None) => {
                tracing::info!(request_id = %request.id, channel = P::CHANNEL, "nowhere to post the terminal link");
                Ok(())
            }
        }
    }
}

#[async_trait]
impl<P: ChatPlatform> Notifier for ChatNotifier<P> {
    fn channel(&self) -> &'static str {
        P::CHANNEL
    }

    async fn deliver(&self, item: &OutboxItem, request: &AccessRequest) -> Result<(), DeliveryError> {
        match item.kind {
            NoticeKind::Card => self.deliver_card(request).await,
            NoticeKind::DirectMessage => self.deliver_direct_message(request, &item.event).await,
            NoticeKind::TerminalLink => self.deliver_link(request).await,
        }
    }
}

fn store_error(error: impl std::fmt::Display) -> DeliveryError {
    DeliveryError::Transient(error.to_string())
}
