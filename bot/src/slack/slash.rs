//! `POST /slack/commands`: the `/janus` slash command.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use janus_core::domain::{Actor, Command, Draft, Origin, Platform, Principal};
use serde::Deserialize;
use tokio::sync::oneshot;

use super::CHANNEL;
use super::blocks::{ephemeral, request_modal};
use super::command::{HELP, SlashCommand, parse};
use super::{Slack, bad_request};
use crate::chat::{Summary, list_requests, request_extension};

/// Slack waits three seconds; answer well before.
pub(super) const ACK_DEADLINE: Duration = Duration::from_millis(2_500);

/// The fields of Slack's slash-command form that Janus reads.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct CommandForm {
    user_id: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    trigger_id: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
}

pub(super) async fn handle(slack: Arc<Slack>, body: &[u8]) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<CommandForm>(body) else {
        return bad_request("The body is not a Slack slash-command form.");
    };
    let command = match parse(&form.text) {
        Ok(SlashCommand::Help) => return reply(Some(HELP.to_owned())),
        Ok(command) => command,
        Err(problem) => return reply(Some(problem)),
    };
    let (sender, mut receiver) = oneshot::channel();
    let task_slack = slack.clone();
    let response_url = form.response_url.clone();
    tokio::spawn(async move {
        let text = run(&task_slack, &form, command).await;
        if let Err(Some(text)) = sender.send(text)
            && let Some(url) = response_url
            && let Err(error) = task_slack.api.respond(&url, &ephemeral(&text)).await
        {
            tracing::warn!(%error, "could not send a late reply to Slack");
        }
    });
    tokio::select! {
        text = &mut receiver => reply(text.unwrap_or(None)),
        () = slack.workflow.clock().sleep(ACK_DEADLINE) => {
            receiver.close();
            match receiver.try_recv() {
                Ok(text) => reply(text),
                Err(_) => reply(Some("Working on it…".to_owned())),
            }
        }
    }
}

/// An ephemeral answer, or an empty 200 (the modal opened).
fn reply(text: Option<String>) -> Response {
    match text {
        Some(text) => Json(ephemeral(&text)).into_response(),
        None => StatusCode::OK.into_response(),
    }
}

async fn run(slack: &Slack, form: &CommandForm, command: SlashCommand) -> Option<String> {
    let principal = match slack.principal(&form.user_id).await {
        Ok(principal) => principal,
        Err(problem) => return Some(problem),
    };
    let text = match command {
        SlashCommand::Help => HELP.to_owned(),
        SlashCommand::OpenRequestModal => return open_modal(slack, form).await,
        SlashCommand::Request {
            cluster,
            namespaces,
            ttl_seconds,
            reason,
        } => {
            let draft = Draft {
                cluster,
                namespaces,
                ttl_seconds: Some(ttl_seconds),
                reason,
                profile: None,
                origin: origin(form.channel_id.clone()),
            };
            submit(slack, &principal, draft).await
        }
        SlashCommand::List => list_requests(&slack.workflow, &principal, &SUMMARY).await,
        SlashCommand::Status(id) => match slack.workflow.get(&id).await {
            Ok(request)
                if slack
                    .workflow
                    .policy()
                    .may_see(&Actor::Person(principal.clone()), &request) =>
            {
                SUMMARY.line(&request)
            }
            _ => format!("Request {id} was not found."),
        },
        SlashCommand::Withdraw(id) => match slack.act(&id, None, Command::Withdraw, &principal).await {
            Ok(_) => format!("Request {id} withdrawn; any access it gave is being removed."),
            Err(problem) => problem,
        },
        SlashCommand::Revoke { id, reason } => {
            match slack.act(&id, None, Command::Revoke { reason }, &principal).await {
                Ok(_) => format!("Request {id} revoked; its credentials are being deleted."),
                Err(problem) => problem,
            }
        }
        SlashCommand::Extend {
            id,
            ttl_seconds,
            reason,
        } => match request_extension(&slack.workflow, CHANNEL, &id, ttl_seconds, reason, &principal).await {
            Ok(text) | Err(text) => text,
        },
    };
    Some(text)
}

pub(super) fn origin(channel: Option<String>) -> Origin {
    Origin {
        platform: Platform::Slack,
        channel,
        message: None,
        thread: None,
    }
}

pub(super) async fn submit(slack: &Slack, principal: &Principal, draft: Draft) -> String {
    match slack.workflow.submit(principal, draft).await {
        Ok(request) => format!("Request {} submitted, waiting for approval.", request.id),
        Err(error) => error.to_string(),
    }
}

async fn open_modal(slack: &Slack, form: &CommandForm) -> Option<String> {
    let Some(trigger) = &form.trigger_id else {
        return Some("Slack sent no trigger to open the form; use the one-line form instead.".to_owned());
    };
    let policy = slack.workflow.policy();
    let mut clusters = Vec::new();
    let mut namespaces = Vec::new();
    for cluster in &slack.config.clusters {
        let label = if cluster.display_name.is_empty() {
            cluster.name.clone()
        } else {
            format!("{} ({})", cluster.display_name, cluster.name)
        };
        clusters.push((label, cluster.name.clone()));
        let allowed = slack
            .workflow
            .requestable_namespaces(&cluster.name)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        namespaces.push((cluster.name.clone(), allowed));
    }
    if namespaces.iter().all(|(_, names)| names.is_empty()) {
        return Some(
            "No agent has reported namespaces yet, so the form has nothing to offer; use \
             `/janus request <cluster> <namespaces> <ttl> <reason>`."
                .to_owned(),
        );
    }
    let ttls = policy.request_ttl_choices();
    let metadata = form.channel_id.clone().unwrap_or_default();
    let view = request_modal(
        &clusters,
        &namespaces,
        &ttls,
        policy.default_ttl_seconds,
        &metadata,
    );
    match slack.api.open_view(trigger, &view).await {
        Ok(()) => None,
        Err(error) => {
            tracing::warn!(%error, "views.open failed");
            Some("Janus could not open the form; use the one-line form instead.".to_owned())
        }
    }
}

/// Slack's summary line: the cluster as typed, and the end in UTC.
const SUMMARY: Summary = Summary {
    heading: "*Your requests*",
    cluster: str::to_owned,
    escape: super::escape,
    until: |at| format!("{} UTC", at.format("%H:%M")),
};
