//! idoctord entry point (being built).

fn main() {}
