//! A faithful iLink Bot server simulator for tests, examples and benchmarks.
