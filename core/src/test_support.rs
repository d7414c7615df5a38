//! Test data for every crate's tests (the `test-support` feature): the domain's request
//! builder, a draft and people. A request is built as data, state by state, so card and page
//! tests can show any state without a database; `core`'s own domain tests move requests
//! through the real transition function instead.
//!
//! ```ignore
//! let active = AccessRequest::test()
//!     .approval_by("bob@example.com", at(1))
//!     .decided(at(1))
//!     .granted(at(2), at(62));
//! ```

#![expect(
    clippy::expect_used,
    reason = "test data: fixed literals that always parse, and a test that passes a bad one should stop"
)]

use chrono::{DateTime, TimeZone as _, Utc};

use crate::domain::{
    AccessRequest, Approval, CredentialsStatus, Draft, ExtensionRequest, Origin, Principal, RequestId,
    RequestState,
};

/// The moment test requests are made: 2030-01-01 14:00 UTC.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 14, 0, 0)
        .single()
        .expect("a valid date")
}

/// `email` as a principal (it must be one).
pub fn person(email: &str) -> Principal {
    Principal::parse(email).expect("a test principal is an email")
}

/// `email`'s approval at `at`, with no TTL of its own and no reason.
pub fn approval(email: &str, at: DateTime<Utc>) -> Approval {
    Approval {
        by: person(email),
        at,
        ttl_seconds: None,
        reason: None,
    }
}

impl Draft {
    /// A web draft for `namespaces` of `cluster`: one hour, "investigating 500s on /pay".
    pub fn test(cluster: &str, namespaces: &[&str]) -> Draft {
        Draft {
            cluster: cluster.to_owned(),
            namespaces: namespaces
                .iter()
                .map(|namespace| (*namespace).to_owned())
                .collect(),
            ttl_seconds: Some(3_600),
            reason: "investigating 500s on /pay".to_owned(),
            profile: None,
            origin: Origin::web(),
        }
    }
}

impl AccessRequest {
    /// Alice's Pending request `jr-4k2m7x5q` for `payments` on `prod`: one hour, made from the
    /// web at [`epoch`], "investigating 500s on /pay".
    pub fn test() -> AccessRequest {
        AccessRequest {
            id: RequestId::parse("jr-4k2m7x5q").expect("a valid request id"),
            requester: person("alice@example.com"),
            origin: Origin::web(),
            cluster: "prod".to_owned(),
            namespaces: vec!["payments".to_owned()],
            profile: "exec".to_owned(),
            requested_ttl_seconds: 3_600,
            ttl_seconds: 3_600,
            reason: "investigating 500s on /pay".to_owned(),
            state: RequestState::Pending,
            credentials: CredentialsStatus::None,
            approvals: Vec::new(),
            deny_reason: None,
            extension: None,
            extensions: 0,
            created_at: epoch(),
            decided_at: None,
            activated_at: None,
            expires_at: None,
            ended_at: None,
            end_reason: None,
            ended_by: None,
            version: 1,
        }
    }

    pub fn with_id(mut self, id: &str) -> Self {
        self.id = RequestId::parse(id).expect("a valid request id");
        self
    }

    pub fn requested_by(mut self, email: &str) -> Self {
        self.requester = person(email);
        self
    }

    pub fn on_cluster(mut self, cluster: &str) -> Self {
        self.cluster = cluster.to_owned();
        self
    }

    pub fn in_namespaces(mut self, namespaces: &[&str]) -> Self {
        self.namespaces = namespaces
            .iter()
            .map(|namespace| (*namespace).to_owned())
            .collect();
        self
    }

    /// Asked for and granted for `seconds` (an approver's choice is [`AccessRequest::approval_with`]).
    pub fn lasting(mut self, seconds: u64) -> Self {
        self.requested_ttl_seconds = seconds;
        self.ttl_seconds = seconds;
        self
    }

    pub fn because(mut self, reason: &str) -> Self {
        self.reason = reason.to_owned();
        self
    }

    pub fn created(mut self, at: DateTime<Utc>) -> Self {
        self.created_at = at;
        self
    }

    /// `email` approved at `at` (the request stays as it is: see [`AccessRequest::decided`]).
    pub fn approval_by(self, email: &str, at: DateTime<Utc>) -> Self {
        self.approval_with(approval(email, at))
    }

    /// Adds `approval`; an approver's TTL becomes the request's when it is shorter.
    pub fn approval_with(mut self, approval: Approval) -> Self {
        if let Some(ttl) = approval.ttl_seconds {
            self.ttl_seconds = self.ttl_seconds.min(ttl);
        }
        self.approvals.push(approval);
        self
    }

    /// Approved at `at`: the grant is being made.
    pub fn decided(mut self, at: DateTime<Utc>) -> Self {
        self.state = RequestState::Approved;
        self.credentials = CredentialsStatus::Provisioning;
        self.decided_at = Some(at);
        self
    }

    /// Active from `activated_at` until `expires_at`, credentials live.
    pub fn granted(mut self, activated_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> Self {
        self.state = RequestState::Active;
        self.credentials = CredentialsStatus::Live;
        self.activated_at = Some(activated_at);
        self.expires_at = Some(expires_at);
        self
    }

    /// The requester asked at `at` for `ttl_seconds` more.
    pub fn extension_asked(mut self, ttl_seconds: u64, reason: &str, at: DateTime<Utc>) -> Self {
        self.extension = Some(ExtensionRequest {
            ttl_seconds,
            reason: reason.to_owned(),
            requested_at: at,
            approvals: Vec::new(),
        });
        self
    }

    /// Denied at `at`, with `reason` if given.
    pub fn denied(mut self, reason: Option<&str>, at: DateTime<Utc>) -> Self {
        self.state = RequestState::Denied;
        self.deny_reason = reason.map(str::to_owned);
        self.decided_at = Some(at);
        self.ended_at = Some(at);
        self
    }

    /// Ended in `state` at `at`, credentials `credentials`, with `reason` if given.
    pub fn ended(
        mut self,
        state: RequestState,
        credentials: CredentialsStatus,
        at: DateTime<Utc>,
        reason: Option<&str>,
    ) -> Self {
        self.state = state;
        self.credentials = credentials;
        self.ended_at = Some(at);
        self.end_reason = reason.map(str::to_owned);
        self
    }
}
