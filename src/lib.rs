//! The `janus` package's library: what the binary, the benchmarks and the integration tests
//! share.
//!
//! - [`central`]: [`central::Central::builder`], the one way to start central.
//! - [`embedded`]: the agent `janus serve` runs in-process (`agent.embedded`) and its
//!   [`embedded::InProcessCentral`], which calls the workflow directly. It lives here, with
//!   the binary, so that `janus-agent` never links the engine.

pub mod central;
pub mod embedded;
