//! The one transition function of the request workflow.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::submit::{check_reason, check_ttl};
use super::{
    AccessRequest, Actor, Approval, AuditAction, CredentialsStatus, DomainError, ExtensionRequest, NewEvent,
    Notice, Policy, Principal, RequestState,
};

/// Everything that can happen to an existing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// An approver adds their approval, optionally choosing a TTL from `approvalTtlOptions`.
    Approve {
        ttl_seconds: Option<u64>,
        reason: Option<String>,
    },
    Deny {
        reason: Option<String>,
    },
    /// The requester takes the request back.
    Withdraw,
    /// An approver or admin ends it.
    Revoke {
        reason: Option<String>,
    },
    /// The scheduler, at `expires_at`.
    Expire,
    /// The scheduler, when a request stayed Pending longer than `pendingExpirySeconds`.
    AutoDeny,
    /// The scheduler, when a request stayed Approved longer than `grantTimeoutSeconds`.
    GrantTimeout,
    /// The cluster's agent created every object in every namespace.
    GrantSucceeded,
    GrantFailed {
        error: String,
    },
    /// The cluster's agent deleted every object.
    CleanupSucceeded,
    CleanupFailed {
        error: String,
    },
    /// The requester asks for more time on an Active request.
    RequestExtension {
        ttl_seconds: u64,
        reason: String,
    },
    ApproveExtension,
    DenyExtension {
        reason: Option<String>,
    },
}

impl Command {
    /// The verb used in messages ("A pending request cannot be expired.").
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Approve { .. } => "approved",
            Command::Deny { .. } => "denied",
            Command::Withdraw => "withdrawn",
            Command::Revoke { .. } => "revoked",
            Command::Expire => "expired",
            Command::AutoDeny => "auto-denied",
            Command::GrantTimeout => "timed out",
            Command::GrantSucceeded => "activated",
            Command::GrantFailed { .. } => "failed",
            Command::CleanupSucceeded | Command::CleanupFailed { .. } => "cleaned up",
            Command::RequestExtension { .. } => "extended",
            Command::ApproveExtension | Command::DenyExtension { .. } => "decided on for an extension",
        }
    }
}

/// What the engine must do besides saving the request, in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Queue grant work for the cluster's agent (also re-mints tokens after an extension).
    QueueGrant,
    /// Queue cleanup work: delete every object of the request.
    QueueCleanup,
    /// Close every open terminal session of the request now.
    CloseTerminals,
}

/// The outcome of an accepted command.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub request: AccessRequest,
    pub events: Vec<NewEvent>,
    pub effects: Vec<Effect>,
    /// Chat messages the change implies, written to the outbox with it.
    pub notices: Vec<Notice>,
}

/// Applies `command` by `actor` to `request` at `now`.
///
/// The legal moves:
/// - **Pending**: approvers add approvals (never the requester, never twice); when the
///   cluster's `approvalsRequired` distinct approvals are in, it becomes **Approved**,
///   credentials become `provisioning` and grant work is queued. An approver may deny
///   (→ **Denied**), the scheduler auto-denies after `pendingExpirySeconds`, the requester
///   withdraws (→ **Withdrawn**), an approver revokes (→ **Revoked**).
/// - **Approved**: the agent reports success (→ **Active**, `expires_at` as fixed when the
///   grant was handed out, [`fix_grant_end`], else `now + ttl`,
///   credentials `live`) or failure (→ **Failed**); the scheduler fails it after
///   `grantTimeoutSeconds`; withdraw and revoke end it.
/// - **Active**: the scheduler expires it at `expires_at` (→ **Expired**); withdraw and
///   revoke end it; the requester may ask for an extension, approved like a request. A
///   failed token refresh after an extension fails it (→ **Failed**, cleanup): the agent
///   has rolled the grant back, so it must not look Active.
/// - Every move to a terminal state from Approved or Active sets credentials to
///   `cleaning`, queues cleanup and closes terminals. Cleanup results only move the
///   credentials status (`cleaned`, or `cleanup_failed`, which is retried).
///
/// Everything else is refused with a [`DomainError`] that names the reason. Every
/// accepted command bumps `version` and yields exactly one audit event.
pub fn transition(
    request: &AccessRequest,
    command: &Command,
    actor: &Actor,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Transition, DomainError> {
    let mut next = request.clone();
    next.version += 1;
    let state = request.state;
    let invalid = || DomainError::InvalidTransition {
        from: state,
        command: command.verb(),
    };
    if let Actor::Agent { cluster } = actor
        && cluster != &request.cluster
    {
        return Err(DomainError::WrongAgent);
    }

    let (action, details, effects): (AuditAction, Value, Vec<Effect>) = match command {
        Command::Approve { ttl_seconds, reason } => {
            let approver = approver(request, actor, policy)?;
            if state != RequestState::Pending {
                return Err(invalid());
            }
            if request.is_approved_by(approver) {
                return Err(DomainError::AlreadyApproved);
            }
            if let Some(ttl) = ttl_seconds {
                check_approval_ttl(*ttl, policy)?;
            }
            let reason = optional_reason(reason.as_deref())?;
            next.approvals.push(Approval {
                by: approver.clone(),
                at: now,
                ttl_seconds: *ttl_seconds,
                reason: reason.clone(),
            });
            // When several approvers pick a TTL, the shortest wins.
            if let Some(shortest) = next.approvals.iter().filter_map(|a| a.ttl_seconds).min() {
                next.ttl_seconds = shortest;
            }
            let required = policy.approvals_required(&request.cluster);
            let count = next.approvals.len();
            let details = json!({
                "approvals": count, "required": required, "ttlSeconds": next.ttl_seconds, "reason": reason,
            });
            if count >= required as usize {
                next.state = RequestState::Approved;
                next.credentials = CredentialsStatus::Provisioning;
                next.decided_at = Some(now);
                (AuditAction::RequestApproved, details, vec![Effect::QueueGrant])
            } else {
                (AuditAction::RequestApprovalRecorded, details, Vec::new())
            }
        }
        Command::Deny { reason } => {
            approver_or_self(request, actor, policy)?;
            if state != RequestState::Pending {
                return Err(invalid());
            }
            let reason = optional_reason(reason.as_deref())?;
            next.state = RequestState::Denied;
            next.deny_reason = reason.clone();
            next.decided_at = Some(now);
            end(&mut next, now, "denied", actor);
            (
                AuditAction::RequestDenied,
                json!({ "reason": reason }),
                Vec::new(),
            )
        }
        Command::AutoDeny => {
            system(actor)?;
            if state != RequestState::Pending || policy.pending_expiry_seconds == 0 {
                return Err(invalid());
            }
            if now < later(request.created_at, policy.pending_expiry_seconds) {
                return Err(DomainError::NotYetDue);
            }
            next.state = RequestState::Denied;
            next.deny_reason = Some(format!(
                "no decision within {} seconds",
                policy.pending_expiry_seconds
            ));
            next.decided_at = Some(now);
            end(&mut next, now, "pending_expired", actor);
            (
                AuditAction::RequestDenied,
                json!({ "reason": next.deny_reason, "auto": true }),
                Vec::new(),
            )
        }
        Command::Withdraw => {
            if actor.person() != Some(&request.requester) {
                return Err(DomainError::NotTheRequester);
            }
            if !state.is_live() {
                return Err(invalid());
            }
            next.state = RequestState::Withdrawn;
            end(&mut next, now, "withdrawn", actor);
            (
                AuditAction::RequestWithdrawn,
                json!({}),
                finish_credentials(&mut next),
            )
        }
        Command::Revoke { reason } => {
            approver_or_self(request, actor, policy)?;
            if !state.is_live() {
                return Err(invalid());
            }
            let reason = optional_reason(reason.as_deref())?;
            next.state = RequestState::Revoked;
            next.deny_reason = reason.clone();
            end(&mut next, now, "revoked", actor);
            (
                AuditAction::RequestRevoked,
                json!({ "reason": reason }),
                finish_credentials(&mut next),
            )
        }
        Command::Expire => {
            system(actor)?;
            if state != RequestState::Active {
                return Err(invalid());
            }
            if request.expires_at.is_some_and(|expires_at| now < expires_at) {
                return Err(DomainError::NotYetDue);
            }
            next.state = RequestState::Expired;
            end(&mut next, now, "expired", actor);
            (
                AuditAction::RequestExpired,
                json!({ "expiresAt": request.expires_at }),
                finish_credentials(&mut next),
            )
        }
        Command::GrantTimeout => {
            system(actor)?;
            if state != RequestState::Approved {
                return Err(invalid());
            }
            let decided_at = request.decided_at.unwrap_or(request.created_at);
            if now < later(decided_at, policy.grant_timeout_seconds) {
                return Err(DomainError::NotYetDue);
            }
            next.state = RequestState::Failed;
            end(&mut next, now, "grant_timeout", actor);
            let details = json!({ "error": "no answer from the cluster's agent in time", "timeout": true });
            (AuditAction::RequestFailed, details, finish_credentials(&mut next))
        }
        Command::GrantSucceeded => {
            agent(actor)?;
            match state {
                RequestState::Approved => {
                    next.state = RequestState::Active;
                    next.credentials = CredentialsStatus::Live;
                    next.activated_at = Some(now);
                    // Fixed when the grant was handed out (`fix_grant_end`); a report for a
                    // grant never claimed through the store falls back to now + TTL.
                    next.expires_at =
                        Some(request.expires_at.unwrap_or_else(|| later(now, next.ttl_seconds)));
                    (
                        AuditAction::GrantSucceeded,
                        json!({ "expiresAt": next.expires_at }),
                        Vec::new(),
                    )
                }
                // A re-grant after an extension: tokens were re-minted.
                RequestState::Active => (
                    AuditAction::GrantSucceeded,
                    json!({ "expiresAt": next.expires_at }),
                    Vec::new(),
                ),
                // Grant work exists only from approval on; a report before it is bogus.
                RequestState::Pending => return Err(invalid()),
                // The request ended while the grant was in flight: whatever the agent made
                // must go again, whatever the credentials status says.
                _ => {
                    next.credentials = CredentialsStatus::Cleaning;
                    (
                        AuditAction::GrantSucceeded,
                        json!({ "afterEnd": true }),
                        vec![Effect::QueueCleanup],
                    )
                }
            }
        }
        Command::GrantFailed { error } => {
            agent(actor)?;
            let error = clip(error, 1000);
            match state {
                RequestState::Approved => {
                    next.state = RequestState::Failed;
                    end(&mut next, now, &error, actor);
                    (
                        AuditAction::GrantFailed,
                        json!({ "error": error }),
                        finish_credentials(&mut next),
                    )
                }
                // A refresh (after an extension) failed: the agent rolled the grant back, so
                // the request cannot stay Active. Fail closed: end it and clean up.
                RequestState::Active => {
                    next.state = RequestState::Failed;
                    end(&mut next, now, &error, actor);
                    (
                        AuditAction::GrantFailed,
                        json!({ "error": error, "refresh": true }),
                        finish_credentials(&mut next),
                    )
                }
                RequestState::Pending => return Err(invalid()),
                _ => {
                    next.credentials = CredentialsStatus::Cleaning;
                    (
                        AuditAction::GrantFailed,
                        json!({ "error": error, "afterEnd": true }),
                        vec![Effect::QueueCleanup],
                    )
                }
            }
        }
        Command::CleanupSucceeded => {
            agent(actor)?;
            if state.is_live() || request.credentials.is_settled() {
                return Err(invalid());
            }
            next.credentials = CredentialsStatus::Cleaned;
            (AuditAction::CleanupSucceeded, json!({}), Vec::new())
        }
        Command::CleanupFailed { error } => {
            agent(actor)?;
            if state.is_live() || request.credentials.is_settled() {
                return Err(invalid());
            }
            next.credentials = CredentialsStatus::CleanupFailed;
            (
                AuditAction::CleanupFailed,
                json!({ "error": clip(error, 1000) }),
                Vec::new(),
            )
        }
        Command::RequestExtension { ttl_seconds, reason } => {
            if actor.person() != Some(&request.requester) {
                return Err(DomainError::NotTheRequester);
            }
            if state != RequestState::Active {
                return Err(invalid());
            }
            if request.extension.is_some() {
                return Err(DomainError::ExtensionPending);
            }
            check_ttl(*ttl_seconds, policy)?;
            let reason = check_reason(reason)?;
            next.extension = Some(ExtensionRequest {
                ttl_seconds: *ttl_seconds,
                reason: reason.clone(),
                requested_at: now,
                approvals: Vec::new(),
            });
            (
                AuditAction::ExtensionRequested,
                json!({ "ttlSeconds": ttl_seconds, "reason": reason }),
                Vec::new(),
            )
        }
        Command::ApproveExtension => {
            let approver = approver(request, actor, policy)?;
            if state != RequestState::Active {
                return Err(invalid());
            }
            let Some(extension) = next.extension.as_mut() else {
                return Err(DomainError::NoExtensionPending);
            };
            if extension
                .approvals
                .iter()
                .any(|approval| &approval.by == approver)
            {
                return Err(DomainError::AlreadyApproved);
            }
            extension.approvals.push(Approval {
                by: approver.clone(),
                at: now,
                ttl_seconds: None,
                reason: None,
            });
            let count = extension.approvals.len();
            let ttl = extension.ttl_seconds;
            let required = policy.approvals_required(&request.cluster);
            if count >= required as usize {
                next.extension = None;
                next.extensions += 1;
                next.expires_at = next.expires_at.map(|expires_at| later(expires_at, ttl));
                let details = json!({ "ttlSeconds": ttl, "approvals": count, "expiresAt": next.expires_at });
                (AuditAction::ExtensionApproved, details, vec![Effect::QueueGrant])
            } else {
                let details = json!({ "ttlSeconds": ttl, "approvals": count, "required": required });
                (AuditAction::ExtensionApprovalRecorded, details, Vec::new())
            }
        }
        Command::DenyExtension { reason } => {
            approver_or_self(request, actor, policy)?;
            if state != RequestState::Active {
                return Err(invalid());
            }
            if next.extension.take().is_none() {
                return Err(DomainError::NoExtensionPending);
            }
            let reason = optional_reason(reason.as_deref())?;
            (
                AuditAction::ExtensionDenied,
                json!({ "reason": reason }),
                Vec::new(),
            )
        }
    };

    let event = NewEvent {
        action,
        actor: actor.audit_name(),
        request_id: Some(request.id.clone()),
        cluster: Some(request.cluster.clone()),
        details,
    };
    let events = vec![event];
    Ok(Transition {
        request: next,
        notices: super::notify::notices(policy, &events),
        events,
        effects,
    })
}

/// `at + seconds`, saturating at the latest representable time: a huge configured duration
/// means "never", not an overflow panic.
pub fn later(at: DateTime<Utc>, seconds: u64) -> DateTime<Utc> {
    i64::try_from(seconds)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|delta| at.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// When the grant of `request`, handed to its agent at `now`, ends — if that is to be fixed
/// now: an Approved request whose end is not set yet gets `now + ttl`. The value is stored
/// with the claim and never recomputed: the agent's tokens and annotations, the report
/// (`GrantSucceeded` keeps it), the scheduler and open terminals all use it. Only an approved
/// extension moves it.
pub fn fix_grant_end(request: &AccessRequest, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (request.state == RequestState::Approved && request.expires_at.is_none())
        .then(|| later(now, request.ttl_seconds))
}

fn end(request: &mut AccessRequest, now: DateTime<Utc>, reason: &str, actor: &Actor) {
    request.ended_at = Some(now);
    request.ended_by = Some(actor.audit_name());
    request.end_reason = Some(reason.to_owned());
    request.extension = None;
}

/// Credentials for a request that just reached a terminal state: anything that may
/// exist is cleaned up, and terminals close.
fn finish_credentials(request: &mut AccessRequest) -> Vec<Effect> {
    if request.credentials == CredentialsStatus::None {
        return Vec::new();
    }
    request.credentials = CredentialsStatus::Cleaning;
    vec![Effect::QueueCleanup, Effect::CloseTerminals]
}

/// The actor as an approver of this request: a person, not the requester, and an
/// approver of the cluster or an admin.
fn approver<'a>(
    request: &AccessRequest,
    actor: &'a Actor,
    policy: &Policy,
) -> Result<&'a Principal, DomainError> {
    let person = actor.person().ok_or(DomainError::NotAPerson)?;
    if person == &request.requester {
        return Err(DomainError::SelfApproval);
    }
    if !policy.actor_is_approver(actor, &request.cluster) {
        return Err(DomainError::NotAnApprover {
            cluster: request.cluster.clone(),
        });
    }
    Ok(person)
}

/// Deny and revoke only ever reduce access, so the requester may also do them to their
/// own request; anyone else must be an approver of the cluster or an admin.
fn approver_or_self(request: &AccessRequest, actor: &Actor, policy: &Policy) -> Result<(), DomainError> {
    let person = actor.person().ok_or(DomainError::NotAPerson)?;
    if person == &request.requester || policy.actor_is_approver(actor, &request.cluster) {
        Ok(())
    } else {
        Err(DomainError::NotAnApprover {
            cluster: request.cluster.clone(),
        })
    }
}

fn system(actor: &Actor) -> Result<(), DomainError> {
    if actor == &Actor::System {
        Ok(())
    } else {
        Err(DomainError::SystemOnly)
    }
}

fn agent(actor: &Actor) -> Result<(), DomainError> {
    if matches!(actor, Actor::Agent { .. }) {
        Ok(())
    } else {
        Err(DomainError::WrongAgent)
    }
}

/// An approver's TTL must be one of [`Policy::approval_ttl_choices`], the menu every entry
/// point shows.
fn check_approval_ttl(ttl: u64, policy: &Policy) -> Result<(), DomainError> {
    let options = policy.approval_ttl_choices();
    if options.contains(&ttl) {
        Ok(())
    } else {
        Err(DomainError::TtlNotAnOption { options })
    }
}

fn optional_reason(raw: Option<&str>) -> Result<Option<String>, DomainError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(reason) if reason.chars().count() > super::MAX_REASON_CHARS => Err(DomainError::ReasonTooLong {
            max: super::MAX_REASON_CHARS,
        }),
        Some(reason) => Ok(Some(reason.to_owned())),
    }
}
