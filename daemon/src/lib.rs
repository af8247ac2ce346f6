//! idoctord: the iDoctor daemon as a library, so tests and benchmarks can drive every
//! part of it in process.
//!
//! `dicom` and `pipeline` are pure: they never see the database or the RPC layer.

pub mod analyze;
pub mod dicom;
pub mod phantom;
pub mod pipeline;
