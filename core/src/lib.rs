//! `janus-core`: everything Janus decides, and where it keeps it.
//!
//! - [`domain`]: requests, states, policy and the one transition function (no I/O).
//! - [`workflow`]: the engine that applies commands through the store, atomically.
//! - [`store`]: SQLite or PostgreSQL (sqlx), chosen once from the URL.
//! - [`audit`]: the hash-chained, append-only audit log and its verifier.
//! - [`queue`]: the agent work queue and the wake-up signal for long-polls.
//! - [`outbox`]: the `Notifier` port and the worker that delivers chat notices.
//! - [`scheduler`]: expiry, pending auto-deny, grant timeout, cleanup retry, retention.
//! - [`accounts`]: sessions, API tokens, the local admin, spent links (sign-in storage).
//! - [`links`]: signed terminal links. [`config`]: the YAML contract.
//! - [`clock`]: the `Clock` port; the only code that reads the system clock.
//! - [`quick_commands`]: per-cluster commands a terminal sends with a click (checks; SQL in the store).
//! - [`duration`]: `90m | 2h | 3600` as typed by people, one parser for every channel.
//! - `test_support` (feature `test-support`): the request builder every crate's tests share.
//!
//! This crate names no web, chat or Kubernetes type (a test checks its dependencies).

pub mod accounts;
pub mod agent_protocol;
pub mod audit;
pub mod clock;
pub mod config;
pub mod digest;
pub mod domain;
pub mod duration;
pub mod links;
pub mod metrics;
pub mod outbox;
pub mod queue;
pub mod quick_commands;
pub mod scheduler;
pub mod secret;
pub mod store;
pub mod terminal;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod time;
pub mod workflow;
