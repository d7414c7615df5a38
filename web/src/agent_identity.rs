//! Who is calling the agent API (DESIGN §5.2). No shared secrets, no stored kubeconfigs.
//!
//! Each configured cluster names how its agent proves itself (`clusters[].agent.auth`):
//! - `enrollment`: requests are signed with the Ed25519 key pinned at enrollment (a
//!   single-use, expiring join token). The signature covers method, path, cluster,
//!   timestamp and body hash; the timestamp must be within 5 minutes of central's clock.
//! - `tokenreview`: the agent sends its projected service-account token (audience
//!   `janus`); central asks its own cluster's API server (TokenReview) who that is.
//! - `issuer`: the same token, verified against the cluster's service-account issuer
//!   (OIDC discovery + JWKS), as EKS, GKE and AKS publish it.
//!
//! In both token modes the token's subject must be the configured ServiceAccount
//! (`clusters[].agent.serviceAccount`, default `janus:janus-agent`). Every refusal is a
//! 401 with a sentence and an `agent.rejected` audit event. Tokens and signatures never
//! reach a log or a response.
//!
//! The embedded agent of `janus serve` ([`EmbeddedAgent`]) signs like an enrolled agent, with
//! a key made in memory at start; it is accepted for its one cluster on the session routes
//! only ([`authenticate_session`]).

use janus_core::domain::AuditAction;
use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, Method, Uri, header};
use janus_core::agent_protocol::{
    self, HEADER_CLUSTER, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_CLOCK_SKEW_SECONDS,
};
use janus_core::config::{AgentAuthMode, ClusterAgentConfig};
use janus_core::domain::NewEvent;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::{ApiError, AppState};

/// A verified agent: it may act for this cluster only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    pub cluster: String,
}

/// The embedded agent of this process: accepted for `cluster`, on the session routes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EmbeddedAgent {
    pub(crate) cluster: String,
    pub(crate) public_key: ed25519_dalek::VerifyingKey,
}

/// Why an agent was refused (audited with `code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

fn reject(code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        code,
        message: message.into(),
    }
}

/// Authenticates a request to `/agent/v1/*` (except enrollment). Refusals are audited.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<AgentIdentity, ApiError> {
    let claimed = header_text(headers, HEADER_CLUSTER).unwrap_or_default();
    match verify(state, method, uri, headers, body, &claimed).await {
        Ok(identity) => Ok(identity),
        Err(rejection) => Err(audit_rejection(state, &claimed, rejection).await),
    }
}

/// Authenticates a request to the session routes (`/agent/v1/sessions`,
/// `/agent/v1/sessions/{sid}`): a request signed with the embedded agent's key for the
/// embedded agent's cluster, or any agent [`authenticate`] accepts. A request claiming another
/// cluster gets exactly [`authenticate`]; one claiming the embedded cluster whose signature
/// does not verify under the embedded key gets [`authenticate`]'s checks too (another agent of
/// that cluster may be configured), and when no agent is enrolled there, the refusal names what
/// failed against the embedded key (`bad_signature`, `stale_timestamp`, …).
pub async fn authenticate_session(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<AgentIdentity, ApiError> {
    let claimed = header_text(headers, HEADER_CLUSTER).unwrap_or_default();
    let Some(embedded) = state
        .embedded_agent
        .as_ref()
        .filter(|embedded| !embedded.cluster.is_empty() && embedded.cluster == claimed)
    else {
        return authenticate(state, method, uri, headers, &[]).await;
    };
    let embedded_refusal = match signed_by(state, method, uri, headers, &[], &claimed, &embedded.public_key) {
        Ok(()) => return Ok(AgentIdentity { cluster: claimed }),
        Err(rejection) => rejection,
    };
    match verify(state, method, uri, headers, &[], &claimed).await {
        Ok(identity) => Ok(identity),
        Err(rejection) => {
            let rejection = if rejection.code == "not_enrolled" {
                embedded_refusal
            } else {
                rejection
            };
            Err(audit_rejection(state, &claimed, rejection).await)
        }
    }
}

/// Audits a refusal and turns it into the 401 the agent sees.
pub async fn audit_rejection(state: &AppState, claimed_cluster: &str, rejection: Rejection) -> ApiError {
    tracing::warn!(
        cluster = claimed_cluster,
        reason = rejection.code,
        "agent rejected"
    );
    let event = NewEvent {
        action: AuditAction::AgentRejected,
        actor: if claimed_cluster.is_empty() {
            "agent:unknown".to_owned()
        } else {
            format!("agent:{claimed_cluster}")
        },
        request_id: None,
        cluster: (!claimed_cluster.is_empty()).then(|| claimed_cluster.to_owned()),
        details: json!({ "reason": rejection.code, "message": rejection.message }),
    };
    crate::audit::record(state, event, "an agent rejection").await;
    ApiError::unauthorized(rejection.code, rejection.message)
}

async fn verify(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    cluster: &str,
) -> Result<AgentIdentity, Rejection> {
    if cluster.is_empty() {
        return Err(reject(
            "no_cluster",
            "Say which cluster you are the agent of (x-janus-cluster).",
        ));
    }
    let Some(settings) = state.config.cluster(cluster).map(|cluster| cluster.agent.clone()) else {
        return Err(reject(
            "unknown_cluster",
            format!("Cluster `{cluster}` is not configured in Janus."),
        ));
    };
    match settings.auth {
        AgentAuthMode::Enrollment => verify_signature(state, method, uri, headers, body, cluster).await,
        AgentAuthMode::Tokenreview | AgentAuthMode::Issuer => {
            let token = bearer(headers)
                .ok_or_else(|| reject("no_token", "Send the agent's service-account token."))?;
            if matches!(settings.auth, AgentAuthMode::Tokenreview) {
                token_review(state, &settings, &token).await?;
            } else {
                verify_issuer_token(state, &settings, &token).await?;
            }
            Ok(AgentIdentity {
                cluster: cluster.to_owned(),
            })
        }
    }
}

async fn verify_signature(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    cluster: &str,
) -> Result<AgentIdentity, Rejection> {
    // An unsigned request is told so before any key lookup.
    signature_headers(headers)?;
    let stored = state
        .workflow
        .agent_public_key(cluster)
        .await
        .map_err(|_| reject("unavailable", "Central cannot check agent keys right now."))?
        .ok_or_else(|| {
            reject(
                "not_enrolled",
                format!("No agent is enrolled for `{cluster}`; enroll with a join token."),
            )
        })?;
    let key = agent_protocol::decode_public_key(&stored).ok_or_else(|| {
        reject(
            "bad_pinned_key",
            "The pinned agent key is unreadable; enroll again.",
        )
    })?;
    signed_by(state, method, uri, headers, body, cluster, &key)?;
    Ok(AgentIdentity {
        cluster: cluster.to_owned(),
    })
}

/// Checks the request's timestamp (within 5 minutes of central's clock) and its signature
/// under `key` for `cluster`.
fn signed_by(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    cluster: &str,
    key: &ed25519_dalek::VerifyingKey,
) -> Result<(), Rejection> {
    let (timestamp, signature) = signature_headers(headers)?;
    let now = state.workflow.clock().now().timestamp();
    if (now - timestamp).abs() > MAX_CLOCK_SKEW_SECONDS {
        return Err(reject(
            "stale_timestamp",
            "The request's timestamp is more than 5 minutes off central's clock.",
        ));
    }
    let path_and_query = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let input = agent_protocol::signing_input(method.as_str(), path_and_query, cluster, timestamp, body);
    if !agent_protocol::verify(key, &input, &signature) {
        return Err(reject(
            "bad_signature",
            "The request's signature does not match the agent's key.",
        ));
    }
    Ok(())
}

/// The timestamp and signature of a signed request.
fn signature_headers(headers: &HeaderMap) -> Result<(i64, String), Rejection> {
    let timestamp: i64 = header_text(headers, HEADER_TIMESTAMP)
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| reject("no_timestamp", "Sign the request (x-janus-timestamp is missing)."))?;
    let signature = header_text(headers, HEADER_SIGNATURE)
        .ok_or_else(|| reject("no_signature", "Sign the request (x-janus-signature is missing)."))?;
    Ok((timestamp, signature))
}

fn expected_subject(settings: &ClusterAgentConfig) -> Result<String, Rejection> {
    let (namespace, name) = settings.service_account.split_once(':').ok_or_else(|| {
        reject(
            "misconfigured",
            "clusters[].agent.serviceAccount must be namespace:name.",
        )
    })?;
    Ok(format!("system:serviceaccount:{namespace}:{name}"))
}

/// Asks the API server of central's own cluster who the token belongs to.
async fn token_review(state: &AppState, settings: &ClusterAgentConfig, token: &str) -> Result<(), Rejection> {
    let (api_server, credential) = own_cluster(settings)
        .map_err(|message| reject("misconfigured", format!("TokenReview is not possible: {message}")))?;
    let review = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": { "token": token, "audiences": [settings.audience] },
    });
    let response = state
        .http
        .post(format!(
            "{}/apis/authentication.k8s.io/v1/tokenreviews",
            api_server.trim_end_matches('/')
        ))
        .bearer_auth(credential)
        .json(&review)
        .send()
        .await
        .map_err(|_| {
            reject(
                "tokenreview_unreachable",
                "Central could not reach its API server for TokenReview.",
            )
        })?;
    if !response.status().is_success() {
        return Err(reject(
            "tokenreview_failed",
            format!(
                "The API server refused the TokenReview ({}).",
                response.status().as_u16()
            ),
        ));
    }
    #[derive(Deserialize)]
    struct Review {
        status: Option<ReviewStatus>,
    }
    #[derive(Deserialize)]
    struct ReviewStatus {
        #[serde(default)]
        authenticated: bool,
        user: Option<ReviewUser>,
        #[serde(default)]
        audiences: Vec<String>,
    }
    #[derive(Deserialize)]
    struct ReviewUser {
        #[serde(default)]
        username: String,
    }
    let review: Review = response
        .json()
        .await
        .map_err(|_| reject("tokenreview_failed", "The TokenReview answer was unreadable."))?;
    let status = review
        .status
        .ok_or_else(|| reject("token_invalid", "The token was not accepted."))?;
    if !status.authenticated {
        return Err(reject(
            "token_invalid",
            "The API server did not authenticate the token.",
        ));
    }
    if !status
        .audiences
        .iter()
        .any(|audience| audience == &settings.audience)
    {
        return Err(reject(
            "wrong_audience",
            format!("The token is not meant for `{}`.", settings.audience),
        ));
    }
    let username = status.user.map(|user| user.username).unwrap_or_default();
    if username != expected_subject(settings)? {
        return Err(reject(
            "wrong_service_account",
            "The token belongs to another ServiceAccount than this cluster's agent.",
        ));
    }
    Ok(())
}

/// The API server and bearer token central uses for its own cluster.
fn own_cluster(settings: &ClusterAgentConfig) -> Result<(String, String), String> {
    let api_server = if settings.api_server_url.is_empty() {
        let host =
            std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| "central is not running in a cluster")?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".to_owned());
        format!("https://{host}:{port}")
    } else {
        settings.api_server_url.clone()
    };
    let token_file = if settings.token_file.is_empty() {
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    } else {
        settings.token_file.as_str()
    };
    let token = std::fs::read_to_string(token_file).map_err(|_| format!("cannot read {token_file}"))?;
    Ok((api_server, token.trim().to_owned()))
}

/// JWKS per issuer, fetched on first use and again when a token names an unknown key.
#[derive(Debug, Clone, Default)]
pub struct IssuerCache {
    keys: Arc<Mutex<HashMap<String, jsonwebtoken::jwk::JwkSet>>>,
}

async fn fetch_jwks(state: &AppState, issuer: &str) -> Result<jsonwebtoken::jwk::JwkSet, Rejection> {
    let unreachable = || {
        reject(
            "issuer_unreachable",
            "Central could not read the cluster's service-account issuer.",
        )
    };
    #[derive(Deserialize)]
    struct Discovery {
        issuer: String,
        jwks_uri: String,
    }
    let discovery: Discovery = state
        .http
        .get(format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ))
        .send()
        .await
        .map_err(|_| unreachable())?
        .json()
        .await
        .map_err(|_| unreachable())?;
    if discovery.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(reject(
            "issuer_mismatch",
            "The issuer's discovery document names another issuer.",
        ));
    }
    state
        .http
        .get(&discovery.jwks_uri)
        .send()
        .await
        .map_err(|_| unreachable())?
        .json()
        .await
        .map_err(|_| unreachable())
}

async fn verify_issuer_token(
    state: &AppState,
    settings: &ClusterAgentConfig,
    token: &str,
) -> Result<(), Rejection> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    let invalid = || {
        reject(
            "token_invalid",
            "The service-account token is not valid for this cluster.",
        )
    };
    let issuer = settings.issuer_url.trim_end_matches('/').to_owned();
    let header = decode_header(token).map_err(|_| invalid())?;
    if !matches!(
        header.alg,
        Algorithm::RS256 | Algorithm::ES256 | Algorithm::ES384 | Algorithm::PS256
    ) {
        return Err(invalid());
    }
    let kid = header.kid.clone().unwrap_or_default();
    let mut cache = state.issuers.keys.lock().await;
    let known = cache.get(&issuer).is_some_and(|set| set.find(&kid).is_some());
    if !known {
        let fresh = fetch_jwks(state, &issuer).await?;
        cache.insert(issuer.clone(), fresh);
    }
    let jwk = cache
        .get(&issuer)
        .and_then(|set| set.find(&kid))
        .cloned()
        .ok_or_else(invalid)?;
    drop(cache);
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid())?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer.as_str(), &format!("{issuer}/")]);
    validation.set_audience(&[settings.audience.as_str()]);
    // Expiry is checked below against central's clock, not the library's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    #[derive(Deserialize)]
    struct Claims {
        sub: String,
        exp: i64,
        #[serde(default)]
        nbf: Option<i64>,
    }
    let claims = decode::<Claims>(token, &key, &validation)
        .map_err(|_| invalid())?
        .claims;
    let now = state.workflow.clock().now().timestamp();
    if claims.exp <= now || claims.nbf.is_some_and(|nbf| nbf > now + 60) {
        return Err(reject("token_expired", "The service-account token has expired."));
    }
    if claims.sub != expected_subject(settings)? {
        return Err(reject(
            "wrong_service_account",
            "The token belongs to another ServiceAccount than this cluster's agent.",
        ));
    }
    Ok(())
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.trim().to_owned())
}

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    (!token.is_empty()).then(|| token.to_owned())
}
