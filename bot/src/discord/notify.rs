//! The outbox's Discord notifier: posts the card in the cluster's `discordChannel` and
//! edits it on every change, messages the requester, and posts the terminal link in a
//! thread started on the card (privately, in a direct message, with `links.mode: link`).

use std::sync::Arc;

use async_trait::async_trait;
use janus_core::config::LinksMode;
use janus_core::domain::{AccessRequest, AuditAction, NoticeKind};
use janus_core::outbox::{ChatMessageRef, DeliveryError, Notifier, OutboxItem};

use super::embed::{card_message, direct_message, link_message};
use super::{CHANNEL, Discord};
use crate::card::{self, Card};

#[derive(Debug, Clone)]
pub struct DiscordNotifier {
    discord: Arc<Discord>,
}

fn store_error(error: impl std::fmt::Display) -> DeliveryError {
    DeliveryError::Transient(error.to_string())
}

impl DiscordNotifier {
    pub(super) fn new(discord: Arc<Discord>) -> DiscordNotifier {
        DiscordNotifier { discord }
    }

    async fn card(&self, request: &AccessRequest) -> Card {
        card::current_card(&self.discord.workflow, request).await
    }

    fn channel_of(&self, request: &AccessRequest) -> Option<String> {
        self.discord
            .config
            .cluster(&request.cluster)
            .map(|cluster| cluster.discord_channel.clone())
            .filter(|channel| !channel.is_empty())
    }

    async fn posted(&self, request: &AccessRequest) -> Result<Option<ChatMessageRef>, DeliveryError> {
        self.discord
            .workflow
            .chat_message(&request.id, CHANNEL)
            .await
            .map_err(store_error)
    }

    async fn deliver_card(&self, request: &AccessRequest) -> Result<(), DeliveryError> {
        let message = card_message(&self.card(request).await);
        let api = &self.discord.api;
        if let Some(posted) = self.posted(request).await? {
            return Ok(api
                .edit_message(&posted.conversation, &posted.message, &message)
                .await?);
        }
        let Some(channel) = self.channel_of(request) else {
            tracing::debug!(request_id = %request.id, "no discordChannel for the cluster; no card");
            return Ok(());
        };
        let message_id = api.create_message(&channel, &message).await?;
        let reference = ChatMessageRef {
            conversation: channel,
            message: message_id,
        };
        self.discord
            .workflow
            .save_chat_message(&request.id, CHANNEL, &reference)
            .await
            .map_err(store_error)
    }

    /// The requester's Discord user id: one who acted through Discord, or the static map.
    async fn requester(&self, request: &AccessRequest) -> Result<Option<String>, DeliveryError> {
        let seen = self
            .discord
            .workflow
            .chat_identity_of(CHANNEL, &request.requester)
            .await
            .map_err(store_error)?;
        Ok(seen.or_else(|| {
            self.discord
                .config
                .discord
                .users
                .iter()
                .find(|(_, email)| email.as_str() == request.requester.as_str())
                .map(|(id, _)| id.clone())
        }))
    }

    async fn send_dm(&self, user: &str, message: &serde_json::Value) -> Result<(), DeliveryError> {
        let channel = self.discord.api.open_dm(user).await?;
        self.discord.api.create_message(&channel, message).await?;
        Ok(())
    }

    async fn deliver_dm(&self, request: &AccessRequest, event: &str) -> Result<(), DeliveryError> {
        let Some(text) = AuditAction::parse(event).and_then(|event| card::direct_message(request, event))
        else {
            return Ok(());
        };
        let Some(user) = self.requester(request).await? else {
            tracing::debug!(request_id = %request.id, "the requester has no known Discord account; no DM");
            return Ok(());
        };
        let card = self.card(request).await;
        self.send_dm(&user, &direct_message(&text, &card)).await
    }

    async fn deliver_link(&self, request: &AccessRequest) -> Result<(), DeliveryError> {
        let workflow = &self.discord.workflow;
        let Some(url) = self.discord.links.terminal_link(
            request,
            workflow.policy(),
            workflow.clock().now(),
            &self.discord.config.webui.base_url,
        ) else {
            return Ok(()); // not Active (ended before the link went out): nothing to open
        };
        let message = link_message(&self.card(request).await, &url);
        let posted = self.posted(request).await?;
        let requester = self.requester(request).await?;
        match (&self.discord.config.links.mode, posted, requester) {
            (LinksMode::Sso, Some(card), _) => {
                let api = &self.discord.api;
                let thread = api
                    .start_thread(
                        &card.conversation,
                        &card.message,
                        &format!("Terminal {}", request.id),
                    )
                    .await?;
                api.create_message(&thread, &message).await?;
            }
            // The link signs its holder in (link mode): only the requester may see it. An
            // ephemeral follow-up reaches only whoever triggered a recent interaction (the
            // approver, here), so the private place is a direct message.
            (_, _, Some(user)) => self.send_dm(&user, &message).await?,
            (_, _, None) => {
                tracing::info!(request_id = %request.id, "nowhere in Discord to post the terminal link");
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Notifier for DiscordNotifier {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    async fn deliver(&self, item: &OutboxItem, request: &AccessRequest) -> Result<(), DeliveryError> {
        match item.kind {
            NoticeKind::Card => self.deliver_card(request).await,
            NoticeKind::DirectMessage => self.deliver_dm(request, &item.event).await,
            NoticeKind::TerminalLink => self.deliver_link(request).await,
        }
    }
}
