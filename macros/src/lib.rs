//! Attribute macros for `ilink-framework` command routes (`#[commands]`, `#[command]`).
//!
//! The macros arrive with the command-routes issue; this crate exists so the
//! workspace layout is final from the start.
