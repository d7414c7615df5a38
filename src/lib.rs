//! The `janus` package's library: what the binary, the benchmarks and the integration tests
//! share. [`central::Central::builder`] is the one way to start central.

pub mod central;
