//! `janus-bot`: the chat adapters.
//!
//! - [`card`]: the one card model of a request, rendered by each platform.
//! - [`chat`]: what the adapters share (acting as a person, auditing refusals).
//! - [`discord`]: Discord — Ed25519-verified interactions (application commands, buttons,
//!   modals), the card as an embed edited in place, DMs, account linking through SSO.
//! - [`slack`]: Slack — signed slash commands and interactions, approval cards kept in
//!   sync through the outbox (`janus_core::outbox::Notifier`), direct messages and the
//!   terminal link in the card's thread.
//!
//! Adapters turn chat input into `janus_core::workflow::Workflow` commands for an
//! authenticated `Principal`, and `Notifier` deliveries into chat messages. They decide
//! nothing: every authorization decision is the workflow's.

pub mod card;
pub mod chat;
pub mod discord;
pub mod notifier;
pub mod slack;
