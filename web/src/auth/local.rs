//! `auth.mode: local` — one administrator, for development and first steps.
//!
//! The admin is the first of `janus.adminEmails`, or `admin@localhost` when that list is empty
//! (`janus serve` then makes `admin@localhost` an admin). At first start [`ensure_admin`] makes a
//! random password, stores only its argon2id hash, and hands the password back once for
//! `janus serve` to print; later starts find the hash and print nothing. Failed sign-ins are
//! audited and throttled per client address (10 per 15 minutes).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, TimeDelta, Utc};
use janus_core::accounts::{Accounts, AccountsError};
use janus_core::config::Config;
use janus_core::domain::Principal;
use janus_core::secret::Secret;

use super::flow::{Identity, SignInError};
use crate::AppState;

const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW_SECONDS: i64 = 15 * 60;
/// Checked before hashing so a huge password costs nothing.
const MAX_PASSWORD_BYTES: usize = 1_024;

/// The local admin's email for `config`.
pub fn admin_email(config: &Config) -> Principal {
    config
        .janus
        .admin_emails
        .iter()
        .find_map(|email| Principal::parse(email).ok())
        .or_else(|| Principal::parse("admin@localhost").ok())
        .unwrap_or_else(unreachable_principal)
}

#[expect(clippy::expect_used, reason = "a literal, valid email")]
fn unreachable_principal() -> Principal {
    Principal::parse("admin@localhost").expect("valid")
}

/// Makes the local admin's password at first start: returns it (to print once) when it was
/// just created, `None` when one already exists.
pub async fn ensure_admin(accounts: &Accounts, config: &Config) -> Result<Option<Secret>, AccountsError> {
    let email = admin_email(config);
    if accounts.local_password_hash(&email).await?.is_some() {
        return Ok(None);
    }
    let password = new_password();
    let hash = hash_password(password.expose()).await;
    let created = accounts.set_local_password_hash(&email, &hash, false).await?;
    Ok(created.then_some(password))
}

/// Replaces the local admin's password; returns the new one.
pub async fn reset_admin(accounts: &Accounts, config: &Config) -> Result<Secret, AccountsError> {
    let password = new_password();
    let hash = hash_password(password.expose()).await;
    accounts
        .set_local_password_hash(&admin_email(config), &hash, true)
        .await?;
    Ok(password)
}

/// 24 characters from a 32-byte random secret (about 143 bits).
fn new_password() -> Secret {
    let secret = janus_core::accounts::random_secret("");
    Secret::new(secret.expose().chars().take(24).collect::<String>())
}

async fn hash_password(password: &str) -> String {
    let password = password.to_owned();
    let hashed = tokio::task::spawn_blocking(move || {
        use rand::RngCore as _;
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let salt = SaltString::encode_b64(&bytes)?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
    })
    .await;
    match hashed {
        Ok(Ok(hash)) => hash,
        // Neither can happen with default parameters; an unusable hash refuses every password.
        _ => "!".to_owned(),
    }
}

async fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// Checks an email and password against the stored admin credential.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    peer: Option<IpAddr>,
) -> Result<Identity, SignInError> {
    let now = state.workflow.clock().now();
    if state.auth.throttle.is_blocked(peer, now) {
        return Err(SignInError::Throttled);
    }
    let admin = admin_email(&state.config);
    let stored = state
        .accounts
        .local_password_hash(&admin)
        .await
        .map_err(|_| SignInError::Unavailable)?;
    let email_matches = Principal::parse(email).is_ok_and(|given| given == admin);
    let password_ok = match &stored {
        Some(hash) => verify_password(password, hash).await,
        None => false,
    };
    if email_matches && password_ok {
        state.auth.throttle.clear(peer);
        Ok(Identity {
            principal: admin,
            groups: Vec::new(),
            method: "local",
        })
    } else {
        state.auth.throttle.failed(peer, now);
        Err(SignInError::BadPassword)
    }
}

/// Failed local sign-ins per client address, in memory (one replica's view).
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, Vec<DateTime<Utc>>>>,
}

impl Throttle {
    fn with<R>(&self, apply: impl FnOnce(&mut HashMap<IpAddr, Vec<DateTime<Utc>>>) -> R) -> R {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        apply(&mut failures)
    }

    fn is_blocked(&self, peer: Option<IpAddr>, now: DateTime<Utc>) -> bool {
        let Some(peer) = peer else { return false };
        self.with(|failures| {
            let window = now - TimeDelta::seconds(FAILURE_WINDOW_SECONDS);
            let recent = failures.get_mut(&peer).map_or(0, |times| {
                times.retain(|at| *at > window);
                times.len()
            });
            recent >= MAX_FAILURES
        })
    }

    fn failed(&self, peer: Option<IpAddr>, now: DateTime<Utc>) {
        let Some(peer) = peer else { return };
        self.with(|failures| {
            if failures.len() > 10_000 {
                failures.clear();
            }
            failures.entry(peer).or_default().push(now);
        });
    }

    fn clear(&self, peer: Option<IpAddr>) {
        if let Some(peer) = peer {
            self.with(|failures| failures.remove(&peer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_is_the_first_admin_email_or_admin_at_localhost() {
        let mut config = Config::default();
        assert_eq!(admin_email(&config).as_str(), "admin@localhost");
        config.janus.admin_emails = vec!["Root@Example.com".into(), "b@example.com".into()];
        assert_eq!(admin_email(&config).as_str(), "root@example.com");
    }

    #[test]
    fn ten_failures_block_an_address_for_the_window() {
        let throttle = Throttle::default();
        let peer = Some(IpAddr::from([10, 0, 0, 1]));
        let start = DateTime::from_timestamp(1_893_456_000, 0).unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(!throttle.is_blocked(peer, start));
            throttle.failed(peer, start);
        }
        assert!(throttle.is_blocked(peer, start));
        assert!(!throttle.is_blocked(Some(IpAddr::from([10, 0, 0, 2])), start));
        assert!(!throttle.is_blocked(peer, start + TimeDelta::seconds(FAILURE_WINDOW_SECONDS + 1)));
    }
}
