//! `janus-agent`: the in-cluster agent.
//!
//! Owns everything that touches a Kubernetes API server: it long-polls central for grant
//! and cleanup work of its one cluster, creates and deletes the ServiceAccount and
//! RoleBinding of each grant, mints short-lived tokens with TokenRequest (kept in memory
//! only), runs its own expiry sweeper, and opens `pods/exec` streams with the grant's
//! token for the web terminal. It uses only core's shared wire types; no SQL.
//!
//! Nothing is implemented here yet: the agent issue builds it.
