//! `janus serve`: central, started by [`Central::builder`] (database, scheduler, web server and
//! the embedded agent if configured), shut down cleanly on SIGTERM or SIGINT.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use janus::central::Central;
use janus_core::clock::SystemClock;
use janus_core::config::{AuthMode, Config};
use janus_core::store::{Store, redact_url};

pub async fn run(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    let stop = shutdown_signal();
    let central = Central::builder(config).start().await?;
    let config = central.config().clone();
    if config.auth.mode == AuthMode::Local {
        announce_local_admin(&central.state, &config).await?;
    }

    stop.await;
    tracing::info!("shutting down");
    central.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

/// `auth.mode: local`: at first start, makes the admin's password and prints it once (stdout);
/// later starts only say who the admin is.
async fn announce_local_admin(state: &janus_web::AppState, config: &Config) -> anyhow::Result<()> {
    let email = janus_web::auth::local::admin_email(config);
    let created = janus_web::auth::local::ensure_admin(&state.accounts, config)
        .await
        .context("cannot create the local admin")?;
    let base = config.webui.base_url.trim_end_matches('/');
    match created {
        Some(password) => {
            println!(
                "\nLocal sign-in (development only): {email} / {}\nThis password is shown once; sign in at {base}/auth/login. Reset it with `janus admin reset-password`.\n",
                password.expose()
            );
            tracing::warn!(admin = %email, "auth.mode local: created the local admin; its password was printed once");
        }
        None => tracing::info!(admin = %email, "auth.mode local: sign in at {base}/auth/login"),
    }
    Ok(())
}

/// `janus admin reset-password`: a new random password for the local admin, printed once.
pub async fn reset_admin_password(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    let url = &config.database.url;
    let store = Store::connect(url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(url)))?;
    store.migrate().await.context("cannot migrate the database")?;
    let accounts = janus_core::accounts::Accounts::new(store.clone(), Arc::new(SystemClock));
    let password = janus_web::auth::local::reset_admin(&accounts, &config)
        .await
        .context("cannot reset the local admin's password")?;
    store.close().await;
    println!(
        "New password for {} (shown once): {}",
        janus_web::auth::local::admin_email(&config),
        password.expose()
    );
    Ok(ExitCode::SUCCESS)
}

/// Resolves at SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is called, not
/// when it is first awaited, so a signal that comes while central is still starting is not lost.
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                (Ok(mut terminate), Err(_)) => {
                    terminate.recv().await;
                }
                (Err(_), Ok(mut interrupt)) => {
                    interrupt.recv().await;
                }
                (Err(_), Err(_)) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
