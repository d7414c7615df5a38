//! The one test harness. [`TestApp`] starts central through `janus::central::Central::builder`
//! — the way `janus serve` does — from the configuration a story shows (the policy is always
//! derived from it), on SQLite or PostgreSQL, with a manual clock, and with the parts a story
//! opts into: an agent and the fake Kubernetes API server with given RBAC
//! ([`cluster`]), fake Slack ([`slack`]), fake Discord ([`discord`]); plus web sign-in
//! ([`web`]) and the terminal's browser protocol ([`terminal`]). Suites share nothing else.

pub mod agent_client;
pub mod app;
pub mod backend;
pub mod chat;
pub mod cluster;
pub mod discord;
pub mod slack;
pub mod terminal;
pub mod web;

pub use app::{STANDARD, TestApp, parse_config};
pub use backend::{Backend, TempDir, install_crypto};
pub(crate) use backend::{both_backends, on_both_backends};

use janus_core::domain::{Draft, Principal};

pub fn person(email: &str) -> Principal {
    janus_core::test_support::person(email)
}

/// A web draft for `namespaces` of `cluster` (the domain's shared test draft: one hour,
/// "investigating 500s on /pay").
pub fn draft(cluster: &str, namespaces: &[&str]) -> Draft {
    Draft::test(cluster, namespaces)
}

/// Reads `lines` (a child's output) until one starts with `prefix`: the rest of that line. Fails
/// with `expected` when the output ends first.
pub async fn rest_of_line<R>(lines: &mut tokio::io::Lines<R>, prefix: &str, expected: &str) -> String
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    loop {
        let line = lines.next_line().await.unwrap().expect(expected);
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
}
