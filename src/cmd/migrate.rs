//! `janus migrate`: apply database migrations and exit.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use janus_core::store::{Store, redact_url};

pub async fn run(config: Option<&Path>, database_url: Option<String>) -> anyhow::Result<ExitCode> {
    let url = match database_url {
        Some(url) => url,
        None => super::load_config(config)?.database.url,
    };
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("cannot open {}", redact_url(&url)))?;
    store.migrate().await.context("cannot migrate the database")?;
    println!("database {} is up to date", redact_url(&url));
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
