//! The `janus` binary's configuration commands, run as a user would.

use std::process::{Command, Output};

use crate::support::TempDir;

fn janus(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_janus"));
    command.args(args).env_remove("JANUS_CONFIG");
    for (key, _) in std::env::vars() {
        if key.starts_with("JANUS_") && key.contains("__") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied()).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_lists_every_subcommand() {
    let output = janus(&["--help"], &[]);
    assert!(output.status.success());
    let help = stdout(&output);
    for subcommand in ["serve", "migrate", "audit", "config"] {
        assert!(
            help.lines().any(|line| line.trim_start().starts_with(subcommand)),
            "{subcommand} missing:\n{help}"
        );
    }
}

#[test]
fn config_check_reports_every_problem_on_its_own_line() {
    let dir = TempDir::new();
    let path = dir.path().join("janus.yaml");
    std::fs::write(
        &path,
        "janus:\n  defaultTtlSeconds: 300\n  maxTtlSeconds: 28800\n  adminEmails: [not-an-email]\n\
         database: { url: \"mysql://x\" }\nclusters:\n  - name: Prod_EU\n    approvalsRequired: 0\n\
         slack: { enabled: true }\n",
    )
    .unwrap();
    let output = janus(&["--config", path.to_str().unwrap(), "config", "check"], &[]);
    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    for key in [
        "janus.defaultTtlSeconds",
        "janus.adminEmails",
        "database.url",
        "clusters[0].name",
        "clusters[0].approvalsRequired",
        "slack.botToken",
        "slack.signingSecret",
    ] {
        assert!(
            report.lines().any(|line| line.contains(key)),
            "no line names `{key}`:\n{report}"
        );
    }
}

#[test]
fn config_check_accepts_a_valid_file_and_env_overrides() {
    let dir = TempDir::new();
    let path = dir.path().join("janus.yaml");
    std::fs::write(
        &path,
        "clusters:\n  - name: prod-eu\n    approvers: [Bob@Example.com]\n",
    )
    .unwrap();
    let output = janus(
        &["--config", path.to_str().unwrap(), "config", "check"],
        &[("JANUS_JANUS__DEFAULT_TTL_SECONDS", "1800")],
    );
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).contains("1 clusters"));
    let printed = janus(
        &["--config", path.to_str().unwrap(), "config", "print"],
        &[("JANUS_JANUS__DEFAULT_TTL_SECONDS", "1800")],
    );
    let printed = stdout(&printed);
    assert!(printed.contains("defaultTtlSeconds: 1800"), "{printed}");
    assert!(
        printed.contains("bob@example.com"),
        "emails are canonical: {printed}"
    );
}

#[test]
fn config_print_never_shows_a_secret() {
    let dir = TempDir::new();
    let secret_file = dir.path().join("signing-secret");
    std::fs::write(&secret_file, "file-secret-value\n").unwrap();
    let path = dir.path().join("janus.yaml");
    std::fs::write(
        &path,
        format!(
            "slack:\n  enabled: true\n  botToken: xoxb-inline-secret-token\n  signingSecretFile: {}\n\
             links:\n  keys: [{{ kid: k1, secret: link-key-secret }}]\n\
             database:\n  url: postgres://janus:db-password-secret@db.internal:5432/janus\n",
            secret_file.display()
        ),
    )
    .unwrap();
    let env = [
        ("JANUS_DISCORD__BOT_TOKEN", "env-discord-secret"),
        ("JANUS_AUTH__OIDC__CLIENT_SECRET", "env-oidc-secret"),
    ];
    let output = janus(&["--config", path.to_str().unwrap(), "config", "print"], &env);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = stdout(&output);
    for secret in [
        "xoxb-inline-secret-token",
        "file-secret-value",
        "link-key-secret",
        "db-password-secret",
        "env-discord-secret",
        "env-oidc-secret",
    ] {
        assert!(!printed.contains(secret), "`{secret}` leaked:\n{printed}");
    }
    assert!(printed.contains("***"));
    assert!(printed.contains("db.internal"), "the rest of the URL is shown");
    let check = janus(&["--config", path.to_str().unwrap(), "config", "check"], &env);
    for secret in [
        "xoxb-inline-secret-token",
        "file-secret-value",
        "db-password-secret",
    ] {
        assert!(!stdout(&check).contains(secret) && !String::from_utf8_lossy(&check.stderr).contains(secret));
    }
}

#[test]
fn a_missing_config_file_is_named() {
    let output = janus(&["--config", "/nonexistent/janus.yaml", "config", "check"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("/nonexistent/janus.yaml"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn config_schema_prints_the_committed_json_schema() {
    let output = janus(&["config", "schema"], &[]);
    assert!(output.status.success(), "{output:?}");
    let printed = stdout(&output);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.schema.json")).unwrap();
    assert_eq!(
        printed, committed,
        "docs/config.schema.json is stale; regenerate it with \
         `JANUS_REGENERATE=1 cargo test -p janus-core config::json_schema`"
    );
    let schema: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        schema["properties"]["slack"]["properties"]["signingSecretFile"]["type"],
        "string"
    );
}
