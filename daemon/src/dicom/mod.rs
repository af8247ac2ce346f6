//! Reading CT series: DICOM instances in, a sorted HU [`Volume`] out.

pub mod uid;
pub mod volume;

pub use volume::{SeriesMeta, Volume};
