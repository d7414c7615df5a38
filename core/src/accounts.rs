//! Who is signed in: dashboard sessions, personal API tokens, the local development admin, spent
//! signed links and sign-ins in progress (DESIGN §6.2, §6.3).
//!
//! [`Accounts`] is the service the web crate calls (it never writes SQL). It makes every secret
//! (32 random bytes, base64url), hands it out once, and stores only its SHA-256; lookups hash what
//! the caller presents and compare in the database, so a stored row never reveals a usable secret.
//! Expiry and revocation are checked against the [`Clock`], never the system time.
//!
//! Decisions:
//! - **Sessions last [`SESSION_LIFETIME`]** from sign-in (absolute, not sliding) unless the caller
//!   asks for less (a session made from a signed link ends when the link would have). `last_seen`
//!   is refreshed at most once a minute, so a busy page does not write on every request.
//! - **A session's CSRF token** is derived from its secret ([`csrf_token`]): bound to that one
//!   session, unguessable without the cookie, and nothing more to store.
//! - **API tokens** (`jat_…`) expire (default 30 days, at most a year) and are listed and revoked
//!   by their owner. Events: `auth.signed_in`, `auth.signed_out`, `auth.signed_out_everywhere`,
//!   `api_token.created`, `api_token.revoked`, `auth.local_password_set`, `link.redeemed`, each
//!   committed with the change it records.

use crate::domain::AuditAction;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use rand::RngCore as _;
use serde_json::json;

use crate::clock::Clock;
use crate::digest::{hex, sha256_hex};
use crate::domain::{NewEvent, Principal, RequestId};
use crate::secret::Secret;
use crate::store::{NewApiToken, NewSession, Store, StoreError};
use crate::workflow::Workflow;

/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3_600);
/// API tokens last this long unless their owner picks otherwise.
pub const DEFAULT_API_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 86_400);
/// No API token lives longer than this.
pub const MAX_API_TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 86_400);
/// A sign-in started at the identity provider must come back within this.
pub const LOGIN_FLOW_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Ended sessions and tokens stay listed on their owner's page this long, then are purged.
pub const ENDED_RETENTION: Duration = Duration::from_secs(7 * 86_400);
/// The prefix of every personal API token, so leaked ones are easy to find.
pub const API_TOKEN_PREFIX: &str = "jat_";

const TOUCH_INTERVAL_SECONDS: i64 = 60;
const MAX_TOKEN_NAME_CHARS: usize = 100;
const MAX_USER_AGENT_CHARS: usize = 300;

pub use crate::store::{ApiTokenRecord, SessionRecord};

/// Where a sign-in came from, for the user's list of sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub user_agent: String,
    pub ip: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("A token name is required (at most {MAX_TOKEN_NAME_CHARS} characters).")]
    InvalidTokenName,
    #[error("A token must be valid for between one minute and 365 days.")]
    InvalidTokenLifetime,
    #[error("The database is unavailable; try again shortly.")]
    Store(#[from] StoreError),
}

/// The sign-in service; see the module documentation.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl Accounts {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Accounts {
        Accounts { store, clock }
    }

    /// The accounts of the workflow's database, on the workflow's clock.
    pub fn for_workflow(workflow: &Workflow) -> Accounts {
        Accounts::new(workflow.store().clone(), workflow.clock().clone())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Starts a session for `principal`. Returns the cookie secret (shown once) and the record.
    /// `lifetime` caps [`SESSION_LIFETIME`].
    pub async fn sign_in(
        &self,
        principal: &Principal,
        groups: &[String],
        method: &str,
        client: &ClientInfo,
        lifetime: Option<Duration>,
    ) -> Result<(Secret, SessionRecord), AccountsError> {
        let now = self.clock.now();
        let lifetime = lifetime.map_or(SESSION_LIFETIME, |asked| asked.min(SESSION_LIFETIME));
        let expires_at = now + TimeDelta::from_std(lifetime).unwrap_or(TimeDelta::hours(12));
        let secret = random_secret("");
        let id = hex(&random_bytes::<12>());
        let user_agent: String = client.user_agent.chars().take(MAX_USER_AGENT_CHARS).collect();
        let session = NewSession {
            id: &id,
            token_hash: &sha256_hex(secret.expose().as_bytes()),
            principal: principal.as_str(),
            groups,
            method,
            expires_at,
            user_agent: &user_agent,
            ip: &client.ip,
        };
        let event = person_event(
            AuditAction::AuthSignedIn,
            principal,
            json!({ "method": method, "session": id, "ip": client.ip }),
        );
        self.store.create_session(&session, &event, now).await?;
        let record = SessionRecord {
            id,
            principal: principal.clone(),
            groups: groups.to_vec(),
            method: method.to_owned(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            revoked_at: None,
            user_agent,
            ip: client.ip.clone(),
        };
        Ok((secret, record))
    }

    /// The live session whose cookie secret is `secret`; `None` for an unknown, revoked or
    /// expired one.
    pub async fn session(&self, secret: &str) -> Result<Option<SessionRecord>, AccountsError> {
        if secret.is_empty() || secret.len() > 200 {
            return Ok(None);
        }
        let now = self.clock.now();
        let Some(mut session) = self
            .store
            .session_by_token(&sha256_hex(secret.as_bytes()))
            .await?
        else {
            return Ok(None);
        };
        if !session.is_live(now) {
            return Ok(None);
        }
        if (now - session.last_seen_at).num_seconds() >= TOUCH_INTERVAL_SECONDS {
            self.store.touch_session(&session.id, now).await?;
            session.last_seen_at = now;
        }
        Ok(Some(session))
    }

    /// `principal`'s sessions, newest first, including ended ones not yet purged.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<SessionRecord>, AccountsError> {
        Ok(self.store.sessions_of(principal.as_str()).await?)
    }

    /// Ends one of `principal`'s sessions. False when it is not theirs or already ended.
    pub async fn sign_out(&self, principal: &Principal, session_id: &str) -> Result<bool, AccountsError> {
        let event = person_event(
            AuditAction::AuthSignedOut,
            principal,
            json!({ "session": session_id }),
        );
        let revoked = self
            .store
            .revoke_sessions(principal.as_str(), Some(session_id), &event, self.clock.now())
            .await?;
        Ok(revoked > 0)
    }

    /// Ends every live session of `principal`; returns how many.
    pub async fn sign_out_everywhere(&self, principal: &Principal) -> Result<u64, AccountsError> {
        let event = person_event(AuditAction::AuthSignedOutEverywhere, principal, json!({}));
        Ok(self
            .store
            .revoke_sessions(principal.as_str(), None, &event, self.clock.now())
            .await?)
    }

    /// Creates a personal API token. The secret is returned once and never stored.
    pub async fn create_api_token(
        &self,
        principal: &Principal,
        name: &str,
        lifetime: Option<Duration>,
    ) -> Result<(Secret, ApiTokenRecord), AccountsError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_TOKEN_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(AccountsError::InvalidTokenName);
        }
        let lifetime = lifetime.unwrap_or(DEFAULT_API_TOKEN_LIFETIME);
        if lifetime < Duration::from_secs(60) || lifetime > MAX_API_TOKEN_LIFETIME {
            return Err(AccountsError::InvalidTokenLifetime);
        }
        let now = self.clock.now();
        let expires_at = now + TimeDelta::from_std(lifetime).unwrap_or(TimeDelta::days(30));
        let secret = random_secret(API_TOKEN_PREFIX);
        let id = hex(&random_bytes::<12>());
        let token = NewApiToken {
            id: &id,
            token_hash: &sha256_hex(secret.expose().as_bytes()),
            principal: principal.as_str(),
            name,
            expires_at,
        };
        let event = person_event(
            AuditAction::ApiTokenCreated,
            principal,
            json!({ "token": id, "name": name, "expiresAt": crate::time::format_rfc3339(expires_at) }),
        );
        self.store.create_api_token(&token, &event, now).await?;
        let record = ApiTokenRecord {
            id,
            principal: principal.clone(),
            name: name.to_owned(),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        Ok((secret, record))
    }

    /// The live API token `secret`; `None` for an unknown, revoked or expired one.
    pub async fn api_token(&self, secret: &str) -> Result<Option<ApiTokenRecord>, AccountsError> {
        if !secret.starts_with(API_TOKEN_PREFIX) || secret.len() > 200 {
            return Ok(None);
        }
        let now = self.clock.now();
        let Some(mut token) = self
            .store
            .api_token_by_token(&sha256_hex(secret.as_bytes()))
            .await?
        else {
            return Ok(None);
        };
        if !token.is_live(now) {
            return Ok(None);
        }
        let stale = token
            .last_used_at
            .is_none_or(|last| (now - last).num_seconds() >= TOUCH_INTERVAL_SECONDS);
        if stale {
            self.store.touch_api_token(&token.id, now).await?;
            token.last_used_at = Some(now);
        }
        Ok(Some(token))
    }

    pub async fn api_tokens(&self, principal: &Principal) -> Result<Vec<ApiTokenRecord>, AccountsError> {
        Ok(self.store.api_tokens_of(principal.as_str()).await?)
    }

    /// Revokes one of `principal`'s tokens. False when it is not theirs or already revoked.
    pub async fn revoke_api_token(&self, principal: &Principal, id: &str) -> Result<bool, AccountsError> {
        let event = person_event(AuditAction::ApiTokenRevoked, principal, json!({ "token": id }));
        Ok(self
            .store
            .revoke_api_token(principal.as_str(), id, &event, self.clock.now())
            .await?)
    }

    /// The local admin's stored password hash (a PHC string), if one was set.
    pub async fn local_password_hash(&self, email: &Principal) -> Result<Option<String>, AccountsError> {
        Ok(self.store.local_credential(email.as_str()).await?)
    }

    /// Stores the local admin's password hash. With `replace` false, an existing one is kept and
    /// false is returned (first start only).
    pub async fn set_local_password_hash(
        &self,
        email: &Principal,
        password_hash: &str,
        replace: bool,
    ) -> Result<bool, AccountsError> {
        let event = NewEvent {
            action: AuditAction::AuthLocalPasswordSet,
            actor: "system".to_owned(),
            request_id: None,
            cluster: None,
            details: json!({ "email": email.as_str(), "replaced": replace }),
        };
        Ok(self
            .store
            .set_local_credential(email.as_str(), password_hash, replace, &event, self.clock.now())
            .await?)
    }

    /// Spends a signed link (`links.mode: link`): true the first time, false if it was used
    /// before. `signature` is the link's `sig`; only its hash is kept, until `expires_at`.
    pub async fn redeem_link(
        &self,
        signature: &str,
        request_id: &RequestId,
        principal: &Principal,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, AccountsError> {
        let event = NewEvent {
            action: AuditAction::LinkRedeemed,
            actor: principal.to_string(),
            request_id: Some(request_id.clone()),
            cluster: None,
            details: json!({ "mode": "link" }),
        };
        Ok(self
            .store
            .redeem_link(
                &sha256_hex(signature.as_bytes()),
                request_id.as_str(),
                principal.as_str(),
                expires_at,
                &event,
                self.clock.now(),
            )
            .await?)
    }

    /// Remembers a sign-in in progress (`data` is the caller's: state, nonce, PKCE verifier,
    /// where to go next). Returns the flow secret for the browser's cookie.
    pub async fn begin_login(&self, data: &str) -> Result<Secret, AccountsError> {
        let now = self.clock.now();
        let secret = random_secret("");
        let expires_at = now + TimeDelta::from_std(LOGIN_FLOW_LIFETIME).unwrap_or(TimeDelta::minutes(10));
        self.store
            .put_login_flow(&sha256_hex(secret.expose().as_bytes()), data, expires_at, now)
            .await?;
        Ok(secret)
    }

    /// Takes (once) the sign-in in progress for the browser's flow secret, unless it expired.
    pub async fn finish_login(&self, secret: &str) -> Result<Option<String>, AccountsError> {
        if secret.is_empty() || secret.len() > 200 {
            return Ok(None);
        }
        Ok(self
            .store
            .take_login_flow(&sha256_hex(secret.as_bytes()), self.clock.now())
            .await?)
    }

    /// Deletes expired sign-ins in progress, spent links past expiry, and sessions and tokens
    /// ended more than [`ENDED_RETENTION`] ago.
    pub async fn purge(&self) -> Result<u64, AccountsError> {
        let now = self.clock.now();
        let ended_before = now - TimeDelta::from_std(ENDED_RETENTION).unwrap_or(TimeDelta::days(7));
        Ok(self.store.purge_accounts(now, ended_before).await?)
    }
}

/// The CSRF token of the session whose cookie secret is `session_secret`.
pub fn csrf_token(session_secret: &str) -> String {
    sha256_hex(format!("janus-csrf\n{session_secret}").as_bytes())
}

/// A fresh random secret: `prefix` + base64url(32 bytes).
pub fn random_secret(prefix: &str) -> Secret {
    Secret::new(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    ))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

fn person_event(action: AuditAction, principal: &Principal, details: serde_json::Value) -> NewEvent {
    NewEvent {
        action,
        actor: principal.to_string(),
        request_id: None,
        cluster: None,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_prefixed() {
        let one = random_secret(API_TOKEN_PREFIX);
        let two = random_secret(API_TOKEN_PREFIX);
        assert_ne!(one, two);
        assert!(one.expose().starts_with("jat_"));
        assert_eq!(one.expose().len(), 4 + 43);
        assert_eq!(format!("{one:?}"), "***");
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_eq!(csrf_token("a"), csrf_token("a"));
        assert_eq!(csrf_token("a").len(), 64);
    }
}
