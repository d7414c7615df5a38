//! What every page's frame (`base.html`) needs: who is signed in, the navigation they may use, the
//! CSRF token for forms, asset URLs and the display time zone.

use super::display::Zone;
use crate::AppState;
use crate::assets::{AssetUrls, urls};
use crate::auth::Viewer;

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Home,
    Admin,
    Audit,
    Clusters,
    Commands,
    Settings,
    None,
}

#[derive(Debug, Clone)]
pub struct Shell {
    pub title: String,
    pub nav: Nav,
    pub email: String,
    pub is_admin: bool,
    /// Approves at least one cluster (or is an admin): sees `/admin`.
    pub is_approver: bool,
    /// Sent back by every form as `_csrf`.
    pub csrf: String,
    pub assets: &'static AssetUrls,
    pub zone: Zone,
}

impl Shell {
    pub fn new(state: &AppState, viewer: &Viewer, title: impl Into<String>, nav: Nav) -> Shell {
        Shell {
            title: title.into(),
            nav,
            email: viewer.principal.to_string(),
            is_admin: viewer.is_admin,
            is_approver: state.workflow.policy().approves_anything(&viewer.actor()),
            csrf: viewer.csrf_token().to_owned(),
            assets: urls(),
            zone: zone(state),
        }
    }

    /// `aria-current="page"` on the current navigation entry.
    pub fn current(&self, entry: &str) -> &'static str {
        let current = match self.nav {
            Nav::Home => "home",
            Nav::Admin => "admin",
            Nav::Audit => "audit",
            Nav::Clusters => "clusters",
            Nav::Commands => "commands",
            Nav::Settings => "settings",
            Nav::None => "",
        };
        if current == entry { "page" } else { "false" }
    }

    pub fn zone_name(&self) -> &'static str {
        self.zone.name()
    }
}

/// The display zone of this server (`janus.displayTimezone`).
pub fn zone(state: &AppState) -> Zone {
    Zone::from_name(&state.config.janus.display_timezone)
}
