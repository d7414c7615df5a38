//! People and the other things that act on requests.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A person, identified by a canonical lower-case email address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Principal(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error("`{0}` is not an email address; a principal is identified by its email (name@domain).")]
    NotAnEmail(String),
}

impl Principal {
    /// Canonicalises (trim, lower-case) and checks the shape `local@domain`.
    pub fn parse(raw: &str) -> Result<Self, PrincipalError> {
        let email = raw.trim().to_lowercase();
        let shown = || PrincipalError::NotAnEmail(raw.chars().take(80).collect());
        let (local, domain) = email.split_once('@').ok_or_else(shown)?;
        let valid = !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && email.len() <= 254
            && !email
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
        if valid { Ok(Principal(email)) } else { Err(shown()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit('@').next().unwrap_or_default()
    }
}

impl TryFrom<String> for Principal {
    type Error = PrincipalError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Principal::parse(&value)
    }
}

impl From<Principal> for String {
    fn from(value: Principal) -> Self {
        value.0
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who issued a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in person (through chat, the dashboard, the API or the CLI).
    Person(Principal),
    /// A signed-in person with the groups their identity provider reported at sign-in; they
    /// approve clusters whose `approverGroups` name one of them. Otherwise exactly a `Person`.
    Member {
        principal: Principal,
        groups: std::collections::BTreeSet<String>,
    },
    /// Janus itself: the scheduler (expiry, pending auto-deny, grant timeout).
    System,
    /// The agent of one cluster, reporting the result of its work.
    Agent { cluster: String },
}

impl Actor {
    /// The name written to the audit log: the email, `system`, or `agent:<cluster>`.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::Person(principal) | Actor::Member { principal, .. } => principal.to_string(),
            Actor::System => "system".to_owned(),
            Actor::Agent { cluster } => format!("agent:{cluster}"),
        }
    }

    pub fn person(&self) -> Option<&Principal> {
        match self {
            Actor::Person(principal) | Actor::Member { principal, .. } => Some(principal),
            _ => None,
        }
    }

    /// The identity provider's groups of a [`Actor::Member`]; empty for everyone else.
    pub fn groups(&self) -> &std::collections::BTreeSet<String> {
        static NONE: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        match self {
            Actor::Member { groups, .. } => groups,
            _ => &NONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_canonical_lower_case() {
        assert_eq!(
            Principal::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        assert_eq!(Principal::parse("a+b@x.io").unwrap().domain(), "x.io");
    }

    #[test]
    fn non_emails_are_refused() {
        for raw in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a@b@c",
            "a b@c.d",
            "a@.com",
            "<a@b.c>",
        ] {
            assert!(Principal::parse(raw).is_err(), "{raw:?} should be refused");
        }
    }
}
