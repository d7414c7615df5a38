//! `janus-core`: everything Janus decides, and where it keeps it.
//!
//! - [`domain`]: requests, states, policy and the one transition function (no I/O).
//! - [`workflow`]: the engine that applies commands through the store, atomically.
//! - [`store`]: the store port (role traits) and its SQLite and PostgreSQL backends (sqlx),
//!   chosen once from the URL.
//! - [`audit`]: the hash-chained, append-only audit log and its verifier.
//! - [`queue`]: the agent work queue and the wake-up signal for long-polls.
//! - [`outbox`]: the `Notifier` port and the worker that delivers chat notices.
//! - [`scheduler`]: expiry, pending auto-deny, grant timeout, cleanup retry, retention.
//! - [`accounts`]: sessions, API tokens, the local admin, spent links (sign-in storage).
//! - [`links`]: signed terminal links. [`config`]: the YAML contract.
//! - [`quick_commands`]: per-cluster commands a terminal sends with a click (checks; SQL in the store).
//! - [`duration`]: `90m | 2h | 3600` as typed by people, one parser for every channel.
//! - `test_support` (feature `test-support`): the request builder every crate's tests share.
//! - [`enrollment`]: whether a join token may enroll a cluster's agent (pure rules).
//!
//! From [`janus_wire`] (the types the agent shares, re-exported at their old paths):
//! [`agent_protocol`], [`clock`], [`secret`], [`digest`]; [`terminal`] and [`time`] add
//! central's parts to theirs.
//!
//! This crate names no web, chat or Kubernetes type (a test checks its dependencies).

pub mod accounts;
pub mod audit;
pub mod config;
pub mod domain;
pub mod duration;
pub mod enrollment;
pub mod links;
pub mod metrics;
pub mod outbox;
pub mod queue;
pub mod quick_commands;
pub mod scheduler;
pub mod store;
pub mod terminal;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod time;
pub mod workflow;

pub use janus_wire::{agent_protocol, clock, digest, secret};
