//! `janus-bot`: the chat adapters.
//!
//! Owns Slack (slack-morphism) and Discord (serenity) integration: parsing slash commands
//! and interactions, verifying request signatures, rendering the shared approval card,
//! and implementing core's `Notifier` port (posting and updating cards, thread replies
//! and DMs). It depends only on `janus-core` and never touches the database directly.
//!
//! Nothing is implemented here yet: the Slack and Discord issues build it.
