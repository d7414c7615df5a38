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
