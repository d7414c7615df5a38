//! Subcommands and what they share: loading configuration and logging.

pub mod agent;
pub mod audit;
pub mod client;
pub mod cluster;
pub mod config;
pub mod discord;
pub mod migrate;
pub mod requests;
pub mod serve;

use std::path::Path;

use anyhow::{Context, anyhow};
use janus_core::config::Config;
use janus_core::store::{Store, redact_url};
use tracing_subscriber::EnvFilter;

/// Loads configuration: the given file, else `janus.yaml` if present, else defaults; then
/// `JANUS_*__*` environment overrides. Every problem is reported, one per line.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let default = Path::new("janus.yaml");
    let path = path.or_else(|| default.exists().then_some(default));
    Config::from_path(path, &env).map_err(|errors| anyhow!("invalid configuration:\n{errors}"))
}

/// Opens (without migrating) the database named by `--database-url`, else by the
/// configuration. Returns the store and the URL it opened.
pub async fn open_store(
    config: Option<&Path>,
    database_url: Option<String>,
) -> anyhow::Result<(Store, String)> {
    let url = match database_url {
        Some(url) => url,
        None => load_config(config)?.database.url,
    };
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
    Ok((store, url))
}

/// Logs to stderr; `RUST_LOG` (or `JANUS_LOG`) filters, default `info`.
pub fn init_logging(json: bool) {
    let filter = std::env::var("JANUS_LOG")
        .ok()
        .and_then(|value| EnvFilter::try_new(value).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}
