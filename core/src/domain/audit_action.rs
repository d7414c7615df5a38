//! [`AuditAction`]: what an audit event records, as a type.
//!
//! Every event Janus appends names one of these. The stable string form (`request.approved`)
//! is what the audit log stores and exports, what searches filter on, and what the hash
//! chain covers; it never changes for an existing action.

use std::fmt;

macro_rules! audit_actions {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// What an audit event records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)*
        }

        impl AuditAction {
            /// Every action, in declaration order.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The stable form stored in the audit log and exported.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $text,)*
                }
            }
        }
    };
}

audit_actions! {
    RequestSubmitted => "request.submitted",
    /// One approval of several required.
    RequestApprovalRecorded => "request.approval_recorded",
    RequestApproved => "request.approved",
    RequestDenied => "request.denied",
    RequestWithdrawn => "request.withdrawn",
    RequestRevoked => "request.revoked",
    RequestExpired => "request.expired",
    RequestFailed => "request.failed",
    /// The scheduler's warning shortly before expiry: a chat notice, never an audit event.
    RequestExpiring => "request.expiring",
    GrantSucceeded => "grant.succeeded",
    GrantFailed => "grant.failed",
    CleanupSucceeded => "cleanup.succeeded",
    CleanupFailed => "cleanup.failed",
    ExtensionRequested => "extension.requested",
    ExtensionApprovalRecorded => "extension.approval_recorded",
    ExtensionApproved => "extension.approved",
    ExtensionDenied => "extension.denied",
    /// The workflow refused a person's command (not an approver, self-approval, …).
    CommandRefused => "command.refused",
    AuthRefused => "auth.refused",
    AuthSignedIn => "auth.signed_in",
    AuthSignedOut => "auth.signed_out",
    AuthSignedOutEverywhere => "auth.signed_out_everywhere",
    AuthLocalPasswordSet => "auth.local_password_set",
    ApiTokenCreated => "api_token.created",
    ApiTokenRevoked => "api_token.revoked",
    LinkRedeemed => "link.redeemed",
    LinkRejected => "link.rejected",
    AgentJoinTokenCreated => "agent.join_token_created",
    AgentEnrolled => "agent.enrolled",
    AgentRejected => "agent.rejected",
    ChatIdentityRefused => "chat.identity_refused",
    ChatRequestRejected => "chat.request_rejected",
    DiscordLinked => "discord.linked",
    DiscordUnlinked => "discord.unlinked",
    DiscordLinkRejected => "discord.link_rejected",
    QuickCommandCreated => "quick_command.created",
    QuickCommandUpdated => "quick_command.updated",
    QuickCommandDeleted => "quick_command.deleted",
    TerminalOpened => "terminal.opened",
    TerminalClosed => "terminal.closed",
    TerminalCommand => "terminal.command",
    TerminalRefused => "terminal.refused",
    TerminalWatched => "terminal.watched",
    /// Someone downloaded the audit log.
    AuditExported => "audit.exported",
}

impl AuditAction {
    /// The action whose stable form is `text`, if any.
    pub fn parse(text: &str) -> Option<AuditAction> {
        AuditAction::ALL
            .iter()
            .copied()
            .find(|action| action.as_str() == text)
    }

    /// A decision that ended a request or moved it on (`request.*` other than submission):
    /// whose actor a card names ("Revoked by …").
    pub fn is_request_decision(self) -> bool {
        self.as_str().starts_with("request.") && self != AuditAction::RequestSubmitted
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::AuditAction;

    #[test]
    fn every_action_reads_back_from_its_stable_form_and_forms_are_unique() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(*action));
        }
        let mut forms: Vec<&str> = AuditAction::ALL.iter().map(|action| action.as_str()).collect();
        forms.sort_unstable();
        forms.dedup();
        assert_eq!(forms.len(), AuditAction::ALL.len());
        assert_eq!(AuditAction::parse("request.nonsense"), None);
    }
}
