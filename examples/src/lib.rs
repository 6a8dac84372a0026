//! Example bots for ilink-rs; each file under `examples/` teaches one thing.
