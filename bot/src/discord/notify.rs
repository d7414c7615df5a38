//! Discord as a [`ChatPlatform`]: cards in the cluster's `discordChannel`, edited on every
//! change, links in a thread started on the card, private links in a direct message (an
//! ephemeral follow-up would reach only whoever triggered a recent interaction — the
//! approver, at grant time).

use async_trait::async_trait;
use janus_core::domain::AccessRequest;
use janus_core::outbox::{ChatMessageRef, DeliveryError};
use serde_json::Value;

use super::{CHANNEL, Discord, embed};
use crate::notifier::{ChatContext, ChatNotifier, ChatPlatform, Formats};

/// The outbox's Discord notifier.
pub type DiscordNotifier = ChatNotifier<Discord>;

#[async_trait]
impl ChatPlatform for Discord {
    const CHANNEL: &'static str = CHANNEL;

    const FORMATS: Formats = Formats {
        card: embed::card_message,
        direct_message: embed::direct_message,
        link: embed::link_message,
        card_conversation: |cluster| &cluster.discord_channel,
    };

    fn context(&self) -> ChatContext<'_> {
        ChatContext {
            workflow: &self.workflow,
            config: &self.config,
            links: &self.links,
        }
    }

    async fn post(&self, conversation: &str, message: &Value) -> Result<ChatMessageRef, DeliveryError> {
        let message_id = self.api.create_message(conversation, message).await?;
        Ok(ChatMessageRef {
            conversation: conversation.to_owned(),
            message: message_id,
        })
    }

    async fn update(&self, posted: &ChatMessageRef, message: &Value) -> Result<(), DeliveryError> {
        Ok(self
            .api
            .edit_message(&posted.conversation, &posted.message, message)
            .await?)
    }

    async fn direct(&self, user: &str, message: &Value) -> Result<(), DeliveryError> {
        let channel = self.api.open_dm(user).await?;
        self.api.create_message(&channel, message).await?;
        Ok(())
    }

    async fn reply_in_thread(
        &self,
        posted: &ChatMessageRef,
        request: &AccessRequest,
        message: &Value,
    ) -> Result<(), DeliveryError> {
        let name = format!("Terminal {}", request.id);
        let thread = self
            .api
            .start_thread(&posted.conversation, &posted.message, &name)
            .await?;
        self.api.create_message(&thread, message).await?;
        Ok(())
    }

    fn configured_user(&self, request: &AccessRequest) -> Option<String> {
        self.config
            .discord
            .users
            .iter()
            .find(|(_, email)| email.as_str() == request.requester.as_str())
            .map(|(id, _)| id.clone())
    }
}
