//! `janus config check`, `janus config print` and `janus config schema`.

use std::path::Path;
use std::process::ExitCode;

pub fn check(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    match super::load_config(config) {
        Ok(config) => {
            println!("configuration is valid ({} clusters)", config.clusters.len());
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            println!("{error}");
            Ok(ExitCode::from(1))
        }
    }
}

pub fn print(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    print!("{}", config.to_redacted_yaml());
    Ok(ExitCode::SUCCESS)
}

/// Prints the configuration's JSON Schema, derived from the typed configuration; it needs no
/// configuration file.
pub fn schema() -> anyhow::Result<ExitCode> {
    print!("{}", janus_core::config::json_schema_text());
    Ok(ExitCode::SUCCESS)
}
