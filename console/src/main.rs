//! idoctor entry point (being built).

fn main() {}
