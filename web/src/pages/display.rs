//! How requests and times read on a page: times in `janus.displayTimezone`, states as words,
//! and which buttons a viewer sees. Buttons are only a hint; every command is authorized again by
//! the workflow when it arrives.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use janus_core::domain::{AccessRequest, Action, Actor, Policy, RequestState, available_actions};
use janus_core::duration::format_duration;

use crate::auth::Viewer;

/// The time zone pages show times in. An unknown name (the configuration check refuses those)
/// falls back to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(Tz);

impl Zone {
    pub fn from_name(name: &str) -> Zone {
        match name.parse::<Tz>() {
            Ok(zone) => Zone(zone),
            Err(_) => {
                tracing::warn!(zone = name, "unknown janus.displayTimezone; showing times in UTC");
                Zone(Tz::UTC)
            }
        }
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// `2030-01-01 14:03 CET`.
    pub fn format(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.0).format("%Y-%m-%d %H:%M %Z").to_string()
    }

    /// `14:03:07` for timelines, with the date kept in [`Moment::iso`].
    pub fn format_long(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.0)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }

    /// Midnight at the start of `date` in this zone (for date filters).
    pub fn start_of(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        self.at_local(date.and_hms_opt(0, 0, 0)?)
    }

    /// A wall-clock time in this zone (the earlier one when a clock change repeats it).
    pub fn at_local(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        self.0
            .from_local_datetime(&local)
            .earliest()
            .map(|local| local.with_timezone(&Utc))
    }

    /// `2030-01-31` (midnight) or `2030-01-31T13:05` (as `<input type="datetime-local">` sends it),
    /// read in this zone.
    pub fn parse_local(&self, text: &str) -> Option<DateTime<Utc>> {
        let text = text.trim();
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return self.start_of(date);
        }
        ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
            .into_iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
            .and_then(|local| self.at_local(local))
    }

    pub fn moment(&self, at: DateTime<Utc>) -> Moment {
        Moment {
            iso: janus_core::time::format_rfc3339(at),
            text: self.format(at),
        }
    }
}

/// A time as a page shows it: `<time datetime="{iso}">{text}</time>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    pub iso: String,
    pub text: String,
}

/// The state as words (never only a colour).
pub fn state_label(state: RequestState) -> &'static str {
    match state {
        RequestState::Pending => "Pending approval",
        RequestState::Approved => "Approved, granting",
        RequestState::Active => "Active",
        RequestState::Expired => "Expired",
        RequestState::Denied => "Denied",
        RequestState::Revoked => "Revoked",
        RequestState::Withdrawn => "Withdrawn",
        RequestState::Failed => "Failed",
    }
}

/// One approval, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalView {
    pub by: String,
    pub at: Moment,
    pub ttl: Option<String>,
    pub reason: Option<String>,
}

/// A waiting extension, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionView {
    pub ttl: String,
    pub reason: String,
    pub requested: Moment,
}

/// A request as a page shows it to one viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestView {
    pub id: String,
    pub requester: String,
    pub cluster: String,
    pub namespaces: Vec<String>,
    pub profile: String,
    /// `pending`, `active`, … (for CSS and the expected-state form field).
    pub state: &'static str,
    pub state_label: &'static str,
    pub credentials: &'static str,
    pub ttl: String,
    /// What was asked, when an approver chose a shorter TTL.
    pub requested_ttl: Option<String>,
    pub reason: String,
    pub created: Moment,
    pub decided: Option<Moment>,
    pub activated: Option<Moment>,
    pub expires: Option<Moment>,
    pub ended: Option<Moment>,
    /// Time left on an Active request (`1h20m`).
    pub remaining: Option<String>,
    pub approvals: Vec<ApprovalView>,
    pub approvals_required: u32,
    pub deny_reason: Option<String>,
    pub end_reason: Option<String>,
    pub extension: Option<ExtensionView>,
    pub extensions: u32,
    pub mine: bool,
    pub can_withdraw: bool,
    pub can_extend: bool,
    pub can_approve: bool,
    pub can_deny: bool,
    pub can_revoke: bool,
    pub can_decide_extension: bool,
}

impl RequestView {
    pub fn new(
        request: &AccessRequest,
        viewer: &Viewer,
        policy: &Policy,
        zone: Zone,
        now: DateTime<Utc>,
    ) -> RequestView {
        RequestView::for_actor(request, &viewer.actor(), policy, zone, now)
    }

    /// The view for `actor`; the buttons are the domain's [`available_actions`], the same
    /// answer the chat cards render.
    pub fn for_actor(
        request: &AccessRequest,
        actor: &Actor,
        policy: &Policy,
        zone: Zone,
        now: DateTime<Utc>,
    ) -> RequestView {
        let state = request.state;
        let mine = actor.person() == Some(&request.requester);
        let actions = available_actions(request, actor, policy, now);
        let can = |action: Action| actions.contains(&action);
        let remaining = request.remaining(now);
        RequestView {
            id: request.id.to_string(),
            requester: request.requester.to_string(),
            cluster: request.cluster.clone(),
            namespaces: request.namespaces.clone(),
            profile: request.profile.clone(),
            state: state.as_str(),
            state_label: state_label(state),
            credentials: request.credentials.as_str(),
            ttl: format_duration(request.ttl_seconds),
            requested_ttl: (request.requested_ttl_seconds != request.ttl_seconds)
                .then(|| format_duration(request.requested_ttl_seconds)),
            reason: request.reason.clone(),
            created: zone.moment(request.created_at),
            decided: request.decided_at.map(|at| zone.moment(at)),
            activated: request.activated_at.map(|at| zone.moment(at)),
            expires: request.expires_at.map(|at| zone.moment(at)),
            ended: request.ended_at.map(|at| zone.moment(at)),
            remaining: (state == RequestState::Active && remaining.num_seconds() > 0)
                .then(|| format_duration(u64::try_from(remaining.num_seconds()).unwrap_or(0))),
            approvals: request
                .approvals
                .iter()
                .map(|approval| ApprovalView {
                    by: approval.by.to_string(),
                    at: zone.moment(approval.at),
                    ttl: approval.ttl_seconds.map(format_duration),
                    reason: approval.reason.clone(),
                })
                .collect(),
            approvals_required: policy.approvals_required(&request.cluster),
            deny_reason: request.deny_reason.clone(),
            end_reason: request.end_reason.clone(),
            extension: request.extension.as_ref().map(|extension| ExtensionView {
                ttl: format_duration(extension.ttl_seconds),
                reason: extension.reason.clone(),
                requested: zone.moment(extension.requested_at),
            }),
            extensions: request.extensions,
            mine,
            can_withdraw: can(Action::Withdraw),
            can_extend: can(Action::Extend),
            can_approve: can(Action::Approve),
            can_deny: can(Action::Deny),
            can_revoke: can(Action::Revoke),
            can_decide_extension: can(Action::ApproveExtension) || can(Action::DenyExtension),
        }
    }

    pub fn has_actions(&self) -> bool {
        self.can_withdraw
            || self.can_extend
            || self.can_approve
            || self.can_deny
            || self.can_revoke
            || self.can_decide_extension
    }

    pub fn namespaces_text(&self) -> String {
        self.namespaces.join(", ")
    }
}

/// A TTL menu as (seconds, label), for choices core made (`Policy::approval_ttl_choices`).
pub fn ttl_menu(choices: Vec<u64>) -> Vec<(u64, String)> {
    choices
        .into_iter()
        .map(|seconds| (seconds, format_duration(seconds)))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::Zone;

    #[test]
    fn times_show_in_the_display_zone_and_utc_always_works() {
        let at = chrono::Utc.with_ymd_and_hms(2030, 1, 15, 13, 5, 0).unwrap();
        assert_eq!(Zone::from_name("UTC").format(at), "2030-01-15 13:05 UTC");
        assert_eq!(Zone::from_name("Europe/Paris").format(at), "2030-01-15 14:05 CET");
        assert_eq!(Zone::from_name("Not/AZone").format(at), "2030-01-15 13:05 UTC");
        let paris = Zone::from_name("Europe/Paris");
        let day = chrono::NaiveDate::from_ymd_opt(2030, 1, 15).unwrap();
        assert_eq!(
            paris.start_of(day).unwrap(),
            chrono::Utc.with_ymd_and_hms(2030, 1, 14, 23, 0, 0).unwrap()
        );
    }
}
