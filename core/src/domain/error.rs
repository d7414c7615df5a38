//! Why a command was refused. Each variant says what happened and what to do, and has a
//! stable `code()` used by the JSON API and the audit log.

use super::{RequestId, RequestState};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("You cannot approve your own request; another approver must decide.")]
    SelfApproval,
    #[error("You are not an approver for cluster `{cluster}`; ask one of its approvers or an admin.")]
    NotAnApprover { cluster: String },
    #[error("Only the requester can do this.")]
    NotTheRequester,
    #[error("You have already approved this; another approver must add theirs.")]
    AlreadyApproved,
    #[error("{} {from} request cannot be {command}.", article(*from))]
    InvalidTransition {
        from: RequestState,
        command: &'static str,
    },
    #[error("The request is {actual} now, not {expected}; refresh and try again.")]
    StaleState {
        expected: RequestState,
        actual: RequestState,
    },
    #[error("The TTL must be between {min} and {max} seconds; {given} was asked.")]
    TtlOutOfBounds { min: u64, max: u64, given: u64 },
    #[error("Approvers may only pick one of these TTLs (seconds): {options:?}.")]
    TtlNotAnOption { options: Vec<u64> },
    #[error("Cluster `{cluster}` is not configured in Janus.")]
    UnknownCluster { cluster: String },
    #[error("Profile `{profile}` is not configured; use one of the configured profiles.")]
    UnknownProfile { profile: String },
    #[error("Namespace `{namespace}` is excluded from Janus; access to it cannot be requested.")]
    ExcludedNamespace { namespace: String },
    #[error("Namespace `{namespace}` does not exist in cluster `{cluster}` (per its agent's last report).")]
    UnknownNamespace { cluster: String, namespace: String },
    #[error("`{namespace}` is not a valid namespace name (lower-case letters, digits and '-', at most 63).")]
    InvalidNamespace { namespace: String },
    #[error("Name at least one namespace.")]
    NoNamespaces,
    #[error("Namespace `{namespace}` is listed twice.")]
    DuplicateNamespace { namespace: String },
    #[error("A reason is required: say why you need access.")]
    ReasonRequired,
    #[error("The reason is too long: at most {max} characters.")]
    ReasonTooLong { max: usize },
    #[error("You have submitted {limit} requests in the last hour, the limit; try again later.")]
    TooManyRequestsPerHour { limit: u32 },
    #[error("You already have {limit} live requests, the limit; withdraw one first.")]
    TooManyLiveRequests { limit: u32 },
    #[error("You already have a live request ({existing}) for namespace `{namespace}` on `{cluster}`.")]
    AlreadyLive {
        existing: RequestId,
        cluster: String,
        namespace: String,
    },
    #[error("This is not due yet.")]
    NotYetDue,
    #[error("An extension is already waiting for approval.")]
    ExtensionPending,
    #[error("There is no extension waiting for approval.")]
    NoExtensionPending,
    #[error("An agent may only report on its own cluster's requests.")]
    WrongAgent,
    #[error("Only a person can do this.")]
    NotAPerson,
    #[error("Only Janus's scheduler can do this.")]
    SystemOnly,
}

impl DomainError {
    /// A stable snake_case code, used in API error bodies and audit details.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::SelfApproval => "self_approval",
            DomainError::NotAnApprover { .. } => "not_an_approver",
            DomainError::NotTheRequester => "not_the_requester",
            DomainError::AlreadyApproved => "already_approved",
            DomainError::InvalidTransition { .. } => "invalid_transition",
            DomainError::StaleState { .. } => "stale_state",
            DomainError::TtlOutOfBounds { .. } => "ttl_out_of_bounds",
            DomainError::TtlNotAnOption { .. } => "ttl_not_an_option",
            DomainError::UnknownCluster { .. } => "unknown_cluster",
            DomainError::UnknownProfile { .. } => "unknown_profile",
            DomainError::ExcludedNamespace { .. } => "excluded_namespace",
            DomainError::UnknownNamespace { .. } => "unknown_namespace",
            DomainError::InvalidNamespace { .. } => "invalid_namespace",
            DomainError::NoNamespaces => "no_namespaces",
            DomainError::DuplicateNamespace { .. } => "duplicate_namespace",
            DomainError::ReasonRequired => "reason_required",
            DomainError::ReasonTooLong { .. } => "reason_too_long",
            DomainError::TooManyRequestsPerHour { .. } => "too_many_requests_per_hour",
            DomainError::TooManyLiveRequests { .. } => "too_many_live_requests",
            DomainError::AlreadyLive { .. } => "already_live",
            DomainError::NotYetDue => "not_yet_due",
            DomainError::ExtensionPending => "extension_pending",
            DomainError::NoExtensionPending => "no_extension_pending",
            DomainError::WrongAgent => "wrong_agent",
            DomainError::NotAPerson => "not_a_person",
            DomainError::SystemOnly => "system_only",
        }
    }

    /// Refusals that are about who asked (as opposed to what was asked) are audited.
    pub fn is_authorization_refusal(&self) -> bool {
        matches!(
            self,
            DomainError::SelfApproval
                | DomainError::NotAnApprover { .. }
                | DomainError::NotTheRequester
                | DomainError::WrongAgent
                | DomainError::NotAPerson
                | DomainError::SystemOnly
        )
    }
}

/// "An active request", "A pending request".
fn article(state: RequestState) -> &'static str {
    if state.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) {
        "An"
    } else {
        "A"
    }
}
