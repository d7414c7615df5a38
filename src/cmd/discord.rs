//! `janus discord register-commands [--guild ID]`: registers `/janus` and its subcommands
//! with Discord through the REST API. A bulk overwrite (`PUT …/commands`), so running it
//! again changes nothing, and commands Janus no longer has are removed.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use janus_bot::discord::{DiscordApi, command_definitions};
use janus_core::domain::Policy;

pub async fn register_commands(config: Option<&Path>, guild: Option<String>) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    let discord = &config.discord;
    if discord.application_id.trim().is_empty() || discord.bot_token.is_empty() {
        bail!("discord.applicationId and discord.botToken are needed to register commands");
    }
    if let Some(guild) = &guild
        && (guild.is_empty() || !guild.bytes().all(|byte| byte.is_ascii_digit()))
    {
        bail!("--guild takes the numeric id of a Discord server (a snowflake)");
    }
    let policy = Policy::from_config(&config);
    let ttls = policy.request_ttl_choices();
    let api = DiscordApi::new(
        &discord.api_base_url,
        discord.bot_token.clone(),
        &discord.application_id,
    );
    let registered = api
        .overwrite_commands(guild.as_deref(), &command_definitions(&ttls))
        .await
        .context("Discord did not accept the commands")?;
    let names = registered
        .as_array()
        .map(|commands| {
            commands
                .iter()
                .filter_map(|command| command["name"].as_str())
                .map(|name| format!("/{name}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    match guild {
        Some(guild) => println!("registered {names} in the Discord server {guild}"),
        None => println!("registered {names} globally (Discord may take up to an hour to show changes)"),
    }
    Ok(ExitCode::SUCCESS)
}
