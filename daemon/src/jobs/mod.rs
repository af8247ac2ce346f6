//! Jobs: the queue (claimed with leases), the worker pool, the state machine, and
//! operator actions.
//!
//! States: `queued → running(stage) → awaiting_review → queued(continue) → running →
//! done`, or `failed` (retried with backoff for system errors, then refunded), `held`
//! (a quota refused; resumes by itself), `cancelled`. The database is the only source
//! of truth; see `worker.rs` for leases and `actions.rs` for what operators may do.

pub mod actions;
pub mod execute;
pub mod views;
pub mod worker;

pub use worker::run_workers;
