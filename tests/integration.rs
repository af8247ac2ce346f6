//! End-to-end tests (being built).

mod pipeline_tissue;
