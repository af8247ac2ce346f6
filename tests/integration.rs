//! End-to-end tests (being built).
mod dicom_reader;
mod pipeline_l3;
mod pipeline_tissue;
