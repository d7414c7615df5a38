//! The card of a request: what every chat platform shows about it, decided once.
//!
//! A card is built from the request as it is now (never from the event that triggered the
//! update), so a late or repeated update still shows the truth. Platforms only render it.

use chrono::{DateTime, Utc};
use janus_core::domain::{
    AccessRequest, Action, AuditAction, Command, CredentialsStatus, Policy, RequestState, card_actions,
};
use janus_core::duration::format_duration;

/// A button or menu on the card. The action id is what comes back on a click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    Approve,
    /// A menu of TTLs an approver may choose instead of the requested one.
    TtlOverride,
    Deny,
    DenyWithReason,
    Withdraw,
    Revoke,
    Extend,
    ApproveExtension,
    DenyExtension,
}

impl CardAction {
    /// The controls that draw a domain [`Action`] on a card: Approve comes with the TTL menu
    /// (when there are choices), Deny with its reason form.
    fn controls(action: Action, ttl_menu: bool) -> Vec<CardAction> {
        match action {
            Action::Approve if ttl_menu => vec![CardAction::Approve, CardAction::TtlOverride],
            Action::Approve => vec![CardAction::Approve],
            Action::Deny => vec![CardAction::Deny, CardAction::DenyWithReason],
            Action::ApproveExtension => vec![CardAction::ApproveExtension],
            Action::DenyExtension => vec![CardAction::DenyExtension],
            Action::Revoke => vec![CardAction::Revoke],
            Action::Extend => vec![CardAction::Extend],
            Action::Withdraw => vec![CardAction::Withdraw],
        }
    }

    /// What a click on this control asks of the workflow: the state the clicked card must still
    /// show (a click on a card that moved on is refused) and the command, run as the person who
    /// clicked. `ttl_seconds` is an approver's choice from the TTL menu. `None` for Extend, which
    /// is asked for through a form, not a click. The adapters open their forms (deny with a
    /// reason, extend) before they get here.
    pub fn command(self, ttl_seconds: Option<u64>) -> Option<(Option<RequestState>, Command)> {
        let pending = Some(RequestState::Pending);
        let active = Some(RequestState::Active);
        Some(match self {
            CardAction::Approve | CardAction::TtlOverride => (
                pending,
                Command::Approve {
                    ttl_seconds,
                    reason: None,
                },
            ),
            CardAction::Deny | CardAction::DenyWithReason => (pending, Command::Deny { reason: None }),
            CardAction::Withdraw => (None, Command::Withdraw),
            CardAction::Revoke => (None, Command::Revoke { reason: None }),
            CardAction::ApproveExtension => (active, Command::ApproveExtension),
            CardAction::DenyExtension => (active, Command::DenyExtension { reason: None }),
            CardAction::Extend => return None,
        })
    }

    /// What the person who clicked is told once [`CardAction::command`] succeeded.
    pub fn done(self, request: &AccessRequest) -> String {
        let id = &request.id;
        match self {
            CardAction::Approve | CardAction::TtlOverride => match request.state {
                RequestState::Pending => format!("Your approval of {id} is recorded."),
                _ => format!("You approved {id}."),
            },
            CardAction::Deny | CardAction::DenyWithReason => format!("You denied {id}."),
            CardAction::Withdraw => format!("You withdrew {id}."),
            CardAction::Revoke => format!("You revoked {id}."),
            CardAction::ApproveExtension => format!("You approved the extension of {id}."),
            CardAction::DenyExtension => format!("You denied the extension of {id}."),
            CardAction::Extend => format!("You asked for more time on {id}."),
        }
    }

    pub const ALL: [CardAction; 9] = [
        CardAction::Approve,
        CardAction::TtlOverride,
        CardAction::Deny,
        CardAction::DenyWithReason,
        CardAction::Withdraw,
        CardAction::Revoke,
        CardAction::Extend,
        CardAction::ApproveExtension,
        CardAction::DenyExtension,
    ];

    pub fn id(self) -> &'static str {
        match self {
            CardAction::Approve => "janus_approve",
            CardAction::TtlOverride => "janus_ttl",
            CardAction::Deny => "janus_deny",
            CardAction::DenyWithReason => "janus_deny_reason",
            CardAction::Withdraw => "janus_withdraw",
            CardAction::Revoke => "janus_revoke",
            CardAction::Extend => "janus_extend",
            CardAction::ApproveExtension => "janus_approve_extension",
            CardAction::DenyExtension => "janus_deny_extension",
        }
    }

    pub fn parse(id: &str) -> Option<CardAction> {
        CardAction::ALL.into_iter().find(|action| action.id() == id)
    }

    /// How the platform should draw it: the decisions that grant are `Primary`, those that
    /// refuse or end access `Danger`.
    pub fn style(self) -> ButtonStyle {
        match self {
            CardAction::Approve | CardAction::ApproveExtension => ButtonStyle::Primary,
            CardAction::Deny
            | CardAction::DenyWithReason
            | CardAction::DenyExtension
            | CardAction::Revoke => ButtonStyle::Danger,
            CardAction::TtlOverride | CardAction::Withdraw | CardAction::Extend => ButtonStyle::Default,
        }
    }

    /// Actions that belong to the requester (withdraw, ask for more time); the others are
    /// approvers' decisions. Platforms may label them so; the workflow enforces who may.
    pub fn requesters_own(self) -> bool {
        matches!(self, CardAction::Withdraw | CardAction::Extend)
    }

    pub fn label(self) -> &'static str {
        match self {
            CardAction::Approve => "Approve",
            CardAction::TtlOverride => "TTL",
            CardAction::Deny => "Deny",
            CardAction::DenyWithReason => "Deny with reason…",
            CardAction::Withdraw => "Withdraw",
            CardAction::Revoke => "Revoke",
            CardAction::Extend => "Extend…",
            CardAction::ApproveExtension => "Approve extension",
            CardAction::DenyExtension => "Deny extension",
        }
    }
}

/// The emphasis of a button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonStyle {
    Primary,
    Danger,
    Default,
}

/// Everything a platform needs to draw the card.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub request_id: String,
    pub state: RequestState,
    pub title: String,
    /// One line: the state and who made it so ("Approved by bob@example.com · TTL 2h").
    pub headline: String,
    pub requester: String,
    pub cluster: String,
    pub namespaces: Vec<String>,
    pub ttl: String,
    pub reason: String,
    /// Further lines: a pending extension, the failure, where credentials stand.
    pub notes: Vec<String>,
    /// When Active: the expiry, for platforms that render times in the viewer's zone.
    pub expires_at: Option<DateTime<Utc>>,
    pub actions: Vec<CardAction>,
    /// The TTL choices for [`CardAction::TtlOverride`], in seconds.
    pub ttl_options: Vec<u64>,
}

/// Builds the card of `request` as it is now. Who made its last decision is on the request
/// (`ended_by`), shown for denials, revocations and withdrawals.
pub fn card(request: &AccessRequest, policy: &Policy) -> Card {
    let decided_by = request.ended_by.as_deref();
    let required = policy.approvals_required(&request.cluster);
    let approvers = request
        .approvals
        .iter()
        .map(|approval| approval.by.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let by = |fallback: &str| decided_by.map_or_else(|| fallback.to_owned(), str::to_owned);
    let ttl = format_duration(request.ttl_seconds);
    let headline = match request.state {
        RequestState::Pending => {
            let count = request.approvals.len();
            if count == 0 {
                format!("Pending · 0 of {required} approvals")
            } else {
                format!("Pending · {count} of {required} approvals ({approvers})")
            }
        }
        RequestState::Approved => format!("Approved by {approvers} · TTL {ttl} · granting access…"),
        RequestState::Active => format!("Active · approved by {approvers} · TTL {ttl}"),
        RequestState::Denied if decided_by == Some("system") => {
            "Denied automatically: no decision in time".to_owned()
        }
        RequestState::Denied => format!("Denied by {}", by("an approver")),
        RequestState::Expired => "Expired".to_owned(),
        RequestState::Revoked => format!("Revoked by {}", by("an approver")),
        RequestState::Withdrawn => format!("Withdrawn by {}", by(request.requester.as_str())),
        RequestState::Failed => "Failed".to_owned(),
    };
    let mut notes = Vec::new();
    if let Some(reason) = &request.deny_reason {
        notes.push(format!("Reason: {reason}"));
    }
    if let Some(extension) = &request.extension {
        notes.push(format!(
            "Extension requested: +{} · {} · {} of {} approvals",
            format_duration(extension.ttl_seconds),
            extension.reason,
            extension.approvals.len(),
            required
        ));
    }
    if request.state == RequestState::Failed
        && let Some(reason) = &request.end_reason
    {
        notes.push(format!("Error: {reason}"));
    }
    if request.state.is_terminal() {
        notes.push(
            match request.credentials {
                CredentialsStatus::None => "No credentials were created.",
                CredentialsStatus::Cleaned => "Credentials deleted.",
                CredentialsStatus::CleanupFailed => "Deleting credentials failed; Janus keeps retrying.",
                _ => "Deleting credentials…",
            }
            .to_owned(),
        );
    }
    let ttl_options = policy.approval_ttl_choices();
    let actions = card_actions(request)
        .into_iter()
        .flat_map(|action| CardAction::controls(action, !ttl_options.is_empty()))
        .collect();
    Card {
        request_id: request.id.to_string(),
        state: request.state,
        title: format!("Access request {}", request.id),
        headline,
        requester: request.requester.to_string(),
        cluster: request.cluster.clone(),
        namespaces: request.namespaces.clone(),
        ttl,
        reason: request.reason.clone(),
        notes,
        expires_at: (request.state == RequestState::Active)
            .then_some(request.expires_at)
            .flatten(),
        actions,
        ttl_options,
    }
}

/// The one-line message a requester gets about an event, if any.
pub fn direct_message(request: &AccessRequest, event: AuditAction) -> Option<String> {
    let id = &request.id;
    let text = match event {
        AuditAction::RequestApproved => format!("Your request {id} was approved; access is being set up."),
        AuditAction::RequestDenied => match &request.deny_reason {
            Some(reason) => format!("Your request {id} was denied: {reason}"),
            None => format!("Your request {id} was denied."),
        },
        AuditAction::GrantSucceeded => match request.expires_at {
            Some(at) => format!(
                "Your access for {id} is active until {} UTC.",
                at.format("%Y-%m-%d %H:%M")
            ),
            None => format!("Your access for {id} is active."),
        },
        AuditAction::RequestExpiring if request.state == RequestState::Active => {
            format!("Your access for {id} ends in less than 10 minutes.")
        }
        AuditAction::RequestExpired => {
            format!("Your access for {id} has expired; its credentials are being deleted.")
        }
        AuditAction::RequestRevoked => format!("Your access for {id} was revoked."),
        AuditAction::RequestFailed | AuditAction::GrantFailed if request.state == RequestState::Failed => {
            format!(
                "Your request {id} failed: {}",
                request
                    .end_reason
                    .as_deref()
                    .unwrap_or("the agent reported an error")
            )
        }
        AuditAction::ExtensionApproved => format!("The extension of {id} was approved."),
        AuditAction::ExtensionDenied => format!("The extension of {id} was denied."),
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
pub(crate) mod samples;
