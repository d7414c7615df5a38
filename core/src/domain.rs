//! The domain: who asks for what, the states a request moves through, and the rules.
//!
//! **Invariant:** nothing in this module performs I/O or reads the clock. Every function
//! takes `now` and returns values; the workflow engine (`crate::workflow`) persists them.

mod audit_action;
mod error;
mod id;
pub mod notify;
mod policy;
mod principal;
mod questions;
mod request;
mod submit;
mod transition;

pub use audit_action::AuditAction;
pub use error::DomainError;
pub use id::RequestId;
pub use notify::{Notice, NoticeKind};
pub use policy::{ClusterPolicy, Limits, MIN_TTL_SECONDS, Policy};
pub use principal::{Actor, Principal, PrincipalError};
pub use questions::{Action, available_actions, card_actions};
pub use request::{
    AccessRequest, Approval, CredentialsStatus, ExtensionRequest, MAX_REASON_CHARS, Origin, Platform,
    RequestState,
};
pub use submit::{Draft, UserActivity, is_dns_label, submit};
pub use transition::{Command, Effect, Transition, fix_grant_end, later, transition};

/// What one accepted command implies for the audit log: the engine appends it to the
/// hash chain in the same database transaction as the state change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub action: AuditAction,
    pub actor: String,
    pub request_id: Option<RequestId>,
    pub cluster: Option<String>,
    pub details: serde_json::Value,
}

#[cfg(test)]
mod tests;
