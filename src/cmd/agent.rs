//! `janus agent`: the in-cluster agent, dialing out to central.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use janus_core::clock::SystemClock;

pub async fn run(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    let agent = &config.agent;
    anyhow::ensure!(
        !agent.central_url.trim().is_empty(),
        "`agent.centralUrl` is empty; say where central is"
    );
    anyhow::ensure!(
        !agent.cluster_name.trim().is_empty(),
        "`agent.clusterName` is empty; say which cluster this is"
    );
    tracing::info!(cluster = %agent.cluster_name, central = %agent.central_url, "janus agent starting");
    janus_agent::run_from_config(agent, Arc::new(SystemClock), super::serve::shutdown_signal()).await?;
    tracing::info!("janus agent stopped");
    Ok(ExitCode::SUCCESS)
}
