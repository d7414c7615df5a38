//! Cross-field validation of a typed [`Config`], and the canonicalization that follows it.
//!
//! Every rule adds its own problem and carries on, so one run reports everything that is wrong.
//! Messages name the key and say what is expected; they never quote a secret (the database URL is
//! shown redacted).

use std::collections::BTreeSet;

use super::schema::join;
use super::{AgentAuthMode, AuthMode, Config, LinksMode, OidcProvider, Problems, parse_network};
use crate::domain::is_dns_label;

/// The Kubernetes TokenRequest minimum, and so the shortest grant.
pub(super) const MIN_TTL_SECONDS: u64 = 600;

pub(super) fn validate(config: &Config, problems: &mut Problems) {
    janus(config, problems);
    connectivity(config, problems);
    auth(config, problems);
    links(config, problems);
    chat(config, problems);
    clusters(config, problems);
    agent(config, problems);
}

/// Trims and lower-cases emails and domains, trims URLs and drops `webui.baseUrl`'s trailing `/`;
/// runs only on a valid config.
pub(super) fn canonicalize(config: &mut Config) {
    let lower = |text: &mut String| *text = text.trim().to_lowercase();
    config.janus.admin_emails.iter_mut().for_each(lower);
    config.auth.oidc.allowed_domains.iter_mut().for_each(lower);
    config.auth.github.allowed_domains.iter_mut().for_each(lower);
    config.discord.users.values_mut().for_each(lower);
    for cluster in &mut config.clusters {
        cluster.approvers.iter_mut().for_each(lower);
    }
    let base_url = config.webui.base_url.trim().trim_end_matches('/').to_owned();
    config.webui.base_url = base_url;
    config.webui.listen = config.webui.listen.trim().to_owned();
    config.database.url = config.database.url.trim().to_owned();
}

fn janus(config: &Config, problems: &mut Problems) {
    let settings = &config.janus;
    let ttl_floor = |problems: &mut Problems, key: &str, value: u64| {
        if value < MIN_TTL_SECONDS {
            problems.add(
                key,
                format!(
                    "{value} is below the minimum of {MIN_TTL_SECONDS} seconds (the Kubernetes TokenRequest minimum)."
                ),
            );
        }
    };
    ttl_floor(problems, "janus.defaultTtlSeconds", settings.default_ttl_seconds);
    ttl_floor(problems, "janus.maxTtlSeconds", settings.max_ttl_seconds);
    if settings.default_ttl_seconds > settings.max_ttl_seconds {
        problems.add(
            "janus.defaultTtlSeconds",
            format!(
                "{} is above `janus.maxTtlSeconds` ({}); the default must lie between {MIN_TTL_SECONDS} and the maximum.",
                settings.default_ttl_seconds, settings.max_ttl_seconds
            ),
        );
    }
    for (index, option) in settings.approval_ttl_options.iter().enumerate() {
        let key = format!("janus.approvalTtlOptions[{index}]");
        ttl_floor(problems, &key, *option);
        if *option > settings.max_ttl_seconds {
            problems.add(
                key,
                format!(
                    "{option} is above `janus.maxTtlSeconds` ({}); approvers may only pick TTLs up to the maximum.",
                    settings.max_ttl_seconds
                ),
            );
        }
    }
    if settings.grant_timeout_seconds == 0 {
        problems.add(
            "janus.grantTimeoutSeconds",
            "0 would fail every grant at once; give the agent at least 1 second (120 is the default).",
        );
    }
    if !is_timezone(&settings.display_timezone) {
        problems.add(
            "janus.displayTimezone",
            format!(
                "`{}` is not a time zone name; use UTC or an IANA name such as Europe/Paris.",
                settings.display_timezone
            ),
        );
    }
    emails(problems, "janus.adminEmails", &settings.admin_emails);
    for (index, namespace) in settings.excluded_namespaces.iter().enumerate() {
        if !is_dns_label(namespace) {
            problems.add(
                format!("janus.excludedNamespaces[{index}]"),
                format!("`{namespace}` is not a namespace name; use lower-case letters, digits and '-'."),
            );
        }
    }
    let limits = [
        ("janus.limits.requestsPerHour", settings.limits.requests_per_hour),
        (
            "janus.limits.liveRequestsPerUser",
            settings.limits.live_requests_per_user,
        ),
    ];
    for (key, value) in limits {
        if value == 0 {
            problems.add(key, "0 would refuse every request; set it to at least 1.");
        }
    }
}

fn connectivity(config: &Config, problems: &mut Problems) {
    let url = config.database.url.trim();
    let supported = ["sqlite://", "postgres://", "postgresql://"];
    if url.is_empty() {
        problems.add(
            "database.url",
            "is empty; set sqlite://<file> or postgres://<user>@<host>/<database>.",
        );
    } else if !supported.iter().any(|scheme| url.starts_with(scheme)) {
        problems.add(
            "database.url",
            format!(
                "`{}` has an unsupported scheme; use sqlite://… or postgres://….",
                config.database.redacted_url()
            ),
        );
    }
    let listen = &config.webui.listen;
    if listen.trim().parse::<std::net::SocketAddr>().is_err() {
        problems.add(
            "webui.listen",
            format!("`{listen}` is not a socket address; write IP:port such as 0.0.0.0:8080 or [::]:8080."),
        );
    }
    http_url(problems, "webui.baseUrl", &config.webui.base_url);
}

fn auth(config: &Config, problems: &mut Problems) {
    let auth = &config.auth;
    match auth.mode {
        AuthMode::Local => {}
        AuthMode::Oidc => {
            let oidc = &auth.oidc;
            let provider = format!("{:?}", oidc.provider).to_lowercase();
            let derived = matches!(oidc.provider, OidcProvider::Google | OidcProvider::Entra);
            match oidc.effective_issuer_url() {
                None if oidc.provider == OidcProvider::Entra => problems.add(
                    "auth.oidc.tenantId",
                    "is empty; provider entra needs the Microsoft Entra tenant id to find its issuer.",
                ),
                None => problems.add(
                    "auth.oidc.issuerUrl",
                    format!("is empty; provider {provider} needs the issuer URL of your OpenID provider."),
                ),
                Some(issuer) if derived => {
                    let configured = oidc.issuer_url.trim().trim_end_matches('/');
                    if !configured.is_empty() && configured != issuer {
                        problems.add(
                            "auth.oidc.issuerUrl",
                            format!("provider {provider} always uses {issuer}; remove issuerUrl or use provider custom."),
                        );
                    }
                }
                Some(_) if oidc.issuer_url.trim().is_empty() => {}
                Some(_) => http_url(problems, "auth.oidc.issuerUrl", &oidc.issuer_url),
            }
            required(
                problems,
                "auth.oidc.clientId",
                oidc.client_id.trim().is_empty(),
                "auth mode oidc",
            );
            domains(problems, "auth.oidc.allowedDomains", &oidc.allowed_domains);
            required(
                problems,
                "auth.oidc.groupsClaim",
                oidc.groups_claim.trim().is_empty(),
                "auth mode oidc",
            );
        }
        AuthMode::Github => {
            let github = &auth.github;
            required(
                problems,
                "auth.github.clientId",
                github.client_id.trim().is_empty(),
                "auth mode github",
            );
            required(
                problems,
                "auth.github.clientSecret",
                github.client_secret.is_empty(),
                "auth mode github",
            );
            http_url(problems, "auth.github.webBaseUrl", &github.web_base_url);
            http_url(problems, "auth.github.apiBaseUrl", &github.api_base_url);
            domains(problems, "auth.github.allowedDomains", &github.allowed_domains);
        }
        AuthMode::Header => {
            let header = &auth.header;
            let is_token = |byte: u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte);
            if header.name.is_empty() || !header.name.bytes().all(is_token) {
                problems.add(
                    "auth.header.name",
                    "is not an HTTP header name; set the header your proxy sends, such as X-Forwarded-Email.",
                );
            }
            for (index, cidr) in header.trusted_proxy_cidrs.iter().enumerate() {
                if parse_network(cidr).is_none() {
                    problems.add(
                        format!("auth.header.trustedProxyCidrs[{index}]"),
                        format!("`{cidr}` is not a CIDR; write a network such as 10.0.0.0/8 or an address."),
                    );
                }
            }
        }
    }
}

fn links(config: &Config, problems: &mut Problems) {
    let links = &config.links;
    if links.ttl_seconds == 0 {
        problems.add(
            "links.ttlSeconds",
            "0 would make every link expire at once; set it to at least 1.",
        );
    }
    if links.keys.is_empty() {
        problems.add(
            "links.keys",
            "is empty; configure at least one signing key with a kid.",
        );
    }
    let mut seen = BTreeSet::new();
    for (index, key) in links.keys.iter().enumerate() {
        let kid_key = format!("links.keys[{index}].kid");
        let kid_chars = |byte: u8| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte);
        if key.kid.is_empty() {
            problems.add(kid_key, "is empty; give every link key a short id such as k1.");
        } else if key.kid.len() > 64 || !key.kid.bytes().all(kid_chars) {
            problems.add(kid_key, "must be at most 64 letters, digits, '-', '_' or '.'.");
        } else if !seen.insert(key.kid.as_str()) {
            problems.add(
                kid_key,
                format!("`{}` is used by another key; every kid must be unique.", key.kid),
            );
        }
        if links.mode == LinksMode::Link && key.secret.is_empty() {
            problems.add(
                format!("links.keys[{index}].secret"),
                "is empty, but links.mode link signs people in with the link; set a long random secret.",
            );
        }
    }
}

fn chat(config: &Config, problems: &mut Problems) {
    let slack = &config.slack;
    if slack.enabled {
        required(problems, "slack.botToken", slack.bot_token.is_empty(), "Slack");
        required(
            problems,
            "slack.signingSecret",
            slack.signing_secret.is_empty(),
            "Slack",
        );
    }
    http_url(problems, "slack.apiBaseUrl", &slack.api_base_url);
    let discord = &config.discord;
    if discord.enabled {
        required(
            problems,
            "discord.applicationId",
            discord.application_id.trim().is_empty(),
            "Discord",
        );
        required(
            problems,
            "discord.publicKey",
            discord.public_key.is_empty(),
            "Discord",
        );
        required(
            problems,
            "discord.botToken",
            discord.bot_token.is_empty(),
            "Discord",
        );
    }
    let key = discord.public_key.trim();
    if !key.is_empty() && (key.len() != 64 || !key.bytes().all(|byte| byte.is_ascii_hexdigit())) {
        problems.add(
            "discord.publicKey",
            "is not an Ed25519 public key; copy the 64 hex characters from the Discord developer portal.",
        );
    }
    http_url(problems, "discord.apiBaseUrl", &discord.api_base_url);
    for (user, email) in &discord.users {
        let key = join("discord.users", user);
        if user.is_empty() || !user.bytes().all(|byte| byte.is_ascii_digit()) {
            problems.add(
                key.clone(),
                "is not a Discord user id; use the numeric id (a snowflake) as the key.",
            );
        }
        if !is_email(email) {
            problems.add(
                key,
                format!("`{email}` is not an email address; expected name@domain."),
            );
        }
    }
}

fn clusters(config: &Config, problems: &mut Problems) {
    let mut seen = BTreeSet::new();
    for (index, cluster) in config.clusters.iter().enumerate() {
        let key = |field: &str| format!("clusters[{index}].{field}");
        if cluster.name.is_empty() {
            problems.add(
                key("name"),
                "is empty; give every cluster a name such as prod-eu.",
            );
        } else if !is_dns_label(&cluster.name) {
            problems.add(
                key("name"),
                format!(
                    "`{}` is not a DNS-1123 label; use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit.",
                    cluster.name
                ),
            );
        } else if !seen.insert(cluster.name.as_str()) {
            problems.add(
                key("name"),
                format!(
                    "`{}` names another cluster too; names must be unique.",
                    cluster.name
                ),
            );
        }
        if cluster.approvals_required == 0 {
            problems.add(
                key("approvalsRequired"),
                "0 would approve requests with nobody's consent; set it to at least 1.",
            );
        }
        emails(problems, &key("approvers"), &cluster.approvers);
        if cluster.agent.auth == AgentAuthMode::Issuer {
            if cluster.agent.issuer_url.trim().is_empty() {
                problems.add(
                    key("agent.issuerUrl"),
                    "is empty; agent auth issuer needs the cluster's service-account issuer URL.",
                );
            } else {
                http_url(problems, &key("agent.issuerUrl"), &cluster.agent.issuer_url);
            }
        }
    }
}

fn agent(config: &Config, problems: &mut Problems) {
    let agent = &config.agent;
    if !agent.central_url.is_empty() {
        http_url(problems, "agent.centralUrl", &agent.central_url);
    }
    if !agent.cluster_name.is_empty() && !is_dns_label(&agent.cluster_name) {
        problems.add(
            "agent.clusterName",
            format!(
                "`{}` is not a DNS-1123 label; use the cluster's name as configured on central.",
                agent.cluster_name
            ),
        );
    }
}

fn required(problems: &mut Problems, key: &str, missing: bool, needed_by: &str) {
    if missing {
        problems.add(
            key,
            format!("is empty, but {needed_by} needs it; set it here or with its …File form."),
        );
    }
}

fn http_url(problems: &mut Problems, key: &str, url: &str) {
    let url = url.trim();
    if url.is_empty() {
        problems.add(key, "is empty; set an http:// or https:// URL.");
        return;
    }
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    let valid = host.is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace));
    if !valid {
        problems.add(
            key,
            format!("`{url}` is not an http:// or https:// URL with a host."),
        );
    }
}

fn emails(problems: &mut Problems, key: &str, values: &[String]) {
    for (index, value) in values.iter().enumerate() {
        if !is_email(value) {
            problems.add(
                format!("{key}[{index}]"),
                format!("`{value}` is not an email address; expected name@domain."),
            );
        }
    }
}

fn domains(problems: &mut Problems, key: &str, values: &[String]) {
    for (index, value) in values.iter().enumerate() {
        if !is_domain(value.trim()) {
            problems.add(
                format!("{key}[{index}]"),
                format!("`{value}` is not an email domain; write it without '@', such as example.com."),
            );
        }
    }
}

pub(super) fn is_email(value: &str) -> bool {
    let value = value.trim();
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !local.contains(|character: char| character.is_whitespace() || character.is_control())
                && is_domain(domain)
        }
        None => false,
    }
}

fn is_domain(value: &str) -> bool {
    value.contains('.')
        && value.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || !byte.is_ascii())
        })
}

/// `UTC`, or an `Area/City` shaped name (`Europe/Paris`, `America/Argentina/Buenos_Aires`,
/// `Etc/GMT+5`). Whether the zone exists is checked where times are rendered, not here.
fn is_timezone(value: &str) -> bool {
    if value == "UTC" {
        return true;
    }
    let parts: Vec<&str> = value.split('/').collect();
    parts.len() >= 2
        && parts.iter().all(|part| {
            part.chars()
                .next()
                .is_some_and(|first| first.is_ascii_uppercase())
                && part
                    .chars()
                    .all(|character| character.is_ascii_alphanumeric() || "_-+".contains(character))
        })
}
