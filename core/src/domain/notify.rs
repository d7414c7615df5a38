//! What a change tells people through chat: the notices a transition implies.
//!
//! Every accepted change refreshes the request's card on each enabled chat channel; some
//! also message the requester directly or post the terminal link. The store writes the
//! notices into the notification outbox in the same transaction as the change, and the
//! outbox worker delivers them (`crate::outbox`), so a chat outage delays a message but
//! never loses it.

use super::{AuditAction, NewEvent, Policy};

/// What kind of message a notice becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// Post the request's card, or update it in place once posted.
    Card,
    /// A direct message to the requester about what happened.
    DirectMessage,
    /// The signed terminal link: in the card's thread, or privately to the requester.
    TerminalLink,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Card => "card",
            NoticeKind::DirectMessage => "dm",
            NoticeKind::TerminalLink => "link",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            NoticeKind::Card,
            NoticeKind::DirectMessage,
            NoticeKind::TerminalLink,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == raw)
    }
}

/// One message to deliver on one chat channel (`slack`, `discord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub channel: String,
    pub kind: NoticeKind,
    /// The audit action that caused it (`request.approved`, …).
    pub event: AuditAction,
}

/// The event the scheduler raises shortly before an Active request expires.
pub const EXPIRING: AuditAction = AuditAction::RequestExpiring;

/// How long before `expires_at` the requester is warned.
pub const EXPIRY_WARNING_SECONDS: u64 = 600;

/// The notices `events` imply on every channel the policy enables.
pub fn notices(policy: &Policy, events: &[NewEvent]) -> Vec<Notice> {
    let mut notices = Vec::new();
    for channel in &policy.notify_channels {
        for event in events {
            for kind in kinds(event.action) {
                notices.push(Notice {
                    channel: channel.clone(),
                    kind,
                    event: event.action,
                });
            }
        }
    }
    notices
}

/// Every change refreshes the card; these also reach the requester. A withdrawal was the
/// requester's own doing, so it only updates the card.
fn kinds(action: AuditAction) -> Vec<NoticeKind> {
    match action {
        AuditAction::GrantSucceeded => vec![
            NoticeKind::Card,
            NoticeKind::DirectMessage,
            NoticeKind::TerminalLink,
        ],
        AuditAction::RequestApproved
        | AuditAction::RequestDenied
        | AuditAction::RequestExpired
        | AuditAction::RequestRevoked
        | AuditAction::RequestFailed
        | AuditAction::GrantFailed
        | AuditAction::ExtensionApproved
        | AuditAction::ExtensionDenied => {
            vec![NoticeKind::Card, NoticeKind::DirectMessage]
        }
        EXPIRING => vec![NoticeKind::DirectMessage],
        _ => vec![NoticeKind::Card],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(action: AuditAction) -> NewEvent {
        NewEvent {
            action,
            actor: "system".to_owned(),
            request_id: None,
            cluster: None,
            details: json!({}),
        }
    }

    #[test]
    fn no_channel_means_no_notice() {
        assert!(notices(&Policy::default(), &[event(AuditAction::RequestApproved)]).is_empty());
    }

    #[test]
    fn each_channel_gets_the_card_and_the_requester_hears_of_decisions() {
        let policy = Policy {
            notify_channels: vec!["slack".to_owned(), "discord".to_owned()],
            ..Policy::default()
        };
        let kinds_for = |action| {
            notices(&policy, &[event(action)])
                .into_iter()
                .filter(|notice| notice.channel == "slack")
                .map(|notice| notice.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds_for(AuditAction::RequestSubmitted), vec![NoticeKind::Card]);
        assert_eq!(kinds_for(AuditAction::RequestWithdrawn), vec![NoticeKind::Card]);
        assert_eq!(
            kinds_for(AuditAction::RequestApprovalRecorded),
            vec![NoticeKind::Card]
        );
        assert_eq!(
            kinds_for(AuditAction::RequestRevoked),
            vec![NoticeKind::Card, NoticeKind::DirectMessage]
        );
        assert_eq!(
            kinds_for(AuditAction::GrantSucceeded),
            vec![
                NoticeKind::Card,
                NoticeKind::DirectMessage,
                NoticeKind::TerminalLink
            ]
        );
        assert_eq!(kinds_for(EXPIRING), vec![NoticeKind::DirectMessage]);
        assert_eq!(notices(&policy, &[event(AuditAction::RequestDenied)]).len(), 4);
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in [
            NoticeKind::Card,
            NoticeKind::DirectMessage,
            NoticeKind::TerminalLink,
        ] {
            assert_eq!(NoticeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(NoticeKind::parse("fax"), None);
    }
}
