//! Domain tests (being written).
