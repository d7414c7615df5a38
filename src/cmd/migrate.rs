//! `janus migrate`: apply database migrations and exit.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use janus_core::store::redact_url;

pub async fn run(config: Option<&Path>, database_url: Option<String>) -> anyhow::Result<ExitCode> {
    let (store, url) = super::open_store(config, database_url).await?;
    store.migrate().await.context("cannot migrate the database")?;
    println!("database {} is up to date", redact_url(&url));
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
