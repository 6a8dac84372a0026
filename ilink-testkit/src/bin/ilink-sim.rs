//! `ilink-sim`: the iLink server simulator as a standalone process.

fn main() {}
