//! The grant tokens, in the agent's memory only (DESIGN §5.3).
//!
//! A token minted by TokenRequest for a grant's ServiceAccount is kept here, keyed by
//! (request id, namespace), until cleanup, the sweeper or its own expiry drops it. It is
//! never written to a Secret, a log, a report to central or an error; after a restart the
//! agent mints new ones ([`crate::Agent::restore_tokens`]). Tokens are
//! [`janus_wire::secret::Secret`]s, whose `Debug` and `Display` print `***`.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use janus_wire::secret::Secret;

/// A grant's token and how long it may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultEntry {
    pub token: Secret,
    /// When Kubernetes stops accepting the token (TokenRequest `expirationTimestamp`).
    pub token_expires_at: DateTime<Utc>,
    /// When the grant ends (the objects' `expires-at`); may be earlier than the token's
    /// expiry, because a token lives at least 600 s.
    pub grant_expires_at: DateTime<Utc>,
}

impl VaultEntry {
    /// The earlier of the token's and the grant's end.
    pub fn usable_until(&self) -> DateTime<Utc> {
        self.token_expires_at.min(self.grant_expires_at)
    }
}

/// (request id, namespace) → token, behind a mutex.
#[derive(Default)]
pub struct TokenVault {
    entries: Mutex<HashMap<(String, String), VaultEntry>>,
}

impl std::fmt::Debug for TokenVault {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenVault")
            .field("tokens", &self.len())
            .finish()
    }
}

impl TokenVault {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), VaultEntry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores (or replaces, after an extension or a re-mint) the token of one namespace.
    pub fn insert(&self, request_id: &str, namespace: &str, entry: VaultEntry) {
        self.lock()
            .insert((request_id.to_owned(), namespace.to_owned()), entry);
    }

    /// The token of a grant's namespace and until when it may be used, if it still may be
    /// at `now`.
    pub fn token_for(
        &self,
        request_id: &str,
        namespace: &str,
        now: DateTime<Utc>,
    ) -> Option<(Secret, DateTime<Utc>)> {
        let entries = self.lock();
        let entry = entries.get(&(request_id.to_owned(), namespace.to_owned()))?;
        let until = entry.usable_until();
        (now < until).then(|| (entry.token.clone(), until))
    }

    /// The entry of a grant's namespace, whatever its expiry.
    pub fn entry(&self, request_id: &str, namespace: &str) -> Option<VaultEntry> {
        self.lock()
            .get(&(request_id.to_owned(), namespace.to_owned()))
            .cloned()
    }

    /// Drops every token of a request; returns how many there were.
    pub fn remove_request(&self, request_id: &str) -> usize {
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|(request, _), _| request != request_id);
        before - entries.len()
    }

    /// Drops the token of one namespace of a request.
    pub fn remove(&self, request_id: &str, namespace: &str) -> bool {
        self.lock()
            .remove(&(request_id.to_owned(), namespace.to_owned()))
            .is_some()
    }

    /// Drops every token that may no longer be used at `now`; returns how many.
    pub fn remove_expired(&self, now: DateTime<Utc>) -> usize {
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|_, entry| entry.usable_until() > now);
        before - entries.len()
    }

    /// The namespaces of a request that hold a token, sorted.
    pub fn namespaces_of(&self, request_id: &str) -> Vec<String> {
        let mut namespaces: Vec<String> = self
            .lock()
            .keys()
            .filter(|(request, _)| request == request_id)
            .map(|(_, namespace)| namespace.clone())
            .collect();
        namespaces.sort();
        namespaces
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod unit_tests {
    use chrono::TimeDelta;

    use super::*;

    fn entry(token: &str, now: DateTime<Utc>, token_secs: i64, grant_secs: i64) -> VaultEntry {
        VaultEntry {
            token: Secret::new(token),
            token_expires_at: now + TimeDelta::seconds(token_secs),
            grant_expires_at: now + TimeDelta::seconds(grant_secs),
        }
    }

    #[test]
    fn a_token_is_usable_until_the_earlier_end_and_never_printed() {
        let now = DateTime::from_timestamp(1_893_456_000, 0).unwrap();
        let vault = TokenVault::new();
        vault.insert("jr-a", "payments", entry("eyJhbGciOi.secret", now, 600, 300));
        let (token, until) = vault.token_for("jr-a", "payments", now).unwrap();
        assert_eq!(token.expose(), "eyJhbGciOi.secret");
        assert_eq!(until, now + TimeDelta::seconds(300));
        assert!(vault.token_for("jr-a", "payments", until).is_none());
        assert!(vault.token_for("jr-a", "checkout", now).is_none());
        let printed = format!("{vault:?} {:?}", vault.entry("jr-a", "payments"));
        assert!(!printed.contains("secret"), "{printed}");
    }

    #[test]
    fn removal_by_request_namespace_and_expiry() {
        let now = DateTime::from_timestamp(1_893_456_000, 0).unwrap();
        let vault = TokenVault::new();
        vault.insert("jr-a", "payments", entry("t1", now, 600, 600));
        vault.insert("jr-a", "checkout", entry("t2", now, 600, 600));
        vault.insert("jr-b", "payments", entry("t3", now, 600, 60));
        assert_eq!(vault.namespaces_of("jr-a"), ["checkout", "payments"]);
        assert_eq!(vault.remove_expired(now + TimeDelta::seconds(60)), 1);
        assert!(vault.remove("jr-a", "checkout"));
        assert!(!vault.remove("jr-a", "checkout"));
        assert_eq!(vault.remove_request("jr-a"), 1);
        assert!(vault.is_empty());
    }
}
