//! Snapshot tests of rendered pages.
