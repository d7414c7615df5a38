//! Tests of the fake Kubernetes API server (being written).
