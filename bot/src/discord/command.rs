//! `/janus …` as an application command: its definition (registered with
//! `janus discord register-commands`), autocomplete for clusters and namespaces, and what
//! each subcommand does. Options arrive typed, so there is nothing to tokenize; what is
//! checked is what the workflow checks for every channel.

use std::sync::Arc;

use axum::Json;
use axum::response::{IntoResponse, Response};
use janus_core::domain::{Actor, Command, Draft, Origin, Platform, RequestId};
use janus_core::duration::format_duration;
use serde_json::{Value, json};
use serenity::model::application::{CommandDataOption, CommandDataOptionValue, CommandInteraction};

use super::CHANNEL;
use super::embed::{choices, ephemeral};
use super::{Discord, LINK_PURPOSE, LINK_TTL_SECONDS};
use crate::chat::{Summary, list_requests, request_extension};

pub const HELP: &str = "**Janus** — just-in-time `kubectl exec` access.\n\
• `/janus request cluster namespaces ttl reason` — ask for access (cluster and namespaces autocomplete; several namespaces separated by commas)\n\
• `/janus list` — your live and recent requests\n\
• `/janus status id` — one request\n\
• `/janus withdraw id` — take back your request (ends access)\n\
• `/janus revoke id [reason]` — end someone's access (approvers and admins)\n\
• `/janus extend id ttl reason` — ask for more time\n\
• `/janus link` — connect your Discord account to your Janus sign-in\n\
• `/janus help` — this message";

/// The `/janus` command with its subcommands, as Discord's bulk-overwrite body. `ttls` are
/// the TTL choices (seconds), at most 25.
pub fn commands(ttls: &[u64]) -> Value {
    let string = |name: &str, description: &str, required: bool| json!({ "type": 3, "name": name, "description": description, "required": required });
    let ttl_choices = ttls
        .iter()
        .take(25)
        .map(|ttl| json!({ "name": format_duration(*ttl), "value": ttl.to_string() }))
        .collect::<Vec<_>>();
    let mut ttl = string("ttl", "How long", true);
    ttl["choices"] = json!(ttl_choices);
    let mut reason = string("reason", "Why you need it (shown to approvers)", true);
    reason["max_length"] = json!(500);
    let mut cluster = string("cluster", "The cluster", true);
    cluster["autocomplete"] = json!(true);
    let mut namespaces = string("namespaces", "Namespaces, separated by commas", true);
    namespaces["autocomplete"] = json!(true);
    let id = string("id", "The request id (jr-…)", true);
    let sub = |name: &str, description: &str, options: Vec<Value>| json!({ "type": 1, "name": name, "description": description, "options": options });
    json!([{
        "name": "janus",
        "type": 1,
        "description": "Just-in-time kubectl exec access",
        "contexts": [0],
        "options": [
            sub("request", "Ask for access to namespaces of a cluster", vec![cluster, namespaces, ttl.clone(), reason.clone()]),
            sub("list", "Your live and recent requests", vec![]),
            sub("status", "One request", vec![id.clone()]),
            sub("withdraw", "Take back your request (ends access)", vec![id.clone()]),
            sub("revoke", "End someone's access", vec![id.clone(), string("reason", "Why", false)]),
            sub("extend", "Ask for more time", vec![id, ttl, reason]),
            sub("link", "Connect your Discord account to your Janus sign-in", vec![]),
            sub("help", "What Janus can do", vec![]),
        ],
    }])
}

/// The subcommand and its options as strings.
fn subcommand(command: &CommandInteraction) -> Option<(&str, Vec<(&str, String)>)> {
    let top = command.data.options.first()?;
    let CommandDataOptionValue::SubCommand(options) = &top.value else {
        return None;
    };
    Some((
        top.name.as_str(),
        options
            .iter()
            .map(|option| (option.name.as_str(), text(option)))
            .collect(),
    ))
}

fn text(option: &CommandDataOption) -> String {
    match &option.value {
        CommandDataOptionValue::String(value) => value.clone(),
        CommandDataOptionValue::Autocomplete { value, .. } => value.clone(),
        CommandDataOptionValue::Integer(value) => value.to_string(),
        _ => String::new(),
    }
}

fn get(options: &[(&str, String)], name: &str) -> Option<String> {
    options
        .iter()
        .find(|(option, _)| *option == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

pub(super) async fn handle(discord: Arc<Discord>, command: CommandInteraction) -> Response {
    if command.data.name != "janus" {
        return Json(ephemeral("Janus knows only `/janus`.")).into_response();
    }
    match subcommand(&command).map(|(name, _)| name) {
        None | Some("help") => return Json(ephemeral(HELP)).into_response(),
        Some("link") => {
            let user = command.user.id.get().to_string();
            let name = link_name(&command.user.name);
            return Json(ephemeral(&link_answer(&discord, &user, &name))).into_response();
        }
        _ => {}
    }
    let token = command.token.clone();
    let task = discord.clone();
    discord
        .answer_within_deadline(token, async move { ephemeral(&run(&task, &command).await) })
        .await
}

/// The `/janus link` answer: a signed, single-use link valid for ten minutes.
fn link_answer(discord: &Discord, user: &str, name: &str) -> String {
    let nonce = random_nonce();
    let expires_at = discord.now().timestamp() + LINK_TTL_SECONDS;
    let url = link_url(
        &discord.links,
        &discord.config.webui.base_url,
        user,
        name,
        &nonce,
        expires_at,
    );
    format!(
        "Open this link within 10 minutes and sign in to Janus to connect your Discord account: {url}\n\
         It works once, and only for you; do not share it."
    )
}

/// 32 random bytes, base64url: URL-safe as it is.
fn random_nonce() -> String {
    janus_core::accounts::random_secret("").expose().to_owned()
}

/// A Discord username as shown on the confirmation page: Discord's username alphabet
/// (lower-case letters, digits, `_` and `.`), at most 32 characters; anything else is dropped.
pub fn link_name(username: &str) -> String {
    username
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '.')
        .take(32)
        .collect()
}

/// The signed text of a `/janus link` link: the Discord id, the nonce and the username shown.
pub fn link_subject(user: &str, nonce: &str, name: &str) -> String {
    format!("{user}:{nonce}:{name}")
}

/// `{base}/discord/link?u=…&name=…&n=…&exp=…&kid=…&sig=…`: signed for [`LINK_PURPOSE`] over
/// [`link_subject`] until `expires_at`. `name` is [`link_name`]'s.
pub fn link_url(
    signer: &janus_core::links::LinkSigner,
    base_url: &str,
    user: &str,
    name: &str,
    nonce: &str,
    expires_at: i64,
) -> String {
    let signature = signer.sign_for(LINK_PURPOSE, &link_subject(user, nonce, name), expires_at);
    format!(
        "{}/discord/link?u={user}&name={name}&n={nonce}&exp={expires_at}&kid={}&sig={}",
        base_url.trim_end_matches('/'),
        signature.kid,
        signature.sig
    )
}

async fn run(discord: &Discord, command: &CommandInteraction) -> String {
    let Some((name, options)) = subcommand(command) else {
        return HELP.to_owned();
    };
    let user = command.user.id.get().to_string();
    let principal = match discord.principal(&user).await {
        Ok(principal) => principal,
        Err(problem) => return problem,
    };
    let id = || -> Result<RequestId, String> {
        let raw = get(&options, "id").unwrap_or_default();
        RequestId::parse(&raw).ok_or_else(|| {
            format!(
                "\"{}\" is not a request id (they look like jr-4k2m9x7q).",
                raw.chars().take(40).collect::<String>()
            )
        })
    };
    let ttl = || -> Result<u64, String> {
        let raw = get(&options, "ttl").unwrap_or_default();
        janus_core::duration::parse_duration(&raw).map_err(|problem| problem.to_string())
    };
    let result: Result<String, String> = async {
        match name {
            "request" => {
                let namespaces = get(&options, "namespaces")
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|ns| !ns.is_empty())
                    .map(str::to_owned)
                    .collect();
                let draft = Draft {
                    cluster: get(&options, "cluster").unwrap_or_default(),
                    namespaces,
                    ttl_seconds: Some(ttl()?),
                    reason: get(&options, "reason").unwrap_or_default(),
                    profile: None,
                    origin: Origin {
                        platform: Platform::Discord,
                        channel: Some(command.channel_id.get().to_string()),
                        message: None,
                        thread: None,
                    },
                };
                discord
                    .workflow
                    .submit(&principal, draft)
                    .await
                    .map(|request| format!("Request {} submitted, waiting for approval.", request.id))
                    .map_err(|error| error.to_string())
            }
            "list" => Ok(list_requests(&discord.workflow, &principal, &SUMMARY).await),
            "status" => {
                let id = id()?;
                match discord.workflow.get(&id).await {
                    Ok(request)
                        if discord
                            .workflow
                            .policy()
                            .may_see(&Actor::Person(principal.clone()), &request) =>
                    {
                        Ok(SUMMARY.line(&request))
                    }
                    _ => Err(format!("Request {id} was not found.")),
                }
            }
            "withdraw" => {
                let id = id()?;
                discord
                    .act(&id, None, Command::Withdraw, &principal)
                    .await
                    .map(|_| format!("Request {id} withdrawn; any access it gave is being removed."))
            }
            "revoke" => {
                let id = id()?;
                let reason = get(&options, "reason");
                discord
                    .act(&id, None, Command::Revoke { reason }, &principal)
                    .await
                    .map(|_| format!("Request {id} revoked; its credentials are being deleted."))
            }
            "extend" => {
                let id = id()?;
                let ttl_seconds = ttl()?;
                let reason = get(&options, "reason").ok_or("Give a reason for the extension.")?;
                request_extension(&discord.workflow, CHANNEL, &id, ttl_seconds, reason, &principal).await
            }
            other => Err(format!(
                "\"{}\" is not a Janus command. Try `/janus help`.",
                other.chars().take(40).collect::<String>()
            )),
        }
    }
    .await;
    match result {
        Ok(text) | Err(text) => text,
    }
}

/// Discord's summary line: escaped cluster, and the end as a Discord timestamp.
const SUMMARY: Summary = Summary {
    heading: "**Your requests**",
    cluster: super::escape,
    escape: super::escape,
    until: |at| format!("<t:{}:t>", at.timestamp()),
};

/// Autocomplete: clusters by prefix; namespaces the cluster's agent reported (minus the
/// excluded ones), completing the last of a comma list.
pub(super) async fn autocomplete(discord: &Discord, command: &CommandInteraction) -> Response {
    let Some((_, options)) = subcommand(command) else {
        return Json(choices(&[])).into_response();
    };
    let focused = command.data.options.first().and_then(|top| match &top.value {
        CommandDataOptionValue::SubCommand(options) => {
            options.iter().find_map(|option| match &option.value {
                CommandDataOptionValue::Autocomplete { value, .. } => {
                    Some((option.name.as_str(), value.clone()))
                }
                _ => None,
            })
        }
        _ => None,
    });
    let Some((field, typed)) = focused else {
        return Json(choices(&[])).into_response();
    };
    let found = match field {
        "cluster" => discord
            .config
            .clusters
            .iter()
            .filter(|cluster| cluster.name.starts_with(typed.trim()))
            .map(|cluster| {
                let label = if cluster.display_name.is_empty() {
                    cluster.name.clone()
                } else {
                    format!("{} ({})", cluster.display_name, cluster.name)
                };
                (label, cluster.name.clone())
            })
            .collect(),
        "namespaces" => {
            let cluster = get(&options, "cluster").unwrap_or_default();
            let requestable = discord
                .workflow
                .requestable_namespaces(&cluster)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            let (done, last) = match typed.rsplit_once(',') {
                Some((done, last)) => (format!("{},", done.trim_end()), last.trim().to_owned()),
                None => (String::new(), typed.trim().to_owned()),
            };
            let chosen: Vec<&str> = done.split(',').map(str::trim).collect();
            requestable
                .into_iter()
                .filter(|ns| ns.starts_with(&last) && !chosen.contains(&ns.as_str()))
                .map(|ns| {
                    let value = format!("{done}{ns}");
                    (value.clone(), value)
                })
                .filter(|(value, _)| value.len() <= 100)
                .collect()
        }
        _ => Vec::new(),
    };
    Json(choices(&found)).into_response()
}
