//! Slack as a [`ChatPlatform`]: cards in the cluster's `slackChannel`, updated in place
//! (`chat.update`), links in the card's thread, private links as an ephemeral message in the
//! card's channel (a direct message when Slack refuses it).

use async_trait::async_trait;
use janus_core::config::{ClusterConfig, Config};
use janus_core::domain::AccessRequest;
use janus_core::links::LinkSigner;
use janus_core::outbox::{ChatMessageRef, DeliveryError};
use janus_core::workflow::Workflow;
use serde_json::Value;

use super::{CHANNEL, Slack, blocks};
use crate::card::Card;
use crate::notifier::{ChatNotifier, ChatPlatform};

/// The outbox's Slack notifier.
pub type SlackNotifier = ChatNotifier<Slack>;

#[async_trait]
impl ChatPlatform for Slack {
    const CHANNEL: &'static str = CHANNEL;

    fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn links(&self) -> &LinkSigner {
        &self.links
    }

    fn card_conversation(cluster: &ClusterConfig) -> &str {
        &cluster.slack_channel
    }

    fn card_message(card: &Card) -> Value {
        blocks::card_message(card)
    }

    fn direct_message(text: &str, card: &Card) -> Value {
        blocks::direct_message(text, card)
    }

    fn link_message(card: &Card, url: &str) -> Value {
        blocks::link_message(card, url)
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
