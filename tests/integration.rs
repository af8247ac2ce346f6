//! End-to-end tests (being built).
mod dicom_reader;
mod dicom_writer;
mod pipeline_l3;
mod pipeline_phantom;
mod pipeline_tissue;
