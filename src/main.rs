//! `janus`: the one binary. Each subcommand is a `cmd::<name>::run()`.

mod cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "janus",
    version,
    about = "Just-in-time kubectl exec access, requested and approved in chat"
)]
struct Cli {
    /// Configuration file (YAML). Without it, `janus.yaml` is read when present, else defaults apply.
    #[arg(long, global = true, env = "JANUS_CONFIG")]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run central: web server, scheduler and workflow engine (and the embedded agent if configured).
    Serve,
    /// Run the agent in a cluster: long-polls central, creates and deletes grants.
    Agent,
    /// Apply database migrations and exit.
    Migrate {
        /// Database URL (overrides `database.url`).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Inspect the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check or print the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage clusters' agents.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Print a single-use join token that enrolls the cluster's agent.
    JoinToken {
        /// The cluster, as named in `clusters:`.
        #[arg(long)]
        cluster: String,
        /// How long the token stays valid (90m, 2h, 3600).
        #[arg(long, default_value = "1h")]
        valid_for: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit 0 with a count when it holds, 1 naming the first broken event.
    Verify {
        /// Database URL (overrides `database.url`).
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration; print every problem, one per line.
    Check,
    /// Print the effective configuration with secrets shown as ***.
    Print,
}

fn main() -> ExitCode {
    // Both ring and aws-lc-rs may be in the graph; pick one before any TLS client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    cmd::init_logging(matches!(cli.log_format, LogFormat::Json));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("janus: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let config = cli.config.as_deref();
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => cmd::serve::run(config).await,
            Command::Agent => cmd::agent::run(config).await,
            Command::Migrate { database_url } => cmd::migrate::run(config, database_url).await,
            Command::Audit(AuditCommand::Verify { database_url }) => {
                cmd::audit::verify(config, database_url).await
            }
            Command::Config(ConfigCommand::Check) => cmd::config::check(config),
            Command::Config(ConfigCommand::Print) => cmd::config::print(config),
            Command::Cluster(ClusterCommand::JoinToken { cluster, valid_for }) => {
                cmd::cluster::join_token(config, &cluster, &valid_for).await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("janus: {error:#}");
            ExitCode::FAILURE
        }
    }
}
