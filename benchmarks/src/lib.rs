//! Benchmarks of ilink-rs; the code is in `benches/`, the guide in `docs/benchmarks.md`.
//!
//! ```text
//! cargo bench -p ilink-benchmarks --bench micro          # criterion micro benchmarks
//! ILINK_BENCH_SCALE=small cargo bench -p ilink-benchmarks --bench e2e   # P1..P5, reduced
//! ILINK_BENCH_SCALE=full  cargo bench -p ilink-benchmarks --bench e2e p2 # one scenario, full size
//! ```
//!
//! This library is empty on purpose: the package exists for its bench targets.
