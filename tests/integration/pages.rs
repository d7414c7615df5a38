//! The dashboard over real HTTP: central on port 0 with a manual clock, people signed in with real
//! server-side sessions, forms posted as a browser would (with and without htmx).

mod access;
mod browser;
mod commands;
mod export;
mod forms;
mod live;
mod terminal_browser;
mod terminal_page;

use crate::support::Backend;
pub use crate::support::TestApp;
pub(crate) use crate::support::on_both_backends;
pub use crate::support::web::{Browser, Page};

/// People in [`dashboard_config`]: alice and erin request; bob, carol and dave approve `prod`
/// and `quorum`; admin@example.com is an admin.
pub const ALICE: &str = "alice@example.com";
pub const BOB: &str = "bob@example.com";
pub const ERIN: &str = "erin@example.com";
pub const ADMIN: &str = "admin@example.com";

/// The dashboard's configuration, plus `extra` top-level YAML.
pub fn dashboard_yaml(extra: &str) -> String {
    format!(
        "janus:\n  adminEmails: [admin@example.com]\n  displayTimezone: Europe/Paris\n  \
         limits: {{ requestsPerHour: 1000, liveRequestsPerUser: 100 }}\n\
         clusters:\n  - name: prod\n    displayName: Production\n    \
         approvers: [bob@example.com, carol@example.com, dave@example.com]\n\
         \x20 - name: quorum\n    approvers: [bob@example.com, carol@example.com, dave@example.com]\n    \
         approvalsRequired: 2\n{extra}"
    )
}

/// Central serving the dashboard on `backend` (`None` when PostgreSQL is not available).
pub async fn dashboard(backend: Backend) -> Option<TestApp> {
    TestApp::builder()
        .backend(backend)
        .config(dashboard_yaml(""))
        .try_start()
        .await
}
