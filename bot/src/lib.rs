//! `janus-bot`: the chat adapters.
//!
//! - [`card`]: the one card model of a request, rendered by each platform.
//! - [`slack`]: Slack — signed slash commands and interactions, approval cards kept in
//!   sync through the outbox (`janus_core::outbox::Notifier`), direct messages and the
//!   terminal link in the card's thread.
//!
//! Adapters turn chat input into `janus_core::workflow::Workflow` commands for an
//! authenticated `Principal`, and `Notifier` deliveries into chat messages. They decide
//! nothing: every authorization decision is the workflow's.

pub mod card;
pub mod slack;
