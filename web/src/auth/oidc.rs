//! `auth.mode: oidc` — OpenID Connect with the `openidconnect` crate: discovery (cached for an
//! hour), authorization code + PKCE (S256) + nonce + state, ID-token verification on Janus's
//! clock, userinfo, `email_verified` required, `allowedDomains`, and the optional groups claim.
//!
//! Providers: `google`, `entra` (`tenantId`), `okta` and `custom` (`issuerUrl`), `gitlab`
//! (`issuerUrl`, default gitlab.com) — `OidcConfig::effective_issuer_url` decides the issuer.
//! Scopes: `openid email profile`, plus `groups` for okta, custom and gitlab when any cluster has
//! `approverGroups` (Google and Entra refuse unknown scopes; Entra sends configured groups anyway).
//! Email and `email_verified` are read from the ID token and, where the provider has one, the
//! userinfo endpoint (whose subject must match the ID token's). Entra rarely sends
//! `email_verified`; its `xms_edov` ("email domain owner verified") claim counts instead.

use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IdToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::flow::{Identity, PendingLogin, SignInError, check_domain, groups_from_claim};
use crate::AppState;
use janus_core::config::OidcProvider;
use janus_core::domain::Principal;

/// Provider metadata (endpoints and keys) is fetched again after this.
const DISCOVERY_TTL_SECONDS: i64 = 3_600;

/// Claims beyond the standard ones (the groups claim, Entra's `xms_edov`), kept as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ExtraClaims(serde_json::Map<String, serde_json::Value>);
impl AdditionalClaims for ExtraClaims {}

type ExtraIdToken =
    IdToken<ExtraClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// The provider's discovered metadata, cached.
#[derive(Debug, Default)]
pub struct Discovery {
    cached: Mutex<Option<(CoreProviderMetadata, DateTime<Utc>)>>,
}

async fn metadata(state: &AppState, fresh: bool) -> Result<CoreProviderMetadata, SignInError> {
    let now = state.workflow.clock().now();
    let mut cached = state.auth.discovery.cached.lock().await;
    if !fresh
        && let Some((metadata, fetched_at)) = cached.as_ref()
        && now - *fetched_at < TimeDelta::seconds(DISCOVERY_TTL_SECONDS)
    {
        return Ok(metadata.clone());
    }
    let issuer = state
        .config
        .auth
        .oidc
        .effective_issuer_url()
        .ok_or_else(|| SignInError::ProviderUnavailable("no issuer configured".to_owned()))?;
    let issuer =
        IssuerUrl::new(issuer).map_err(|error| SignInError::ProviderUnavailable(error.to_string()))?;
    let metadata = CoreProviderMetadata::discover_async(issuer, &state.http)
        .await
        .map_err(|error| SignInError::ProviderUnavailable(format!("discovery failed: {error}")))?;
    *cached = Some((metadata.clone(), now));
    Ok(metadata)
}

fn redirect_url(state: &AppState) -> Result<RedirectUrl, SignInError> {
    let url = format!(
        "{}/auth/callback",
        state.config.webui.base_url.trim_end_matches('/')
    );
    RedirectUrl::new(url).map_err(|error| SignInError::ProviderUnavailable(error.to_string()))
}

fn client_secret(state: &AppState) -> Option<ClientSecret> {
    let secret = &state.config.auth.oidc.client_secret;
    (!secret.is_empty()).then(|| ClientSecret::new(secret.expose().to_owned()))
}

/// Starts a sign-in: returns the provider's authorization URL and the pending login to keep.
pub async fn start(state: &AppState, next: &str) -> Result<(String, PendingLogin), SignInError> {
    let settings = &state.config.auth.oidc;
    let client = CoreClient::from_provider_metadata(
        metadata(state, false).await?,
        ClientId::new(settings.client_id.clone()),
        client_secret(state),
    )
    .set_redirect_uri(redirect_url(state)?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("profile".to_owned()))
        .set_pkce_challenge(challenge);
    let wants_groups = !state.workflow.policy().approver_groups.is_empty();
    if wants_groups
        && matches!(
            settings.provider,
            OidcProvider::Okta | OidcProvider::Custom | OidcProvider::Gitlab
        )
    {
        request = request.add_scope(Scope::new("groups".to_owned()));
    }
    let (url, csrf, nonce) = request.url();
    let pending = PendingLogin {
        kind: "oidc".to_owned(),
        state: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        next: next.to_owned(),
    };
    Ok((url.to_string(), pending))
}

/// Finishes a sign-in at the callback: exchanges the code, verifies the ID token, reads
/// userinfo, and checks the email.
pub async fn finish(
    state: &AppState,
    pending: &PendingLogin,
    code: &str,
    issuer_param: Option<&str>,
) -> Result<Identity, SignInError> {
    let settings = &state.config.auth.oidc;
    let metadata = metadata(state, false).await?;
    if let Some(issuer) = issuer_param
        && issuer.trim_end_matches('/') != metadata.issuer().as_str().trim_end_matches('/')
    {
        return Err(SignInError::WrongIssuer);
    }
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(settings.client_id.clone()),
        client_secret(state),
    )
    .set_redirect_uri(redirect_url(state)?);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|error| SignInError::ProviderUnavailable(error.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
        .request_async(&state.http)
        .await
        .map_err(|error| SignInError::CodeRejected(error.to_string()))?;
    let raw = tokens
        .id_token()
        .ok_or_else(|| SignInError::InvalidIdToken("no ID token in the token response".to_owned()))?
        .to_string();
    let id_token: ExtraIdToken = raw
        .parse()
        .map_err(|error| SignInError::InvalidIdToken(format!("unreadable ID token: {error}")))?;
    let clock = state.workflow.clock().clone();
    let verifier = client.id_token_verifier().set_time_fn(move || clock.now());
    let nonce = Nonce::new(pending.nonce.clone());
    let claims = id_token
        .claims(&verifier, &nonce)
        .map_err(|error| SignInError::InvalidIdToken(error.to_string()))?;

    let mut email = claims.email().map(|email| email.as_str().to_owned());
    let mut verified = claims.email_verified();
    let mut extra = claims.additional_claims().0.clone();
    if let Ok(request) = client.user_info(tokens.access_token().clone(), Some(claims.subject().clone())) {
        let info: UserInfoClaims<ExtraClaims, CoreGenderClaim> = request
            .request_async(&state.http)
            .await
            .map_err(|error| SignInError::ProviderUnavailable(format!("userinfo failed: {error}")))?;
        if let Some(info_email) = info.email() {
            email = Some(info_email.as_str().to_owned());
            verified = info.email_verified();
        }
        for (name, value) in &info.additional_claims().0 {
            extra.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
    let email = email.ok_or(SignInError::NoEmail)?;
    let verified = verified.unwrap_or(false)
        || (settings.provider == OidcProvider::Entra
            && extra.get("xms_edov").and_then(serde_json::Value::as_bool) == Some(true));
    if !verified {
        return Err(SignInError::EmailNotVerified);
    }
    let principal = Principal::parse(&email).map_err(|_| SignInError::NoEmail)?;
    check_domain(&principal, &settings.allowed_domains)?;
    let groups = groups_from_claim(extra.get(&settings.groups_claim));
    Ok(Identity {
        principal,
        groups,
        method: "oidc",
    })
}
