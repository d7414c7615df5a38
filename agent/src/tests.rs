//! Agent tests against the fake Kubernetes API server.
