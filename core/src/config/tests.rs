use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use super::*;

fn no_files(path: &Path) -> io::Result<String> {
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("no such file {}", path.display()),
    ))
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn load(yaml: &str) -> Result<Config, ConfigErrors> {
    Config::load(Some(yaml), &[], &no_files)
}

fn load_with_env(yaml: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    Config::load(Some(yaml), &env(vars), &no_files)
}

fn problems(yaml: &str) -> Vec<ConfigProblem> {
    match load(yaml) {
        Ok(config) => panic!("expected problems, got {config:?}"),
        Err(errors) => errors.0,
    }
}

/// Asserts that loading `yaml` reports a problem at `key` whose message contains `fragment`.
fn assert_problem(yaml: &str, key: &str, fragment: &str) {
    let found = problems(yaml);
    assert!(
        found
            .iter()
            .any(|problem| problem.key == key && problem.message.contains(fragment)),
        "no problem at `{key}` containing {fragment:?} for:\n{yaml}\nfound:\n{}",
        ConfigErrors(found.clone())
    );
}

const DESIGN_EXAMPLE: &str = r#"
janus:
  defaultTtlSeconds: 3600          # min 600
  maxTtlSeconds: 28800
  approvalTtlOptions: [3600, 7200, 14400, 28800]
  pendingExpirySeconds: 0          # 0 = off
  grantTimeoutSeconds: 120
  idleTimeoutSeconds: 900
  retentionSeconds: 86400
  displayTimezone: UTC
  adminEmails: [Admin@Example.com]
  excludedNamespaces: [kube-system, kube-public, kube-node-lease, janus]
  limits: { requestsPerHour: 10, liveRequestsPerUser: 5 }
database: { url: "sqlite://janus.db" }          # or postgres://…
webui: { listen: "127.0.0.1:8080", baseUrl: "http://127.0.0.1:8080" }
auth:
  mode: local                                   # oidc | github | header | local
  oidc: { provider: custom, issuerUrl: "", clientId: "", clientSecret: "", allowedDomains: [] }
  github: { clientId: "", clientSecret: "", webBaseUrl: "https://github.com", apiBaseUrl: "https://api.github.com" }
  header: { name: X-Forwarded-Email, trustedProxyCidrs: ["127.0.0.1/32"] }
links: { mode: sso, keys: [{ kid: k1, secret: "" }] }   # mode: sso | link
slack: { enabled: false, botToken: "", signingSecret: "", apiBaseUrl: "https://slack.com/api" }
discord: { enabled: false, applicationId: "", publicKey: "", botToken: "", apiBaseUrl: "https://discord.com",
           users: {} }
clusters:
  - name: prod-eu
    displayName: Production EU
    approvers: [bob@example.com]
    approvalsRequired: 1
    slackChannel: C0123456
    discordChannel: "123456789012345678"
    agent: { auth: enrollment }
agent:
  centralUrl: "https://janus.example.com"
  clusterName: prod-eu
  joinTokenFile: /var/run/janus/join-token
  kubeconfig: ""
"#;

#[test]
fn no_text_or_empty_text_gives_the_defaults() {
    let defaults = Config::load(None, &[], &no_files).unwrap();
    assert_eq!(defaults, Config::default());
    assert_eq!(load("").unwrap(), Config::default());
    assert_eq!(load("# only a comment\n").unwrap(), Config::default());
    assert_eq!(defaults.janus.default_ttl_seconds, 3600);
    assert_eq!(defaults.links.ttl_seconds, 28_800);
    assert_eq!(defaults.links.keys[0].kid, "k1");
    assert_eq!(defaults.auth.header.trusted_proxy_cidrs, ["127.0.0.1/32"]);
}

#[test]
fn the_design_example_parses() {
    let config = load(DESIGN_EXAMPLE).unwrap();
    assert_eq!(
        config.janus.admin_emails,
        ["admin@example.com"],
        "emails are lower-cased"
    );
    assert_eq!(config.janus.approval_ttl_options, [3600, 7200, 14_400, 28_800]);
    assert_eq!(config.auth.mode, AuthMode::Local);
    let cluster = config.cluster("prod-eu").unwrap();
    assert_eq!(cluster.display_name, "Production EU");
    assert_eq!(cluster.discord_channel, "123456789012345678");
    assert_eq!(cluster.agent.auth, AgentAuthMode::Enrollment);
    assert!(config.cluster("prod-us").is_none());
    assert_eq!(config.agent.join_token_file, "/var/run/janus/join-token");
}

#[test]
fn environment_overrides_beat_the_file_and_create_nested_keys() {
    let vars = [
        ("JANUS_JANUS__DEFAULT_TTL_SECONDS", "7200"),
        ("JANUS_SLACK__SIGNING_SECRET", "12345"),
        ("JANUS_SLACK__ENABLED", "true"),
        ("JANUS_SLACK__BOT_TOKEN", "xoxb-1"),
        ("JANUS_JANUS__LIMITS__REQUESTS_PER_HOUR", "3"),
        ("JANUS_JANUS__ADMIN_EMAILS", "[a@example.com, B@example.com]"),
        ("JANUS_DATABASE__URL", "postgres://janus@db/janus"),
        ("JANUS_CLUSTERS__0__SLACK_CHANNEL", "C999"),
        ("JANUS_CLUSTERS__1__NAME", "staging"),
        ("JANUS_DISCORD__USERS__42", "carol@example.com"),
        ("JANUS_LOG", "debug"),
        ("JANUS_LOG_FORMAT", "json"),
    ];
    let config = load_with_env(
        "janus: { defaultTtlSeconds: 1800 }\nclusters: [{ name: prod-eu }]\n",
        &vars,
    )
    .unwrap();
    assert_eq!(config.janus.default_ttl_seconds, 7200);
    assert_eq!(
        config.slack.signing_secret.expose(),
        "12345",
        "a number stays text for a text key"
    );
    assert!(config.slack.enabled);
    assert_eq!(config.janus.limits.requests_per_hour, 3);
    assert_eq!(config.janus.admin_emails, ["a@example.com", "b@example.com"]);
    assert_eq!(config.database.url, "postgres://janus@db/janus");
    assert_eq!(config.clusters[0].slack_channel, "C999");
    assert_eq!(config.clusters[0].name, "prod-eu");
    assert_eq!(
        config.clusters[1].name, "staging",
        "an index one past the end appends"
    );
    assert_eq!(config.discord.users["42"], "carol@example.com");
}

#[test]
fn environment_problems_name_the_variable() {
    let found = load_with_env(
        "",
        &[
            ("JANUS_JANUS__MAX_TTL_SECONDS", "lots"),
            ("JANUS_SLACK__SIGNING_SECRT", "x"),
        ],
    )
    .unwrap_err()
    .0;
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].key, "janus.maxTtlSeconds");
    assert!(
        found[0].message.contains("must be a whole number"),
        "{}",
        found[0].message
    );
    assert!(found[0].message.contains("`JANUS_JANUS__MAX_TTL_SECONDS`"));
    assert_eq!(found[1].key, "slack.signingSecrt");
    assert!(
        found[1].message.contains("did you mean `signingSecret`?"),
        "{}",
        found[1].message
    );
    assert!(
        found[1]
            .message
            .starts_with("unknown key (set by environment variable `JANUS_SLACK__SIGNING_SECRT`);")
    );
    let found = load_with_env("", &[("JANUS_CLUSTERS__3__NAME", "x"), ("JANUS_SLACK____X", "y")])
        .unwrap_err()
        .0;
    assert_eq!(found[0].key, "clusters[3]");
    assert_eq!(found[1].key, "JANUS_SLACK____X");
}

#[test]
fn file_secrets_are_read_trimmed_and_conflicts_are_problems() {
    let files = BTreeMap::from([
        ("/run/slack/signing", "from-file\n"),
        ("/run/db/url", "postgres://janus:pw@db/janus\n"),
        ("/run/link/k1", "link-key-from-file  \n"),
    ]);
    let read = |path: &Path| {
        files
            .get(path.to_str().unwrap_or_default())
            .map(|text| text.to_string())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such file or directory"))
    };
    let yaml =
        "database: { urlFile: /run/db/url }\nlinks: { keys: [{ kid: k1, secretFile: /run/link/k1 }] }\n";
    let vars = env(&[("JANUS_SLACK__SIGNING_SECRET_FILE", "/run/slack/signing")]);
    let config = Config::load(Some(yaml), &vars, &read).unwrap();
    assert_eq!(config.slack.signing_secret.expose(), "from-file");
    assert_eq!(config.database.url, "postgres://janus:pw@db/janus");
    assert_eq!(config.links.keys[0].secret.expose(), "link-key-from-file");

    let both = "slack: { botToken: inline-token, botTokenFile: /run/slack/signing }\n";
    let found = Config::load(Some(both), &[], &read).unwrap_err().0;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].key, "slack.botToken");
    assert!(
        found[0]
            .message
            .contains("both directly and through `botTokenFile`")
    );
    assert!(!found[0].message.contains("inline-token"));

    let missing = Config::load(Some("discord: { botTokenFile: /missing/token }\n"), &[], &read)
        .unwrap_err()
        .0;
    assert_eq!(missing[0].key, "discord.botTokenFile");
    assert!(
        missing[0].message.contains("`/missing/token`"),
        "{}",
        missing[0].message
    );

    let empty_file_key = "slack: { signingSecret: inline, signingSecretFile: \"\" }\n";
    assert_eq!(
        Config::load(Some(empty_file_key), &[], &read)
            .unwrap()
            .slack
            .signing_secret
            .expose(),
        "inline"
    );
}

#[test]
fn environment_file_form_replaces_the_files_inline_value() {
    let read = |_: &Path| Ok("from-env-file\n".to_string());
    let vars = env(&[("JANUS_SLACK__BOT_TOKEN_FILE", "/run/token")]);
    let config = Config::load(Some("slack: { botToken: from-yaml }\n"), &vars, &read).unwrap();
    assert_eq!(config.slack.bot_token.expose(), "from-env-file");
    let vars = env(&[
        ("JANUS_SLACK__BOT_TOKEN", "from-env"),
        ("JANUS_SLACK__BOT_TOKEN_FILE", "/run/token"),
    ]);
    let found = Config::load(None, &vars, &read).unwrap_err().0;
    assert_eq!(found[0].key, "slack.botToken");
}

#[test]
fn unknown_keys_and_wrong_types_are_all_reported_with_their_paths() {
    let yaml = "slack: { signingSecrt: x, enabled: yes }\njanus: { maxTtlSeconds: lots, limits: { requestsPerHour: -1 } }\n\
                clusters: [{ name: a, approvalsRequired: 5000000000 }, ~]\nauth: { mode: OIDC }\nwebui: []\nfoo: 1\n";
    let found = problems(yaml);
    let keys: Vec<&str> = found.iter().map(|problem| problem.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "slack.signingSecrt",
            "slack.enabled",
            "janus.maxTtlSeconds",
            "janus.limits.requestsPerHour",
            "clusters[0].approvalsRequired",
            "clusters[1]",
            "auth.mode",
            "webui",
            "foo"
        ],
        "{}",
        ConfigErrors(found.clone())
    );
    assert!(found[1].message.contains("must be true or false, not text"));
    assert!(found[2].message.contains("must be a whole number"));
    assert!(found[4].message.contains("larger than the maximum"));
    assert!(found[6].message.contains("did you mean `oidc`"));
    assert!(found[7].message.contains("must be a mapping"));
    assert!(found[8].message.contains("unknown key"));
}

#[test]
fn each_invalid_value_has_its_own_problem() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "janus: { defaultTtlSeconds: 300 }",
            "janus.defaultTtlSeconds",
            "300 is below the minimum of 600 seconds",
        ),
        (
            "janus: { maxTtlSeconds: 500, defaultTtlSeconds: 600, approvalTtlOptions: [] }",
            "janus.maxTtlSeconds",
            "below the minimum",
        ),
        (
            "janus: { defaultTtlSeconds: 30000 }",
            "janus.defaultTtlSeconds",
            "above `janus.maxTtlSeconds` (28800)",
        ),
        (
            "janus: { approvalTtlOptions: [3600, 60] }",
            "janus.approvalTtlOptions[1]",
            "60 is below the minimum",
        ),
        (
            "janus: { approvalTtlOptions: [90000] }",
            "janus.approvalTtlOptions[0]",
            "above `janus.maxTtlSeconds`",
        ),
        (
            "janus: { limits: { requestsPerHour: 0 } }",
            "janus.limits.requestsPerHour",
            "at least 1",
        ),
        (
            "janus: { limits: { liveRequestsPerUser: 0 } }",
            "janus.limits.liveRequestsPerUser",
            "at least 1",
        ),
        (
            "janus: { grantTimeoutSeconds: 0 }",
            "janus.grantTimeoutSeconds",
            "at least 1 second",
        ),
        (
            "janus: { displayTimezone: paris }",
            "janus.displayTimezone",
            "not a time zone name",
        ),
        (
            "janus: { adminEmails: [root] }",
            "janus.adminEmails[0]",
            "`root` is not an email address",
        ),
        (
            "janus: { excludedNamespaces: [Kube-System] }",
            "janus.excludedNamespaces[0]",
            "not a namespace name",
        ),
        (
            "database: { url: \"mysql://u:pw@db/x\" }",
            "database.url",
            "`mysql://u:***@db/x` has an unsupported scheme",
        ),
        ("database: { url: \"\" }", "database.url", "is empty"),
        (
            "webui: { listen: \"localhost:80\" }",
            "webui.listen",
            "not a socket address",
        ),
        (
            "webui: { baseUrl: \"janus.example.com\" }",
            "webui.baseUrl",
            "not an http:// or https:// URL",
        ),
        (
            "auth: { mode: oidc, oidc: { clientId: c } }",
            "auth.oidc.issuerUrl",
            "provider custom needs the issuer URL",
        ),
        (
            "auth: { mode: oidc, oidc: { provider: okta, clientId: c } }",
            "auth.oidc.issuerUrl",
            "provider okta",
        ),
        (
            "auth: { mode: oidc, oidc: { provider: entra, clientId: c } }",
            "auth.oidc.tenantId",
            "tenant id",
        ),
        (
            "auth: { mode: oidc, oidc: { provider: google } }",
            "auth.oidc.clientId",
            "auth mode oidc needs it",
        ),
        (
            "auth: { mode: oidc, oidc: { provider: google, clientId: c, issuerUrl: \"https://x.example\" } }",
            "auth.oidc.issuerUrl",
            "always uses https://accounts.google.com",
        ),
        (
            "auth: { mode: oidc, oidc: { clientId: c, issuerUrl: \"https://id.example\", allowedDomains: [\"@x.com\"] } }",
            "auth.oidc.allowedDomains[0]",
            "not an email domain",
        ),
        (
            "auth: { mode: github, github: { clientSecret: s } }",
            "auth.github.clientId",
            "auth mode github needs it",
        ),
        (
            "auth: { mode: github, github: { clientId: c } }",
            "auth.github.clientSecret",
            "auth mode github needs it",
        ),
        (
            "auth: { mode: header, header: { trustedProxyCidrs: [\"10.0.0.0/33\"] } }",
            "auth.header.trustedProxyCidrs[0]",
            "not a CIDR",
        ),
        (
            "auth: { mode: header, header: { name: \"\" } }",
            "auth.header.name",
            "not an HTTP header name",
        ),
        (
            "links: { keys: [{ kid: k1 }, { kid: k1 }] }",
            "links.keys[1].kid",
            "`k1` is used by another key",
        ),
        (
            "links: { keys: [{ kid: \"\" }] }",
            "links.keys[0].kid",
            "is empty",
        ),
        (
            "links: { keys: [{ kid: \"k 1\" }] }",
            "links.keys[0].kid",
            "at most 64 letters",
        ),
        ("links: { keys: [] }", "links.keys", "at least one signing key"),
        (
            "links: { mode: link, keys: [{ kid: k1 }] }",
            "links.keys[0].secret",
            "links.mode link",
        ),
        ("links: { ttlSeconds: 0 }", "links.ttlSeconds", "at least 1"),
        (
            "slack: { enabled: true, signingSecret: s }",
            "slack.botToken",
            "Slack needs it",
        ),
        (
            "slack: { enabled: true, botToken: t }",
            "slack.signingSecret",
            "Slack needs it",
        ),
        ("discord: { enabled: true, publicKey: \"", "", "not valid YAML"),
        (
            "discord: { enabled: true, botToken: t, applicationId: \"1\" }",
            "discord.publicKey",
            "Discord needs it",
        ),
        (
            "discord: { enabled: true, botToken: t, publicKey: abc }",
            "discord.applicationId",
            "Discord needs it",
        ),
        (
            "discord: { publicKey: abc }",
            "discord.publicKey",
            "64 hex characters",
        ),
        (
            "discord: { enabled: true, applicationId: \"1\", publicKey: abc }",
            "discord.botToken",
            "Discord needs it",
        ),
        (
            "discord: { users: { 42: carol } }",
            "discord.users.42",
            "`carol` is not an email address",
        ),
        (
            "discord: { users: { carol: carol@example.com } }",
            "discord.users.carol",
            "not a Discord user id",
        ),
        ("clusters: [{ approvers: [] }]", "clusters[0].name", "is empty"),
        (
            "clusters: [{ name: Prod_EU }]",
            "clusters[0].name",
            "not a DNS-1123 label",
        ),
        (
            "clusters: [{ name: a }, { name: a }]",
            "clusters[1].name",
            "names another cluster",
        ),
        (
            "clusters: [{ name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa }]",
            "clusters[0].name",
            "not a DNS-1123 label",
        ),
        (
            "clusters: [{ name: \"-a\" }]",
            "clusters[0].name",
            "not a DNS-1123 label",
        ),
        (
            "clusters: [{ name: a, approvalsRequired: 0 }]",
            "clusters[0].approvalsRequired",
            "at least 1",
        ),
        (
            "clusters: [{ name: a, approvers: [bob] }]",
            "clusters[0].approvers[0]",
            "`bob` is not an email address",
        ),
        (
            "clusters: [{ name: a, agent: { auth: issuer } }]",
            "clusters[0].agent.issuerUrl",
            "service-account issuer URL",
        ),
        (
            "agent: { centralUrl: \"janus:443\" }",
            "agent.centralUrl",
            "not an http:// or https:// URL",
        ),
        (
            "agent: { clusterName: \"Prod EU\" }",
            "agent.clusterName",
            "not a DNS-1123 label",
        ),
    ];
    for (yaml, key, fragment) in cases {
        assert_problem(yaml, key, fragment);
    }
}

#[test]
fn valid_provider_and_mode_variants_load() {
    let valid = [
        "auth: { mode: oidc, oidc: { provider: google, clientId: c } }",
        "auth: { mode: oidc, oidc: { provider: gitlab, clientId: c } }",
        "auth: { mode: oidc, oidc: { provider: entra, tenantId: t1, clientId: c } }",
        "auth: { mode: header, header: { trustedProxyCidrs: [\"10.0.0.0/8\", \"::1\", \"fd00::/8\"] } }",
        "janus: { displayTimezone: America/Argentina/Buenos_Aires }",
        "links: { mode: link, keys: [{ kid: k2, secret: a }, { kid: k1, secret: b }] }",
        "database: { url: \"postgresql://janus:pw@db:5432/janus?sslmode=require\" }",
        "clusters: [{ name: a, agent: { auth: issuer, issuerUrl: \"https://oidc.example/c\" } }]",
    ];
    for yaml in valid {
        if let Err(errors) = load(yaml) {
            panic!("{yaml} should load:\n{errors}");
        }
    }
    let entra = load(valid[2]).unwrap();
    assert_eq!(
        entra.auth.oidc.effective_issuer_url().as_deref(),
        Some("https://login.microsoftonline.com/t1/v2.0")
    );
    let gitlab = load(valid[1]).unwrap();
    assert_eq!(
        gitlab.auth.oidc.effective_issuer_url().as_deref(),
        Some("https://gitlab.com")
    );
    let header = load(valid[3]).unwrap();
    assert_eq!(header.auth.header.trusted_proxy_networks().len(), 3);
}

#[test]
fn several_problems_are_reported_together_one_per_line() {
    let yaml = "janus: { defaultTtlSeconds: 300, adminEmails: [x] }\nslack: { enabled: true }\nclusters: [{ name: A }]\n";
    let errors = load(yaml).unwrap_err();
    assert_eq!(errors.0.len(), 5, "{errors}");
    let text = errors.to_string();
    assert_eq!(text.lines().count(), 5);
    assert!(
        text.lines()
            .all(|line| line.starts_with('`') && line.ends_with('.')),
        "{text}"
    );
    assert!(text.contains(
        "`janus.defaultTtlSeconds`: 300 is below the minimum of 600 seconds (the Kubernetes TokenRequest minimum)."
    ));
}

#[test]
fn values_are_canonicalized_after_validation() {
    let yaml = "janus: { adminEmails: [\" Root@Example.COM \"] }\nwebui: { baseUrl: \"https://janus.example.com/\" }\n\
                discord: { users: { 42: Carol@Example.com } }\nclusters: [{ name: a, approvers: [Bob@Example.com] }]\n\
                auth: { oidc: { allowedDomains: [Example.COM] } }\n";
    let config = load(yaml).unwrap();
    assert_eq!(config.janus.admin_emails, ["root@example.com"]);
    assert_eq!(config.webui.base_url, "https://janus.example.com");
    assert_eq!(config.discord.users["42"], "carol@example.com");
    assert_eq!(config.clusters[0].approvers, ["bob@example.com"]);
    assert_eq!(config.auth.oidc.allowed_domains, ["example.com"]);
}

const SECRETS: [&str; 7] = [
    "oidc-client-secret-1",
    "github-client-secret-2",
    "link-key-secret-3",
    "xoxb-bot-token-4",
    "slack-signing-secret-5",
    "discord-bot-token-6",
    "db-password-7",
];

fn config_with_every_secret() -> Config {
    let yaml = format!(
        "auth: {{ oidc: {{ clientSecret: {} }}, github: {{ clientSecret: {} }} }}\n\
         links: {{ keys: [{{ kid: k1, secret: {} }}, {{ kid: k0 }}] }}\n\
         slack: {{ botToken: {}, signingSecret: {} }}\ndiscord: {{ botToken: {} }}\n\
         database: {{ url: \"postgres://janus:{}@db/janus?password={}\" }}\n",
        SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3], SECRETS[4], SECRETS[5], SECRETS[6], SECRETS[6]
    );
    load(&yaml).unwrap()
}

#[test]
fn redacted_yaml_never_shows_a_secret() {
    let config = config_with_every_secret();
    assert_eq!(config.slack.bot_token.expose(), SECRETS[3]);
    let printed = config.to_redacted_yaml();
    for secret in SECRETS {
        assert!(!printed.contains(secret), "{secret} leaked:\n{printed}");
    }
    assert!(printed.contains("botToken: '***'"), "{printed}");
    assert!(
        printed.contains("url: postgres://janus:***@db/janus?password=***"),
        "{printed}"
    );
    assert!(
        printed.contains("secret: ''"),
        "an unset secret prints as empty:\n{printed}"
    );
    assert!(printed.contains("clientSecret: '***'"));
    let defaults = Config::default().to_redacted_yaml();
    assert!(defaults.contains("signingSecret: ''"), "{defaults}");
    let reparsed = load(&defaults).unwrap();
    assert_eq!(
        reparsed,
        Config::default(),
        "the printed defaults load back unchanged"
    );
}

#[test]
fn debug_never_shows_a_secret() {
    let debug = format!("{:?}", config_with_every_secret());
    for secret in SECRETS {
        assert!(!debug.contains(secret), "{secret} leaked:\n{debug}");
    }
    assert!(debug.contains("***"));
}

#[test]
fn problems_never_show_a_secret() {
    let yaml = "slack: { botToken: [s3cret-in-list] }\ndatabase: { url: \"mysql://u:s3cret-pw@db\" }\n";
    let text = load(yaml).unwrap_err().to_string();
    assert!(!text.contains("s3cret"), "{text}");
    let unparsable = load("slack: { botToken: 18446744073709551616123 }\n");
    assert!(
        !unparsable
            .unwrap_err()
            .to_string()
            .contains("18446744073709551616123")
    );
}

#[test]
fn database_urls_are_redacted() {
    let redacted = |url: &str| DatabaseConfig { url: url.to_owned() }.redacted_url();
    assert_eq!(redacted("sqlite://janus.db"), "sqlite://janus.db");
    assert_eq!(redacted("postgres://janus@db/janus"), "postgres://janus@db/janus");
    assert_eq!(
        redacted("postgres://janus:p%40ss@db:5432/janus"),
        "postgres://janus:***@db:5432/janus"
    );
    assert_eq!(
        redacted("postgres://u:a@b@db/x?sslmode=require"),
        "postgres://u:***@db/x?sslmode=require"
    );
    assert_eq!(
        redacted("postgres://db/x?user=u&password=pw&sslmode=disable"),
        "postgres://db/x?user=u&password=***&sslmode=disable"
    );
    assert_eq!(
        redacted("postgres://db/x?PASSWORD=pw"),
        "postgres://db/x?PASSWORD=***"
    );
}

#[test]
fn a_file_that_is_not_a_mapping_or_not_yaml_is_one_problem() {
    for yaml in ["- a\n- b\n", "just text", "janus: [\n"] {
        let found = problems(yaml);
        assert_eq!(found.len(), 1, "{yaml}: {found:?}");
        assert_eq!(found[0].key, "");
    }
    let duplicate = problems("slack: {}\nslack: {}\n");
    assert!(
        duplicate[0]
            .message
            .contains("duplicate entry with key \"slack\""),
        "{duplicate:?}"
    );
}

#[test]
fn missing_config_file_is_a_problem_naming_the_path() {
    let errors = Config::from_path(Some(Path::new("/nonexistent/janus.yaml")), &[]).unwrap_err();
    assert!(
        errors.to_string().contains("`/nonexistent/janus.yaml`"),
        "{errors}"
    );
    assert_eq!(Config::from_path(None, &[]).unwrap(), Config::default());
}

/// The derived schema keeps the file form of the keys that are not `Secret`s but had it before
/// (`database.url`, `discord.publicKey`), and types environment values by key (number, bool, choice).
#[test]
fn derived_schema_keeps_file_forms_and_environment_typing() {
    let key = "ab".repeat(32);
    let files = BTreeMap::from([
        ("/run/db/url", "postgres://janus:pw@db/janus\n"),
        ("/run/discord/key", key.as_str()),
    ]);
    let read = |path: &Path| {
        files
            .get(path.to_str().unwrap_or_default())
            .map(|text| text.to_string())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such file or directory"))
    };
    let vars = env(&[
        ("JANUS_DATABASE__URL_FILE", "/run/db/url"),
        ("JANUS_DISCORD__PUBLIC_KEY_FILE", "/run/discord/key"),
        ("JANUS_TERMINAL__RECORDING_MAX_BYTES", "1024"),
        ("JANUS_AGENT__EMBEDDED", "true"),
        ("JANUS_LINKS__MODE", "link"),
        ("JANUS_LINKS__KEYS__0__KID", "k1"),
        ("JANUS_LINKS__KEYS__0__SECRET", "true"),
    ]);
    let config = Config::load(None, &vars, &read).unwrap();
    assert_eq!(config.database.url, "postgres://janus:pw@db/janus");
    assert_eq!(config.discord.public_key, key);
    assert_eq!(config.terminal.recording_max_bytes, 1024);
    assert!(config.agent.embedded);
    assert_eq!(config.links.mode, LinksMode::Link);
    assert_eq!(
        config.links.keys[0].secret.expose(),
        "true",
        "a secret stays text"
    );
    let found = load_with_env(
        "",
        &[
            ("JANUS_AGENT__EMBEDDED", "yes please"),
            ("JANUS_AUTH__MODE", "oidcc"),
        ],
    )
    .unwrap_err()
    .0;
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].key, "agent.embedded");
    assert!(
        found[0].message.starts_with("must be true or false, not text"),
        "{}",
        found[0].message
    );
    assert_eq!(found[1].key, "auth.mode");
    assert!(
        found[1]
            .message
            .starts_with("`oidcc` is not one of local, oidc, github, header (set by environment variable `JANUS_AUTH__MODE`); did you mean `oidc`?"),
        "{}",
        found[1].message
    );
}
