//! idoctord: the iDoctor daemon as a library, so tests and benchmarks can drive every
//! part of it in process.
//!
//! `dicom` and `pipeline` are pure: they never see the database or the RPC layer.

pub mod accounts;
pub mod analyze;
pub mod auth;
pub mod bench;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod dicom;
pub mod ingest;
pub mod jobs;
pub mod paths;
pub mod phantom;
pub mod pipeline;
pub mod quota;
pub mod rpc;
pub mod state;
pub mod store;
pub mod tls;
