//! End-to-end tests (being built).
mod dicom_reader;
