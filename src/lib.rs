//! The `janus` package's library: what the binary wires together and the tests reuse.
//!
//! - [`embedded`]: the agent `janus serve` runs in-process (`agent.embedded`) and its
//!   [`embedded::InProcessCentral`], which calls the workflow directly. It lives here, with
//!   the binary, so that `janus-agent` never links the engine.

pub mod embedded;
