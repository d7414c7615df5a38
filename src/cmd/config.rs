//! `janus config check` and `janus config print`.

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
