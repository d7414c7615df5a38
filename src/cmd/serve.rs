//! `janus serve`: central. Opens and migrates the database, starts the scheduler and the
//! web server, and shuts both down cleanly on SIGTERM or SIGINT.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use janus_core::clock::SystemClock;
use janus_core::config::{AuthMode, Config};
use janus_core::domain::Policy;
use janus_core::scheduler::Scheduler;
use janus_core::store::{Store, redact_url};
use janus_core::workflow::Workflow;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub async fn run(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut config = super::load_config(config)?;
    if config.auth.mode == AuthMode::Local && config.janus.admin_emails.is_empty() {
        // The local admin must be an admin; without configured admins it is admin@localhost.
        config.janus.admin_emails = vec![janus_web::auth::local::admin_email(&config).to_string()];
    }
    let url = &config.database.url;
    let store = Store::connect(url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(url)))?;
    store.migrate().await.context("cannot migrate the database")?;
    let workflow = Workflow::new(store.clone(), Policy::from_config(&config), Arc::new(SystemClock));

    let listener = TcpListener::bind(&config.webui.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.webui.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, database = %redact_url(url), clusters = config.clusters.len(), "janus central listening");

    let (stop, stopped) = watch::channel(false);
    let wait_for_stop = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let scheduler = tokio::spawn(Scheduler::new(workflow.clone()).run(wait_for_stop()));
    let mut state = janus_web::AppState::new(workflow.clone(), config.clone());
    let embedded = if config.agent.embedded {
        // Terminal sessions reach the embedded agent through this server's own session routes
        // on loopback, signed with a key pair made now and held in memory only; the server
        // accepts its public key for `agent.clusterName` on those routes alone.
        let identity = janus_agent::EmbeddedIdentity::generate();
        state = state.with_embedded_agent(config.agent.cluster_name.trim(), identity.public_key());
        let own_url = janus_web::own_url(address);
        let (agent_config, workflow) = (config.agent.clone(), workflow.clone());
        let stopped = wait_for_stop();
        tracing::info!(cluster = %agent_config.cluster_name, "starting the embedded agent");
        Some(tokio::spawn(async move {
            if let Err(error) =
                janus::embedded::run_embedded(&agent_config, workflow, &own_url, identity, stopped).await
            {
                tracing::error!(error = format!("{error:#}"), "the embedded agent stopped");
            }
        }))
    } else {
        None
    };
    if config.auth.mode == AuthMode::Local {
        announce_local_admin(&state, &config).await?;
    }
    let server = tokio::spawn(janus_web::serve(listener, state, wait_for_stop()));

    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    let served = server.await.context("the web server task failed")?;
    let _ = scheduler.await;
    if let Some(embedded) = embedded {
        let _ = embedded.await;
    }
    store.close().await;
    served.context("the web server failed")?;
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

pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
