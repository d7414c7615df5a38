//! [`HttpCentral`]: the agent API of central over HTTP (DESIGN §5.1–§5.2, wire contract in
//! [`janus_wire::agent_protocol`]).
//!
//! Identity, from `agent.auth`:
//! - `enrollment`: the Ed25519 key in `keyFile`. When there is none, the agent generates
//!   one, presents it once to `POST /agent/v1/enroll` with the join token from
//!   `joinTokenFile`, and writes the key file (0600) only after central accepted it. Every
//!   later request is signed ([`signing_input`] / [`sign`]).
//! - `serviceaccount`: `Authorization: Bearer` with the projected token in
//!   `serviceAccountTokenFile`, read again for every request (the kubelet rotates it).

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use janus_wire::agent_config::{AgentConfig, AgentIdentityMode};
use janus_wire::agent_protocol::{
    Enrollment, HEADER_CLUSTER, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_WAIT_SECONDS, NamespaceReport,
    ReportAck, SessionOffer, SessionOffers, WorkAssignment, WorkReport, encode_public_key, sign,
    signing_input,
};
use janus_wire::clock::Clock;
use reqwest::{Method, StatusCode};

use super::{Central, CentralError, SessionSocket};

/// How long any call but the long-poll may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Added to the long-poll's wait before the agent gives up on the answer.
const LONG_POLL_GRACE: Duration = Duration::from_secs(15);
/// At most this much of an error body is kept in a [`CentralError`].
const MAX_ERROR_BODY: usize = 500;

enum Identity {
    Signed(SigningKey),
    ServiceAccount { token_file: PathBuf },
}

impl fmt::Debug for Identity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Signed(key) => formatter
                .debug_struct("Signed")
                .field("public_key", &encode_public_key(&key.verifying_key()))
                .finish(),
            Identity::ServiceAccount { token_file } => formatter
                .debug_struct("ServiceAccount")
                .field("token_file", token_file)
                .finish(),
        }
    }
}

/// Central over HTTP.
#[derive(Debug)]
pub struct HttpCentral {
    http: reqwest::Client,
    /// `centralUrl` without a trailing slash.
    base: String,
    cluster: String,
    identity: Identity,
    clock: Arc<dyn Clock>,
}

impl HttpCentral {
    /// Builds the client from `agent:`; with `auth: enrollment` and no key file yet, enrolls
    /// with the join token first (one network call).
    pub async fn connect(config: &AgentConfig, clock: Arc<dyn Clock>) -> Result<Self, CentralError> {
        let base = config.central_url.trim().trim_end_matches('/').to_owned();
        if base.is_empty() {
            return Err(CentralError::Identity(
                "`agent.centralUrl` is empty; set it to central's address (https://janus.example.com)."
                    .to_owned(),
            ));
        }
        let parsed = reqwest::Url::parse(&base).map_err(|error| {
            CentralError::Identity(format!("`agent.centralUrl` {base:?} is not a valid URL: {error}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CentralError::Identity(format!(
                "`agent.centralUrl` {base:?} must start with https:// (or http://)."
            )));
        }
        let cluster = config.cluster_name.trim().to_owned();
        if cluster.is_empty() {
            return Err(CentralError::Identity(
                "`agent.clusterName` is empty; set it to the cluster name central knows this agent by."
                    .to_owned(),
            ));
        }
        let http = http_client()?;
        let identity = match config.auth {
            AgentIdentityMode::Serviceaccount => {
                let token_file = config.service_account_token_file.trim();
                if token_file.is_empty() {
                    return Err(CentralError::Identity(
                        "`agent.serviceAccountTokenFile` is empty; mount a projected token with audience `janus`."
                            .to_owned(),
                    ));
                }
                Identity::ServiceAccount {
                    token_file: PathBuf::from(token_file),
                }
            }
            AgentIdentityMode::Enrollment => {
                Identity::Signed(load_or_enroll(config, &http, &base, &cluster).await?)
            }
        };
        Ok(HttpCentral {
            http,
            base,
            cluster,
            identity,
            clock,
        })
    }

    /// A client that signs with `key` (already enrolled), for tests and tools.
    pub fn with_key(
        central_url: &str,
        cluster: &str,
        key: SigningKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CentralError> {
        Ok(HttpCentral {
            http: http_client()?,
            base: central_url.trim().trim_end_matches('/').to_owned(),
            cluster: cluster.to_owned(),
            identity: Identity::Signed(key),
            clock,
        })
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The headers that prove the agent's identity for one request.
    async fn identity_headers(
        &self,
        method: &str,
        signed_path: &str,
        body: &[u8],
    ) -> Result<Vec<(&'static str, String)>, CentralError> {
        let mut headers = vec![(HEADER_CLUSTER, self.cluster.clone())];
        match &self.identity {
            Identity::Signed(key) => {
                let timestamp = self.clock.now().timestamp();
                let input = signing_input(method, signed_path, &self.cluster, timestamp, body);
                headers.push((HEADER_TIMESTAMP, timestamp.to_string()));
                headers.push((HEADER_SIGNATURE, sign(key, &input)));
            }
            Identity::ServiceAccount { token_file } => {
                let token = read_secret_file(token_file, "agent.serviceAccountTokenFile").await?;
                headers.push(("authorization", format!("Bearer {token}")));
            }
        }
        Ok(headers)
    }

    /// Sends a request built by [`Self::request`], given up after `timeout`.
    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<reqwest::Response, CentralError> {
        self.request(method, path_and_query, body)
            .await?
            .timeout(timeout)
            .send()
            .await
            .map_err(unreachable)
    }

    /// Long-polls `path` for up to `wait` (capped): `None` when central had nothing by then.
    async fn long_poll<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        wait: Duration,
    ) -> Result<Option<T>, CentralError> {
        let seconds = wait.as_secs().min(MAX_WAIT_SECONDS);
        let path = format!("{path}?wait={seconds}");
        let timeout = Duration::from_secs(seconds) + LONG_POLL_GRACE;
        let response = self.send(Method::GET, &path, None, timeout).await?;
        match response.status() {
            StatusCode::NO_CONTENT => Ok(None),
            StatusCode::OK => response
                .json::<T>()
                .await
                .map(Some)
                .map_err(|error| CentralError::Protocol(crate::error_chain(&error))),
            _ => Err(refusal(response, false).await),
        }
    }

    /// Builds a request with the agent's identity headers. `path_and_query` starts with `/`.
    async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::RequestBuilder, CentralError> {
        let url = reqwest::Url::parse(&format!("{}{path_and_query}", self.base))
            .map_err(|error| CentralError::Identity(format!("bad central URL: {error}")))?;
        let signed_path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let body_bytes = body.unwrap_or_default();
        let mut builder = self.http.request(method.clone(), url);
        for (name, value) in self
            .identity_headers(method.as_str(), &signed_path, &body_bytes)
            .await?
        {
            builder = builder.header(name, value);
        }
        if !body_bytes.is_empty() {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body_bytes);
        }
        Ok(builder)
    }
}

#[async_trait]
impl Central for HttpCentral {
    async fn next_work(&self, wait: Duration) -> Result<Option<WorkAssignment>, CentralError> {
        self.long_poll("/agent/v1/work", wait).await
    }

    async fn report(&self, work_id: i64, report: &WorkReport) -> Result<ReportAck, CentralError> {
        let body = serde_json::to_vec(report).map_err(|error| CentralError::Protocol(error.to_string()))?;
        let path = format!("/agent/v1/work/{work_id}/result");
        let response = self
            .send(Method::POST, &path, Some(body), REQUEST_TIMEOUT)
            .await?;
        if response.status().is_success() {
            return response
                .json::<ReportAck>()
                .await
                .map_err(|error| CentralError::Protocol(crate::error_chain(&error)));
        }
        Err(refusal(response, true).await)
    }

    async fn report_namespaces(&self, namespaces: &[String]) -> Result<(), CentralError> {
        let body = serde_json::to_vec(&NamespaceReport {
            namespaces: namespaces.to_vec(),
        })
        .map_err(|error| CentralError::Protocol(error.to_string()))?;
        let response = self
            .send(Method::PUT, "/agent/v1/namespaces", Some(body), REQUEST_TIMEOUT)
            .await?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(refusal(response, false).await)
    }

    async fn next_sessions(&self, wait: Duration) -> Result<Vec<SessionOffer>, CentralError> {
        let offers: Option<SessionOffers> = self.long_poll("/agent/v1/sessions", wait).await?;
        Ok(offers.map_or_else(Vec::new, |offers| offers.sessions))
    }

    async fn dial_session(&self, session: &str) -> Result<SessionSocket, CentralError> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let path = format!("/agent/v1/sessions/{session}");
        let url = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}{path}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}{path}")
        } else {
            return Err(CentralError::Identity(format!("bad central URL {:?}", self.base)));
        };
        let mut request = url
            .into_client_request()
            .map_err(|error| CentralError::Identity(format!("bad session URL: {error}")))?;
        for (name, value) in self.identity_headers("GET", &path, &[]).await? {
            let value = value
                .parse()
                .map_err(|_| CentralError::Identity(format!("header {name} is not valid")))?;
            request.headers_mut().insert(name, value);
        }
        let config =
            tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024);
        // Keystrokes are small frames: no Nagle delay on them.
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        match tokio::time::timeout(REQUEST_TIMEOUT, connect).await {
            Ok(Ok((socket, _))) => Ok(socket),
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => Err(CentralError::Rejected {
                status: response.status().as_u16(),
                message: "central refused the session".to_owned(),
            }),
            Ok(Err(error)) => Err(CentralError::Unreachable(crate::error_chain(&error))),
            Err(_) => Err(CentralError::Unreachable("the session dial timed out".to_owned())),
        }
    }
}

fn http_client() -> Result<reqwest::Client, CentralError> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("janus-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| {
            CentralError::Identity(format!(
                "could not build the HTTP client: {}",
                crate::error_chain(&error)
            ))
        })
}

fn unreachable(error: reqwest::Error) -> CentralError {
    CentralError::Unreachable(crate::error_chain(&error))
}

/// Turns a non-success answer into an error. On a report, 410 and a 409 `lease_lost` (or a
/// bare 409) mean the lease was lost; a 409 `conflict` (a racing change) is worth a retry.
async fn refusal(response: reqwest::Response, report: bool) -> CentralError {
    let status = response.status().as_u16();
    let (code, message) = error_body(response.text().await.unwrap_or_default());
    match (status, code.as_deref()) {
        (401 | 403, _) => CentralError::Unauthorized(message),
        (409, Some("conflict")) => CentralError::Busy(message),
        (410, _) | (409, None | Some("lease_lost")) if report => CentralError::LeaseLost,
        _ => CentralError::Rejected { status, message },
    }
}

/// The code and message of an error body: central's `{"error": {"code", "message"}}`, a
/// plain `{"error": "…"}` or `{"message": "…"}`, or the text itself; shortened.
fn error_body(body: String) -> (Option<String>, String) {
    let json = serde_json::from_str::<serde_json::Value>(&body).ok();
    let field = |value: &serde_json::Value, key: &str| {
        value.get(key).and_then(|field| field.as_str()).map(str::to_owned)
    };
    let (code, text) = match &json {
        Some(value) => match value.get("error") {
            Some(error) if error.is_object() => (field(error, "code"), field(error, "message")),
            Some(_) => (None, field(value, "error")),
            None => (field(value, "code"), field(value, "message")),
        },
        None => (None, None),
    };
    let text = text.unwrap_or(body);
    let text = text.trim();
    if text.is_empty() {
        return (code, "(no message)".to_owned());
    }
    let text = match text.char_indices().nth(MAX_ERROR_BODY) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    };
    (code, text)
}

async fn read_secret_file(path: &Path, key: &str) -> Result<String, CentralError> {
    let text = tokio::fs::read_to_string(path).await.map_err(|error| {
        CentralError::Identity(format!("could not read `{key}` {}: {error}", path.display()))
    })?;
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Err(CentralError::Identity(format!(
            "`{key}` {} is empty",
            path.display()
        )));
    }
    Ok(text)
}

/// The key from `keyFile`, or a new one enrolled with the join token.
async fn load_or_enroll(
    config: &AgentConfig,
    http: &reqwest::Client,
    base: &str,
    cluster: &str,
) -> Result<SigningKey, CentralError> {
    let key_path = PathBuf::from(config.key_file.trim());
    if key_path.as_os_str().is_empty() {
        return Err(CentralError::Identity(
            "`agent.keyFile` is empty; give the agent a writable path for its key (auth: enrollment)."
                .to_owned(),
        ));
    }
    match tokio::fs::read_to_string(&key_path).await {
        Ok(text) => parse_key(&text).ok_or_else(|| {
            CentralError::Identity(format!(
                "the key file {} does not hold an agent key; restore it, or remove it and enroll again \
                 with a new join token",
                key_path.display()
            ))
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            enroll(config, http, base, cluster, &key_path).await
        }
        Err(error) => Err(CentralError::Identity(format!(
            "could not read the key file {}: {error}",
            key_path.display()
        ))),
    }
}

async fn enroll(
    config: &AgentConfig,
    http: &reqwest::Client,
    base: &str,
    cluster: &str,
    key_path: &Path,
) -> Result<SigningKey, CentralError> {
    let join_token_file = config.join_token_file.trim();
    if join_token_file.is_empty() {
        return Err(CentralError::Identity(format!(
            "there is no key at {} and `agent.joinTokenFile` is empty; create a join token for cluster \
             {cluster} and mount it",
            key_path.display()
        )));
    }
    let join_token = read_secret_file(Path::new(join_token_file), "agent.joinTokenFile").await?;
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    // Written beside the key file first, so a read-only or missing directory fails before
    // the single-use join token is spent; renamed into place only after central accepted.
    let staged = stage_key(key_path, &key)?;
    let enrollment = Enrollment {
        cluster: cluster.to_owned(),
        public_key: encode_public_key(&key.verifying_key()),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let answer = http
        .post(format!("{base}/agent/v1/enroll"))
        .bearer_auth(join_token)
        .json(&enrollment)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await;
    let outcome = match answer {
        Err(error) => Err(unreachable(error)),
        Ok(response) if response.status() == StatusCode::OK => Ok(()),
        Ok(response) => Err(match refusal(response, false).await {
            CentralError::Unauthorized(message) => CentralError::Unauthorized(format!(
                "the join token was refused (expired, already used, or for another cluster): {message}"
            )),
            other => other,
        }),
    };
    match outcome {
        Ok(()) => {
            std::fs::rename(&staged, key_path).map_err(|error| {
                CentralError::Identity(format!(
                    "enrolled, but could not move the key into {}: {error}; the staged key is at {}",
                    key_path.display(),
                    staged.display()
                ))
            })?;
            tracing::info!(cluster, key_file = %key_path.display(), "enrolled with central");
            Ok(key)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&staged);
            Err(error)
        }
    }
}

/// Writes the key, mode 0600, to `<key file>.enrolling`; returns that path.
fn stage_key(key_path: &Path, key: &SigningKey) -> Result<PathBuf, CentralError> {
    use std::os::unix::fs::OpenOptionsExt as _;

    let mut staged = key_path.as_os_str().to_owned();
    staged.push(".enrolling");
    let staged = PathBuf::from(staged);
    let failed = |error: std::io::Error| {
        CentralError::Identity(format!(
            "could not write the agent key next to {}: {error}; make its directory writable",
            key_path.display()
        ))
    };
    if let Some(parent) = key_path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    match std::fs::remove_file(&staged) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(failed(error)),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&staged)
        .map_err(failed)?;
    let encoded = URL_SAFE_NO_PAD.encode(key.to_bytes());
    file.write_all(format!("{encoded}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    Ok(staged)
}

/// A key file holds the 32-byte Ed25519 seed, base64url without padding.
fn parse_key(text: &str) -> Option<SigningKey> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(text.trim()).ok()?.try_into().ok()?;
    Some(SigningKey::from_bytes(&bytes))
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn error_bodies_are_read_and_shortened() {
        assert_eq!(
            error_body(r#"{"error":{"code":"lease_lost","message":"The lease expired."}}"#.to_owned()),
            (Some("lease_lost".to_owned()), "The lease expired.".to_owned())
        );
        assert_eq!(
            error_body(r#"{"error":"unknown agent"}"#.to_owned()),
            (None, "unknown agent".to_owned())
        );
        assert_eq!(error_body(" plain \n".to_owned()), (None, "plain".to_owned()));
        assert_eq!(error_body(String::new()), (None, "(no message)".to_owned()));
        let (_, long) = error_body("é".repeat(2000));
        assert_eq!(long.chars().count(), MAX_ERROR_BODY + 1);
    }

    #[test]
    fn a_key_file_round_trips() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let text = format!("{}\n", URL_SAFE_NO_PAD.encode(key.to_bytes()));
        assert_eq!(parse_key(&text).unwrap().to_bytes(), key.to_bytes());
        assert!(parse_key("not a key").is_none());
        assert!(parse_key("").is_none());
    }

    #[test]
    fn debug_shows_no_private_key() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let printed = format!("{:?}", Identity::Signed(key.clone()));
        assert!(!printed.contains(&URL_SAFE_NO_PAD.encode(key.to_bytes())));
        assert!(printed.contains(&encode_public_key(&key.verifying_key())));
    }
}
