//! Janus's one integration-test binary. Add modules here, not new test binaries.
//!
//! Suites marked "both backends" run on SQLite and on PostgreSQL. The PostgreSQL variant
//! uses the server named by `JANUS_TEST_POSTGRES_URL` (default: the local one on
//! 127.0.0.1:5432) and is skipped with a note when none answers — unless
//! `JANUS_REQUIRE_POSTGRES=1`, as `.ci/run` sets, which turns a missing server into a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod accounts;
mod agent_api;
mod agent_identity;
mod api;
mod architecture;
mod audit;
mod authz_matrix;
mod chart;
mod cli;
mod concurrency;
mod decisions;
mod discord;
mod discord_link;
mod fake_kube;
mod grants;
mod outbox;
mod pages;
mod scheduler;
mod serve;
mod slack;
mod store_conformance;
mod support;
mod terminal;
mod web_auth;
mod web_links;
mod web_sessions;
