//! `janus cluster join-token`: a single-use, expiring token to enroll a cluster's agent.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use janus::central::Central;

pub async fn join_token(config: Option<&Path>, cluster: &str, valid_for: &str) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    let Some(settings) = config.cluster(cluster) else {
        bail!("cluster `{cluster}` is not in the configuration; add it under `clusters:` first");
    };
    if settings.agent.auth != janus_core::config::AgentAuthMode::Enrollment {
        bail!(
            "cluster `{cluster}` does not use enrollment (clusters[].agent.auth); its agent needs no join token"
        );
    }
    let valid_for = parse_duration(valid_for)?;
    // Central's engine alone (no web, no scheduler), started the one way.
    let central = Central::builder(config)
        .web(false)
        .scheduler(false)
        .start()
        .await?;
    let token = central
        .workflow
        .create_join_token(cluster, "cli", valid_for)
        .await
        .context("cannot create the join token");
    central.shutdown().await?;
    let token = token?;
    eprintln!(
        "join token for `{cluster}`, valid once for {}s (shown only now):",
        valid_for.as_secs()
    );
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// `90m`, `2h`, `3600` (seconds): the one parser in `janus_core::duration`.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    Ok(Duration::from_secs(janus_core::duration::parse_duration(text)?))
}
