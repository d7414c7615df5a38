//! `auth.mode: github` — GitHub OAuth (the `oauth2` crate; GitHub has no OpenID discovery or ID
//! token): authorize with PKCE and state, exchange the code, then `GET {apiBaseUrl}/user` and
//! `GET {apiBaseUrl}/user/emails`, and sign in with the email that is **primary and verified**.
//! `webBaseUrl` and `apiBaseUrl` come from configuration so GitHub Enterprise (or the fake in
//! `fixtures/`) can stand in. GitHub gives no groups here, so approver groups do not apply.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

use super::flow::{Identity, PendingLogin, SignInError, check_domain};
use crate::AppState;
use janus_core::domain::Principal;

#[derive(Debug, Deserialize)]
struct GithubEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

#[derive(Debug, Deserialize)]
struct GithubUser {
    id: u64,
    #[serde(default)]
    login: String,
}

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

type Client = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn client(state: &AppState) -> Result<Client, SignInError> {
    let settings = &state.config.auth.github;
    let web = base(&settings.web_base_url);
    let invalid = |error: url::ParseError| SignInError::ProviderUnavailable(error.to_string());
    Ok(BasicClient::new(ClientId::new(settings.client_id.clone()))
        .set_client_secret(ClientSecret::new(settings.client_secret.expose().to_owned()))
        .set_auth_uri(AuthUrl::new(format!("{web}/login/oauth/authorize")).map_err(invalid)?)
        .set_token_uri(TokenUrl::new(format!("{web}/login/oauth/access_token")).map_err(invalid)?)
        .set_redirect_uri(
            RedirectUrl::new(format!("{}/auth/callback", base(&state.config.webui.base_url)))
                .map_err(invalid)?,
        ))
}

/// Starts a sign-in: the authorization URL and the pending login to keep.
pub fn start(state: &AppState, next: &str) -> Result<(String, PendingLogin), SignInError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client(state)?
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read:user".to_owned()))
        .add_scope(Scope::new("user:email".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let pending = PendingLogin {
        kind: "github".to_owned(),
        state: csrf.secret().clone(),
        nonce: String::new(),
        pkce_verifier: verifier.secret().clone(),
        next: next.to_owned(),
    };
    Ok((url.to_string(), pending))
}

/// Finishes a sign-in at the callback.
pub async fn finish(state: &AppState, pending: &PendingLogin, code: &str) -> Result<Identity, SignInError> {
    let settings = &state.config.auth.github;
    let tokens = client(state)?
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
        .request_async(&state.http)
        .await
        .map_err(|error| SignInError::CodeRejected(error.to_string()))?;
    let token = tokens.access_token().secret();
    let api = base(&settings.api_base_url);
    let user: GithubUser = get(state, &format!("{api}/user"), token).await?;
    let emails: Vec<GithubEmail> = get(state, &format!("{api}/user/emails"), token).await?;
    let primary = emails
        .iter()
        .find(|email| email.primary)
        .ok_or(SignInError::NoEmail)?;
    if !primary.verified {
        tracing::info!(github_user = user.id, login = %user.login, "GitHub primary email not verified");
        return Err(SignInError::EmailNotVerified);
    }
    let principal = Principal::parse(&primary.email).map_err(|_| SignInError::NoEmail)?;
    check_domain(&principal, &settings.allowed_domains)?;
    Ok(Identity {
        principal,
        groups: Vec::new(),
        method: "github",
    })
}

async fn get<T: serde::de::DeserializeOwned>(
    state: &AppState,
    url: &str,
    token: &str,
) -> Result<T, SignInError> {
    let unavailable =
        |error: reqwest::Error| SignInError::ProviderUnavailable(format!("GitHub API: {error}"));
    let response = state
        .http
        .get(url)
        .bearer_auth(token)
        .header("Accept", "application/vnd.github+json")
        .header("User-Agent", "janus")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .send()
        .await
        .map_err(unavailable)?;
    if !response.status().is_success() {
        return Err(SignInError::ProviderRefused(format!(
            "GitHub API answered {}",
            response.status()
        )));
    }
    response.json().await.map_err(unavailable)
}
