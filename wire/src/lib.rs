//! `janus-wire`: what central and its agents both speak, and nothing of the engine.
//!
//! - [`agent_protocol`]: the agent API's bodies, headers and request signing; [`agent_protocol::WorkKind`].
//! - [`terminal`]: the terminal session's control messages, close reasons and diagnostics.
//! - [`agent_config`]: the agent's section of the configuration.
//! - [`clock`]: the `Clock` port; the only code that reads the system clock.
//! - [`secret`]: strings that print as `***`. [`digest`]: hex and SHA-256.
//! - [`names`]: DNS-1123 labels. [`time`]: microsecond timestamps and their RFC 3339 form.
//!
//! `janus-core` re-exports each of these at its old path (`janus_core::clock`, …). This crate
//! names no database, web, chat or Kubernetes type, and no part of the workflow (a test walks
//! `janus-agent`'s dependency graph).

pub mod agent_config;
pub mod agent_protocol;
pub mod clock;
pub mod digest;
pub mod names;
pub mod secret;
pub mod terminal;
pub mod time;
