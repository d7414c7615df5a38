//! The configuration contract of DESIGN §8: typed settings, loading, validation and redacted printing.
//!
//! [`Config::load`] turns YAML text plus environment variables into a checked [`Config`], or into
//! [`ConfigErrors`] listing *every* problem, one sentence each, keyed by the camelCase path an operator
//! writes (`janus.defaultTtlSeconds`, `clusters[1].name`). Loading runs in this order:
//!
//! 1. The YAML text is parsed (no text, or empty text, means "all defaults").
//! 2. Environment overrides: `JANUS_<A>__<B>__<C>` sets `a.b.c`, each segment converted from
//!    SCREAMING_SNAKE to camelCase (a segment that already has lower-case letters is kept as written).
//!    A segment of digits indexes a list (`JANUS_CLUSTERS__0__SLACK_CHANNEL`); the index may be one past
//!    the end to append. `JANUS_` variables without `__` (such as `JANUS_LOG`) are not configuration.
//!    The value is text when the key expects text (so `JANUS_SLACK__SIGNING_SECRET=12345` stays the
//!    string `"12345"`), otherwise it is read as a YAML flow value (`7200`, `true`, `[a, b]`).
//!    Environment wins over the file: setting `x` from the environment drops the file's `xFile`, and
//!    setting `xFile` drops the file's `x`.
//! 3. `…File` secrets: each secret key also accepts `<key>File`, a path whose contents (trailing
//!    whitespace trimmed) become the value. An empty `…File` or an empty value counts as unset; giving
//!    both a non-empty value and a `…File` is a problem.
//! 4. A walk over the tree against the shape in `schema` (read from the JSON Schema that `schemars`
//!    derives from these types, `json_schema`) reports every unknown key (with a
//!    "did you mean" hint) and every wrong type; offending nodes are dropped so the walk and the
//!    validation that follows can report all other problems in the same run. `null` (a key written with
//!    no value) means "use the default". Unquoted integers in text keys are read as their decimal text
//!    (`discordChannel: 123456789012345678` works; quote values whose exact spelling matters).
//! 5. Typed deserialization, then validation of cross-field rules, then canonicalization: emails are
//!    trimmed and lower-cased, `allowedDomains` lower-cased, and `webui.baseUrl` loses a trailing `/`.
//!
//! No message ever contains a secret: problems name keys and file paths, never values of secret keys,
//! and a database URL is only ever shown through [`DatabaseConfig::redacted_url`].
//!
//! Layout: this file holds the types, `load` and printing; `config/json_schema.rs` the derived JSON
//! Schema (published by `janus config schema`, `docs/config.schema.json` and the chart's
//! `values.schema.json`); `config/schema.rs` the shape read from it and the passes over the untyped
//! tree (steps 2–4); `config/checks.rs` the validation rules (step 5);
//! `config/tests.rs` the tests.
//!
//! Decisions where DESIGN §8 is silent: `links.ttlSeconds` defaults to 28 800 (the longest grant), and
//! is the upper bound of a link's lifetime (a link never outlives its request either). An empty link key
//! secret is allowed in `sso` mode — central then generates and stores a key itself — but refused in
//! `link` mode. `displayTimezone` accepts `UTC` or an `Area/City` shaped name; whether the zone exists is
//! not checked here. OIDC `clientSecret` is optional (public clients with PKCE).

mod checks;
mod json_schema;
mod policy;
mod schema;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};

use crate::secret::{REDACTED, Secret};
pub use janus_wire::agent_config::{AgentConfig, AgentIdentityMode};

pub use json_schema::{
    ChartSchemaError, chart_values_schema_text, published as json_schema, published_text as json_schema_text,
};

/// The whole configuration of central and of the agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Config {
    pub janus: JanusSettings,
    pub database: DatabaseConfig,
    pub webui: WebUiConfig,
    pub auth: AuthConfig,
    pub links: LinksConfig,
    pub slack: SlackConfig,
    pub discord: DiscordConfig,
    pub clusters: Vec<ClusterConfig>,
    pub agent: AgentConfig,
    pub terminal: TerminalConfig,
}

/// Shapes the published JSON Schema gives some text keys (editors and the chart check them early;
/// `config/checks.rs` stays the authority and explains each problem in a sentence).
const EMAIL_PATTERN: &str = r"^[^@\s]+@[^@\s]+$";
const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const TIME_ZONE_PATTERN: &str = "^(UTC|[A-Za-z_]+(/[A-Za-z0-9_+-]+)+)$";
const NETWORK_PATTERN: &str = "^[0-9a-fA-F:.]+(/[0-9]{1,3})?$";

/// The web terminal (`terminal:`, docs/terminal-protocol.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TerminalConfig {
    /// The most one session's recording (asciicast v2) may hold; past it the recording stops
    /// and is marked truncated. 0 records nothing.
    pub recording_max_bytes: u64,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        Self {
            recording_max_bytes: 5 * 1024 * 1024,
        }
    }
}

/// Workflow settings: TTLs, timeouts, admins, exclusions and limits (`janus:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct JanusSettings {
    #[schemars(range(min = 600))]
    pub default_ttl_seconds: u64,
    #[schemars(range(min = 600))]
    pub max_ttl_seconds: u64,
    #[schemars(inner(range(min = 600)))]
    pub approval_ttl_options: Vec<u64>,
    /// 0 turns pending auto-expiry off.
    pub pending_expiry_seconds: u64,
    #[schemars(range(min = 1))]
    pub grant_timeout_seconds: u64,
    /// 0 turns the terminal idle timeout off.
    pub idle_timeout_seconds: u64,
    pub retention_seconds: u64,
    #[schemars(pattern(TIME_ZONE_PATTERN))]
    pub display_timezone: String,
    /// Canonical lower-case emails.
    #[schemars(inner(pattern(EMAIL_PATTERN)))]
    pub admin_emails: Vec<String>,
    #[schemars(inner(pattern(DNS_LABEL_PATTERN), length(max = 63)))]
    pub excluded_namespaces: Vec<String>,
    pub limits: Limits,
}

impl Default for JanusSettings {
    /// The domain's defaults (`Policy::default`), written once there.
    fn default() -> Self {
        let defaults = crate::domain::Policy::default();
        Self {
            default_ttl_seconds: defaults.default_ttl_seconds,
            max_ttl_seconds: defaults.max_ttl_seconds,
            approval_ttl_options: defaults.approval_ttl_options,
            pending_expiry_seconds: defaults.pending_expiry_seconds,
            grant_timeout_seconds: defaults.grant_timeout_seconds,
            idle_timeout_seconds: 900,
            retention_seconds: defaults.retention_seconds,
            display_timezone: "UTC".to_owned(),
            admin_emails: Vec::new(),
            excluded_namespaces: defaults.excluded_namespaces.into_iter().collect(),
            limits: Limits::default(),
        }
    }
}

/// Per-user limits on submissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Limits {
    pub requests_per_hour: u32,
    pub live_requests_per_user: u32,
}

impl Default for Limits {
    fn default() -> Self {
        let defaults = crate::domain::Policy::default().limits;
        Self {
            requests_per_hour: defaults.requests_per_hour,
            live_requests_per_user: defaults.live_requests_per_user,
        }
    }
}

/// Where requests and the audit log are stored (`database:`).
///
/// `url` may hold a password (`postgres://user:pass@host/db`), so `Debug` and `Serialize` show
/// [`DatabaseConfig::redacted_url`] instead; only code that opens the pool reads `url` itself.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DatabaseConfig {
    #[serde(serialize_with = "serialize_redacted_url")]
    #[schemars(extend("x-janus-from-file" = true))]
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://janus.db".to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DatabaseConfig")
            .field("url", &self.redacted_url())
            .finish()
    }
}

fn serialize_redacted_url<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_url(url))
}

impl DatabaseConfig {
    /// The URL with any password replaced by `***`, in the userinfo (`user:***@host`) and in a
    /// `password=` query parameter. Safe to log and to print.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// Redacts the password of a URL; when the shape is unclear it redacts more, never less.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let query_start = rest.find(['?', '#']).unwrap_or(rest.len());
    let (before_query, query) = rest.split_at(query_start);
    let before_query = match before_query.rfind('@') {
        Some(at) => {
            let (userinfo, host_and_path) = before_query.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _password)) => format!("{user}:{REDACTED}{host_and_path}"),
                None => before_query.to_owned(),
            }
        }
        None => before_query.to_owned(),
    };
    let query = query
        .split_inclusive(['&', '?', '#'])
        .map(|part| match part.split_once('=') {
            Some((name, value)) if name.eq_ignore_ascii_case("password") => {
                let separator = value
                    .chars()
                    .last()
                    .filter(|last| matches!(last, '&' | '?' | '#'));
                format!(
                    "{name}={REDACTED}{}",
                    separator.map(String::from).unwrap_or_default()
                )
            }
            _ => part.to_owned(),
        })
        .collect::<String>();
    format!("{scheme}{before_query}{query}")
}

/// The dashboard's listener and public address (`webui:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WebUiConfig {
    /// A socket address, `IP:port`.
    pub listen: String,
    /// The URL people open, without a trailing `/`; links and OAuth callbacks are built from it.
    pub base_url: String,
}

impl Default for WebUiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            base_url: "http://127.0.0.1:8080".to_owned(),
        }
    }
}

/// How people sign in to the dashboard (`auth:`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AuthConfig {
    pub mode: AuthMode,
    pub oidc: OidcConfig,
    pub github: GithubConfig,
    pub header: HeaderAuthConfig,
}

/// The sign-in method. `local` is for development only: one admin whose password is printed at
/// first start.
// No doc comment on a variant: schemars would list a documented variant apart, out of order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    #[default]
    Local,
    Oidc,
    Github,
    Header,
}

/// OpenID Connect sign-in (`auth.oidc:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct OidcConfig {
    pub provider: OidcProvider,
    pub issuer_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Lower-case email domains allowed to sign in; empty allows every domain.
    pub allowed_domains: Vec<String>,
    pub groups_claim: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            provider: OidcProvider::default(),
            issuer_url: String::new(),
            tenant_id: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            allowed_domains: Vec::new(),
            groups_claim: "groups".to_owned(),
        }
    }
}

impl OidcConfig {
    /// The issuer to discover: fixed for Google, derived from `tenantId` for Entra, `issuerUrl` (or
    /// `https://gitlab.com`) for GitLab, `issuerUrl` otherwise. `None` when it cannot be known.
    pub fn effective_issuer_url(&self) -> Option<String> {
        let configured = self.issuer_url.trim().trim_end_matches('/');
        match self.provider {
            OidcProvider::Google => Some("https://accounts.google.com".to_owned()),
            OidcProvider::Entra if self.tenant_id.trim().is_empty() => None,
            OidcProvider::Entra => Some(format!(
                "https://login.microsoftonline.com/{}/v2.0",
                self.tenant_id.trim()
            )),
            OidcProvider::Gitlab if configured.is_empty() => Some("https://gitlab.com".to_owned()),
            _ if configured.is_empty() => None,
            _ => Some(configured.to_owned()),
        }
    }
}

/// The OpenID provider, which decides how the issuer is found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OidcProvider {
    Google,
    Entra,
    Okta,
    Gitlab,
    #[default]
    Custom,
}

/// GitHub OAuth sign-in (`auth.github:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct GithubConfig {
    pub client_id: String,
    pub client_secret: Secret,
    pub web_base_url: String,
    pub api_base_url: String,
    pub allowed_domains: Vec<String>,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: Secret::default(),
            web_base_url: "https://github.com".to_owned(),
            api_base_url: "https://api.github.com".to_owned(),
            allowed_domains: Vec::new(),
        }
    }
}

/// Trusted-header sign-in behind an authenticating proxy (`auth.header:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct HeaderAuthConfig {
    #[schemars(length(min = 1))]
    pub name: String,
    /// CIDRs (or bare addresses) the header is accepted from.
    #[schemars(inner(pattern(NETWORK_PATTERN)))]
    pub trusted_proxy_cidrs: Vec<String>,
}

impl Default for HeaderAuthConfig {
    fn default() -> Self {
        Self {
            name: "X-Forwarded-Email".to_owned(),
            trusted_proxy_cidrs: vec!["127.0.0.1/32".to_owned()],
        }
    }
}

impl HeaderAuthConfig {
    /// The trusted proxy networks; a bare address counts as a single-host network. Entries that do not
    /// parse are skipped (validation has already refused them).
    pub fn trusted_proxy_networks(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxy_cidrs
            .iter()
            .filter_map(|entry| parse_network(entry))
            .collect()
    }
}

fn parse_network(entry: &str) -> Option<ipnet::IpNet> {
    let entry = entry.trim();
    entry
        .parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| entry.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Signed terminal links (`links:`, DESIGN §6.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LinksConfig {
    pub mode: LinksMode,
    /// The longest a link stays valid; a link also never outlives its request.
    pub ttl_seconds: u64,
    /// Signing keys; the first signs, all verify (rotate by putting the new key first).
    pub keys: Vec<LinkKeyConfig>,
}

impl Default for LinksConfig {
    fn default() -> Self {
        Self {
            mode: LinksMode::default(),
            ttl_seconds: crate::domain::Policy::default().link_ttl_seconds,
            keys: vec![LinkKeyConfig {
                kid: "k1".to_owned(),
                secret: Secret::default(),
            }],
        }
    }
}

/// Whether a link needs an SSO session (`sso`) or signs its holder in once (`link`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinksMode {
    #[default]
    Sso,
    Link,
}

/// One link signing key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LinkKeyConfig {
    pub kid: String,
    pub secret: Secret,
}

/// The Slack adapter (`slack:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SlackConfig {
    pub enabled: bool,
    pub bot_token: Secret,
    pub signing_secret: Secret,
    pub api_base_url: String,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bot_token: Secret::default(),
            signing_secret: Secret::default(),
            api_base_url: "https://slack.com/api".to_owned(),
        }
    }
}

/// The Discord adapter (`discord:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DiscordConfig {
    pub enabled: bool,
    pub application_id: String,
    /// The application's Ed25519 public key, 64 hex characters.
    #[schemars(extend("x-janus-from-file" = true))]
    pub public_key: String,
    pub bot_token: Secret,
    pub api_base_url: String,
    /// Static map from Discord user id to canonical lower-case email.
    pub users: BTreeMap<String, String>,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            application_id: String::new(),
            public_key: String::new(),
            bot_token: Secret::default(),
            api_base_url: "https://discord.com".to_owned(),
            users: BTreeMap::new(),
        }
    }
}

/// One Kubernetes cluster and who approves access to it (`clusters[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(extend("required" = ["name"]))]
pub struct ClusterConfig {
    /// A DNS-1123 label; the agent's identity refers to it.
    #[schemars(pattern(DNS_LABEL_PATTERN), length(max = 63))]
    pub name: String,
    pub display_name: String,
    /// Canonical lower-case emails.
    #[schemars(inner(pattern(EMAIL_PATTERN)))]
    pub approvers: Vec<String>,
    pub approver_groups: Vec<String>,
    #[schemars(range(min = 1))]
    pub approvals_required: u32,
    pub slack_channel: String,
    #[schemars(pattern("^[0-9]*$"))]
    pub discord_channel: String,
    pub agent: ClusterAgentConfig,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            display_name: String::new(),
            approvers: Vec::new(),
            approver_groups: Vec::new(),
            approvals_required: 1,
            slack_channel: String::new(),
            discord_channel: String::new(),
            agent: ClusterAgentConfig::default(),
        }
    }
}

/// How the cluster's agent proves who it is (DESIGN §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ClusterAgentConfig {
    pub auth: AgentAuthMode,
    /// The cluster's service-account issuer, for `auth: issuer`.
    pub issuer_url: String,
    /// The agent's ServiceAccount as `namespace:name`, for `tokenreview` and `issuer`
    /// (default `janus:janus-agent`).
    #[schemars(pattern("^[a-z0-9-]+:[a-z0-9-]+$"))]
    pub service_account: String,
    /// The audience the agent's projected token must carry (default `janus`).
    pub audience: String,
    /// For `tokenreview`: the API server of the cluster central runs in. Empty means the
    /// in-cluster address (`KUBERNETES_SERVICE_HOST`/`_PORT`).
    pub api_server_url: String,
    /// For `tokenreview`: central's own bearer token. Empty means the in-cluster
    /// service-account token.
    pub token_file: String,
}

impl Default for ClusterAgentConfig {
    fn default() -> Self {
        Self {
            auth: AgentAuthMode::default(),
            issuer_url: String::new(),
            service_account: "janus:janus-agent".to_owned(),
            audience: "janus".to_owned(),
            api_server_url: String::new(),
            token_file: String::new(),
        }
    }
}

/// The agent authentication method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentAuthMode {
    #[default]
    Enrollment,
    Tokenreview,
    Issuer,
}

/// One thing wrong with the configuration: the key (camelCase path) and one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// `janus.defaultTtlSeconds`, `clusters[0].name`; empty for problems of the file as a whole.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            formatter.write_str(&self.message)
        } else {
            write!(formatter, "`{}`: {}", self.key, self.message)
        }
    }
}

/// Every problem found while loading, in the order found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl ConfigErrors {
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str("\n")?;
            }
            write!(formatter, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects problems, noting which environment variable set a key so messages can say so.
#[derive(Debug, Default)]
struct Problems {
    list: Vec<ConfigProblem>,
    /// Key path set from the environment → variable name.
    origins: BTreeMap<String, String>,
}

impl Problems {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        let key = key.into();
        let mut message = message.into();
        let origin = self.origins.iter().find(|(path, _)| {
            key == **path
                || key
                    .strip_prefix(path.as_str())
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        });
        if let Some((_, variable)) = origin {
            let note = format!(" (set by environment variable `{variable}`)");
            let at = message
                .find(';')
                .or_else(|| message.strip_suffix(['.', '?']).map(str::len));
            message.insert_str(at.unwrap_or(message.len()), &note);
        }
        self.list.push(ConfigProblem { key, message });
    }
}

/// Replaces fragments of a parser message quoted with one of `quotes`, which may be values, with `…`.
fn without_quoted_values(message: &str, quotes: &[char]) -> String {
    let mut out = String::with_capacity(message.len());
    let mut open: Option<char> = None;
    for character in message.chars() {
        match open {
            Some(quote) if character == quote => {
                out.push('…');
                out.push(character);
                open = None;
            }
            Some(_) => {}
            None => {
                out.push(character);
                if quotes.contains(&character) {
                    open = Some(character);
                }
            }
        }
    }
    out
}

impl Config {
    /// Loads the configuration from YAML text (`None` = no file, all defaults), environment variables
    /// and `…File` secrets read through `read_file`; see the module documentation for the rules.
    pub fn load(
        yaml: Option<&str>,
        env: &[(String, String)],
        read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut problems = Problems::default();
        let mut tree = match yaml.map(serde_norway::from_str::<serde_norway::Value>) {
            None => serde_norway::Value::Null,
            Some(Ok(tree)) => tree,
            Some(Err(error)) => {
                // Keys are quoted with `"`, values (such as an oversized number) with backticks.
                let message = without_quoted_values(&error.to_string(), &['`']);
                problems.add(
                    "",
                    format!("The configuration file is not valid YAML: {message}."),
                );
                return Err(ConfigErrors(problems.list));
            }
        };
        if tree.is_null() {
            tree = serde_norway::Value::Mapping(serde_norway::Mapping::new());
        }
        if !tree.is_mapping() {
            problems.add(
                "",
                "The configuration file must be a mapping of sections such as `janus:` and `slack:`, not a single value or a list.",
            );
            return Err(ConfigErrors(problems.list));
        }
        let shape = schema::schema();
        schema::apply_env(&mut tree, env, shape, &mut problems);
        schema::resolve_files(&mut tree, shape, "", read_file, &mut problems);
        if !schema::check(&mut tree, shape, "", &mut problems) {
            tree = serde_norway::Value::Mapping(serde_norway::Mapping::new());
        }
        let mut config = match serde_norway::from_value::<Config>(tree) {
            Ok(config) => config,
            Err(error) => {
                let message = without_quoted_values(&error.to_string(), &['`', '"']);
                problems.add(
                    "",
                    format!("The configuration does not have the expected shape: {message}."),
                );
                return Err(ConfigErrors(problems.list));
            }
        };
        checks::validate(&config, &mut problems);
        if !problems.list.is_empty() {
            return Err(ConfigErrors(problems.list));
        }
        checks::canonicalize(&mut config);
        Ok(config)
    }

    /// Loads from a file on disk (`None` = no file, all defaults) and reads `…File` secrets from disk.
    pub fn from_path(path: Option<&Path>, env: &[(String, String)]) -> Result<Config, ConfigErrors> {
        let text = match path {
            None => None,
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some(text),
                Err(error) => {
                    let message = format!(
                        "Cannot read the configuration file `{}`: {error}; pass an existing file with --config.",
                        path.display()
                    );
                    return Err(ConfigErrors(vec![ConfigProblem {
                        key: String::new(),
                        message,
                    }]));
                }
            },
        };
        Config::load(text.as_deref(), env, &|file: &Path| std::fs::read_to_string(file))
    }

    /// The effective configuration as YAML for `janus config print`: every non-empty secret is `***`,
    /// an unset secret is `""` (so operators see it is missing), and the database password is `***`.
    pub fn to_redacted_yaml(&self) -> String {
        let mut tree = match serde_norway::to_value(self) {
            Ok(tree) => tree,
            Err(error) => return format!("# the configuration could not be rendered: {error}\n"),
        };
        for (path, secret) in self.secrets() {
            if secret.is_empty() {
                schema::set_existing(&mut tree, &path, serde_norway::Value::String(String::new()));
            }
        }
        serde_norway::to_string(&tree)
            .unwrap_or_else(|error| format!("# the configuration could not be rendered: {error}\n"))
    }

    /// The cluster configured under `name`.
    pub fn cluster(&self, name: &str) -> Option<&ClusterConfig> {
        self.clusters.iter().find(|cluster| cluster.name == name)
    }

    /// Every [`Secret`] field with its location in the YAML tree.
    fn secrets(&self) -> Vec<(Vec<schema::Segment>, &Secret)> {
        use schema::Segment::{Index, Key};
        let key = |name: &str| Key(name.to_owned());
        let mut secrets = vec![
            (
                vec![key("auth"), key("oidc"), key("clientSecret")],
                &self.auth.oidc.client_secret,
            ),
            (
                vec![key("auth"), key("github"), key("clientSecret")],
                &self.auth.github.client_secret,
            ),
            (vec![key("slack"), key("botToken")], &self.slack.bot_token),
            (
                vec![key("slack"), key("signingSecret")],
                &self.slack.signing_secret,
            ),
            (vec![key("discord"), key("botToken")], &self.discord.bot_token),
        ];
        for (index, link_key) in self.links.keys.iter().enumerate() {
            secrets.push((
                vec![key("links"), key("keys"), Index(index), key("secret")],
                &link_key.secret,
            ));
        }
        secrets
    }
}
