//! End-to-end tests (being built).

mod dicom_reader;
mod pipeline_tissue;
