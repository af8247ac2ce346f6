//! The measurement pipeline: `Volume` → sagittal → L3 → tissues → metrics → outputs.
//!
//! Plain synchronous Rust over `ndarray`; the daemon runs it on a blocking pool.

pub mod l3;
pub mod labels;
pub mod metrics;
pub mod render;
pub mod sagittal;
pub mod tissue;
