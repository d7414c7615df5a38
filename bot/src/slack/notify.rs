//! Slack as a [`ChatPlatform`]: cards in the cluster's `slackChannel`, updated in place
//! (`chat.update`), links in the card's thread, private links as an ephemeral message in the
//! card's channel (a direct message when Slack refuses it).

use async_trait::async_trait;
use janus_core::domain::AccessRequest;
use janus_core::outbox::{ChatMessageRef, DeliveryError};
use serde_json::Value;

use super::{CHANNEL, Slack, blocks};
use crate::notifier::{ChatContext, ChatNotifier, ChatPlatform, Formats};

/// The outbox's Slack notifier.
pub type SlackNotifier = ChatNotifier<Slack>;

#[async_trait]
impl ChatPlatform for Slack {
    const CHANNEL: &'static str = CHANNEL;

    const FORMATS: Formats = Formats {
        card: blocks::card_message,
        direct_message: blocks::direct_message,
        link: blocks::link_message,
        card_conversation: |cluster| &cluster.slack_channel,
    };

    fn context(&self) -> ChatContext<'_> {
        ChatContext {
            workflow: &self.workflow,
            config: &self.config,
            links: &self.links,
        }
    }

    async fn post(&self, conversation: &str, message: &Value) -> Result<ChatMessageRef, DeliveryError> {
        let posted = self.api.post_message(conversation, message, None).await?;
        Ok(ChatMessageRef {
            conversation: posted.channel,
            message: posted.ts,
        })
    }

    async fn update(&self, posted: &ChatMessageRef, message: &Value) -> Result<(), DeliveryError> {
        Ok(self
            .api
            .update_message(&posted.conversation, &posted.message, message)
            .await?)
    }

    async fn direct(&self, user: &str, message: &Value) -> Result<(), DeliveryError> {
        let conversation = self.api.open_dm(user).await?;
        self.api.post_message(&conversation, message, None).await?;
        Ok(())
    }

    async fn reply_in_thread(
        &self,
        posted: &ChatMessageRef,
        _request: &AccessRequest,
        message: &Value,
    ) -> Result<(), DeliveryError> {
        self.api
            .post_message(&posted.conversation, message, Some(&posted.message))
            .await?;
        Ok(())
    }

    async fn private(
        &self,
        posted: &ChatMessageRef,
        user: &str,
        message: &Value,
    ) -> Result<(), DeliveryError> {
        match self.api.post_ephemeral(&posted.conversation, user, message).await {
            Ok(()) => Ok(()),
            Err(_) => self.direct(user, message).await,
        }
    }
}
