//! Helm chart tests (being written).
