//! The outbox's Slack notifier: posts the card in the cluster's `slackChannel` and
//! updates it in place, messages the requester, and posts the terminal link.

use std::sync::Arc;

use async_trait::async_trait;
use janus_core::config::LinksMode;
use janus_core::domain::{AccessRequest, AuditAction, NoticeKind};
use janus_core::outbox::{ChatMessageRef, DeliveryError, Notifier, OutboxItem};

use super::blocks::{card_message, direct_message, link_message};
use super::{CHANNEL, Slack};
use crate::card::{self, Card};

#[derive(Debug, Clone)]
pub struct SlackNotifier {
    slack: Arc<Slack>,
}

impl SlackNotifier {
    pub(super) fn new(slack: Arc<Slack>) -> SlackNotifier {
        SlackNotifier { slack }
    }

    async fn card(&self, request: &AccessRequest) -> Card {
        card::current_card(&self.slack.workflow, request).await
    }

    fn channel_of(&self, request: &AccessRequest) -> Option<String> {
        self.slack
            .config
            .cluster(&request.cluster)
            .map(|cluster| cluster.slack_channel.clone())
            .filter(|channel| !channel.is_empty())
    }

    async fn posted(&self, request: &AccessRequest) -> Result<Option<ChatMessageRef>, DeliveryError> {
        self.slack
            .workflow
            .chat_message(&request.id, CHANNEL)
            .await
            .map_err(|error| DeliveryError::Transient(error.to_string()))
    }

    async fn deliver_card(&self, request: &AccessRequest) -> Result<(), DeliveryError> {
        let message = card_message(&self.card(request).await);
        if let Some(posted) = self.posted(request).await? {
            return Ok(self
                .slack
                .api
                .update_message(&posted.conversation, &posted.message, &message)
                .await?);
        }
        let Some(channel) = self.channel_of(request) else {
            tracing::debug!(request_id = %request.id, "no slackChannel for the cluster; no card");
            return Ok(());
        };
        let posted = self.slack.api.post_message(&channel, &message, None).await?;
        let reference = ChatMessageRef {
            conversation: posted.channel,
            message: posted.ts,
        };
        self.slack
            .workflow
            .save_chat_message(&request.id, CHANNEL, &reference)
            .await
            .map_err(|error| DeliveryError::Transient(error.to_string()))
    }

    /// The requester's Slack user id, if they have used Janus from Slack.
    async fn requester(&self, request: &AccessRequest) -> Result<Option<String>, DeliveryError> {
        self.slack
            .workflow
            .chat_identity_of(CHANNEL, &request.requester)
            .await
            .map_err(|error| DeliveryError::Transient(error.to_string()))
    }

    async fn deliver_dm(&self, request: &AccessRequest, event: &str) -> Result<(), DeliveryError> {
        let Some(text) = AuditAction::parse(event).and_then(|event| card::direct_message(request, event))
        else {
            return Ok(());
        };
        let Some(user) = self.requester(request).await? else {
            tracing::debug!(request_id = %request.id, "the requester has no known Slack account; no DM");
            return Ok(());
        };
        let card = self.card(request).await;
        let conversation = self.slack.api.open_dm(&user).await?;
        self.slack
            .api
            .post_message(&conversation, &direct_message(&text, &card), None)
            .await?;
        Ok(())
    }

    async fn deliver_link(&self, request: &AccessRequest) -> Result<(), DeliveryError> {
        let workflow = &self.slack.workflow;
        let Some(url) = self.slack.links.terminal_link(
            request,
            workflow.policy(),
            workflow.clock().now(),
            &self.slack.config.webui.base_url,
        ) else {
            return Ok(()); // not Active (ended before the link went out): nothing to open
        };
        let message = link_message(&self.card(request).await, &url);
        let posted = self.posted(request).await?;
        let requester = self.requester(request).await?;
        match (&self.slack.config.links.mode, posted, requester) {
            (LinksMode::Sso, Some(card), _) => {
                self.slack
                    .api
                    .post_message(&card.conversation, &message, Some(&card.message))
                    .await?;
            }
            (LinksMode::Link, Some(card), Some(user)) => {
                // The link signs its holder in: only the requester may see it.
                let ephemeral = self
                    .slack
                    .api
                    .post_ephemeral(&card.conversation, &user, &message)
                    .await;
                if ephemeral.is_err() {
                    let conversation = self.slack.api.open_dm(&user).await?;
                    self.slack.api.post_message(&conversation, &message, None).await?;
                }
            }
            (_, _, Some(user)) => {
                let conversation = self.slack.api.open_dm(&user).await?;
                self.slack.api.post_message(&conversation, &message, None).await?;
            }
            (_, _, None) => {
                tracing::info!(request_id = %request.id, "nowhere in Slack to post the terminal link");
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
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
