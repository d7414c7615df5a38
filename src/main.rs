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
    /// Check or print the effective configuration, or print its JSON Schema.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage clusters' agents.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Save a Janus URL and personal API token for the commands below.
    Login {
        /// Janus's address, e.g. https://janus.example.com.
        #[arg(long)]
        url: String,
        /// A personal API token (jat_…) from your Janus page; read from stdin when left out.
        #[arg(long, env = "JANUS_LOGIN_TOKEN")]
        token: Option<String>,
    },
    /// Ask for access: `janus request --cluster C --namespaces a,b --ttl 2h --reason "…" --wait`.
    Request {
        #[arg(long)]
        cluster: String,
        /// Comma-separated namespaces.
        #[arg(long)]
        namespaces: String,
        /// How long (90m, 2h, 3600); the cluster's default when left out.
        #[arg(long)]
        ttl: Option<String>,
        /// Why you need access.
        #[arg(long)]
        reason: String,
        /// Wait until the request is active and print the terminal link (or why it ended).
        #[arg(long)]
        wait: bool,
    },
    /// List requests you may see.
    #[command(subcommand)]
    Requests(RequestsCommand),
    /// Approve a pending request (or its pending extension).
    Approve {
        id: String,
        /// One of the approval TTL options (e.g. 1h).
        #[arg(long)]
        ttl: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny a pending request (or its pending extension).
    Deny {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// End a request now (approvers and admins).
    Revoke {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Take back your own request.
    Withdraw { id: String },
    /// Ask for more time on your active request.
    Extend {
        id: String,
        #[arg(long)]
        ttl: String,
        #[arg(long)]
        reason: String,
    },
    /// The local admin of `auth.mode: local`.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Set up the Discord application.
    #[command(subcommand)]
    Discord(DiscordCommand),
}

#[derive(Debug, Subcommand)]
enum DiscordCommand {
    /// Register `/janus` with Discord (bulk overwrite: running it again is harmless).
    RegisterCommands {
        /// Register in one server only (shows at once), instead of globally.
        #[arg(long)]
        guild: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum RequestsCommand {
    /// Newest first; filters combine.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        cluster: Option<String>,
        #[arg(long)]
        requester: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Set a new random password for the local admin and print it once.
    ResetPassword,
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
    /// Print the configuration's JSON Schema (for editors; docs/config.schema.json holds a copy).
    Schema,
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
            Command::Config(ConfigCommand::Schema) => cmd::config::schema(),
            Command::Cluster(ClusterCommand::JoinToken { cluster, valid_for }) => {
                cmd::cluster::join_token(config, &cluster, &valid_for).await
            }
            Command::Login { url, token } => cmd::requests::login(&url, token).await,
            Command::Request {
                cluster,
                namespaces,
                ttl,
                reason,
                wait,
            } => {
                let ask = cmd::requests::NewRequest {
                    cluster,
                    namespaces,
                    ttl,
                    reason,
                    wait,
                };
                cmd::requests::request(ask).await
            }
            Command::Requests(RequestsCommand::List {
                state,
                cluster,
                requester,
            }) => cmd::requests::list(state, cluster, requester).await,
            Command::Approve { id, ttl, reason } => cmd::requests::act("approve", &id, ttl, reason).await,
            Command::Deny { id, reason } => cmd::requests::act("deny", &id, None, reason).await,
            Command::Revoke { id, reason } => cmd::requests::act("revoke", &id, None, reason).await,
            Command::Withdraw { id } => cmd::requests::act("withdraw", &id, None, None).await,
            Command::Extend { id, ttl, reason } => {
                cmd::requests::act("extend", &id, Some(ttl), Some(reason)).await
            }
            Command::Admin(AdminCommand::ResetPassword) => cmd::serve::reset_admin_password(config).await,
            Command::Discord(DiscordCommand::RegisterCommands { guild }) => {
                cmd::discord::register_commands(config, guild).await
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
