//! Agent enrollment rules (DESIGN §5): whether a join token may enroll a cluster's agent.
//!
//! The store reads the token's row under lock and asks [`check_join_token`]; it spends the token
//! and pins the agent's key only when the answer is yes. Nothing here does I/O.

use chrono::{DateTime, Utc};

/// Why a join token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnrollmentRefusal {
    #[error("the join token is not known")]
    UnknownToken,
    #[error("the join token was already used")]
    TokenUsed,
    #[error("the join token has expired")]
    TokenExpired,
    #[error("the join token was made for another cluster")]
    WrongCluster,
}

impl EnrollmentRefusal {
    pub fn code(self) -> &'static str {
        match self {
            EnrollmentRefusal::UnknownToken => "unknown_join_token",
            EnrollmentRefusal::TokenUsed => "join_token_used",
            EnrollmentRefusal::TokenExpired => "join_token_expired",
            EnrollmentRefusal::WrongCluster => "join_token_wrong_cluster",
        }
    }
}

/// A stored join token, as the store read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The cluster the token was made for.
    pub cluster: String,
    pub expires_at: DateTime<Utc>,
    /// When it was spent, if it was.
    pub used_at: Option<DateTime<Utc>>,
}

/// May `token` (`None`: no token has that hash) enroll `cluster`'s agent at `now`? The checks
/// run in this order, so a spent token says "used" even after it expired.
pub fn check_join_token(
    token: Option<&JoinToken>,
    cluster: &str,
    now: DateTime<Utc>,
) -> Result<(), EnrollmentRefusal> {
    let Some(token) = token else {
        return Err(EnrollmentRefusal::UnknownToken);
    };
    if token.used_at.is_some() {
        return Err(EnrollmentRefusal::TokenUsed);
    }
    if token.expires_at <= now {
        return Err(EnrollmentRefusal::TokenExpired);
    }
    if token.cluster != cluster {
        return Err(EnrollmentRefusal::WrongCluster);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn token(cluster: &str, expires_in: i64, used: bool) -> JoinToken {
        JoinToken {
            cluster: cluster.to_owned(),
            expires_at: now() + TimeDelta::seconds(expires_in),
            used_at: used.then(now),
        }
    }

    #[test]
    fn a_fresh_token_of_the_cluster_enrolls() {
        assert_eq!(
            check_join_token(Some(&token("prod", 60, false)), "prod", now()),
            Ok(())
        );
    }

    #[test]
    fn an_unknown_token_is_refused() {
        assert_eq!(
            check_join_token(None, "prod", now()),
            Err(EnrollmentRefusal::UnknownToken)
        );
    }

    #[test]
    fn a_spent_token_is_refused_even_when_also_expired_or_for_another_cluster() {
        assert_eq!(
            check_join_token(Some(&token("staging", -60, true)), "prod", now()),
            Err(EnrollmentRefusal::TokenUsed)
        );
    }

    #[test]
    fn a_token_expires_at_its_deadline() {
        assert_eq!(
            check_join_token(Some(&token("prod", 0, false)), "prod", now()),
            Err(EnrollmentRefusal::TokenExpired)
        );
        assert_eq!(
            check_join_token(Some(&token("prod", 1, false)), "prod", now()),
            Ok(())
        );
    }

    #[test]
    fn a_token_only_enrolls_its_own_cluster() {
        assert_eq!(
            check_join_token(Some(&token("staging", 60, false)), "prod", now()),
            Err(EnrollmentRefusal::WrongCluster)
        );
    }

    #[test]
    fn refusals_have_stable_codes() {
        assert_eq!(EnrollmentRefusal::UnknownToken.code(), "unknown_join_token");
        assert_eq!(EnrollmentRefusal::TokenUsed.code(), "join_token_used");
        assert_eq!(EnrollmentRefusal::TokenExpired.code(), "join_token_expired");
        assert_eq!(EnrollmentRefusal::WrongCluster.code(), "join_token_wrong_cluster");
    }
}
