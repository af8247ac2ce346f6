//! Benchmarks behind `idoctord bench …`: measured figures, printed as a table or JSON.
//! Speed and memory are reported here, never asserted in timed tests.

pub mod ingest;
pub mod quota;
