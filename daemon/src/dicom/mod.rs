//! Reading CT series: DICOM instances in, a sorted HU [`Volume`] out.
//!
//! The flow is [`discover`] (walk folders, read headers only, group by series, reject
//! what is not a CT slice) → [`load_series`] (check and order the stack from headers,
//! then decode every slice in parallel straight into the volume). Ingest uses
//! [`read_header`] alone to route files, and [`sanitize_uid`] to build paths.
//!
//! Modules, smallest first: [`error`] (why something failed), [`uid`] (UIDs as path
//! components, new UIDs), `reader` (file start and lazy token walk), [`header`]
//! (`InstanceHeader`), [`decode`] (pixels → HU), [`geometry`] (normal, sorting, gaps,
//! tilt, flips), [`meta`] (height, sex, age), [`assemble`] (the volume), [`discover`]
//! (files → series), [`write`] (Secondary Capture and SEG for the outbox). Everything here is pure and synchronous: callers run it on a
//! blocking pool.

pub mod assemble;
pub mod decode;
pub mod discover;
pub mod error;
pub mod geometry;
pub mod header;
pub mod meta;
mod reader;
pub mod uid;
pub mod volume;
pub mod write;

pub use assemble::{
    CanonicalSlice, Instance, LoadOptions, assemble, load_series, load_series_with, load_slice,
    read_headers,
};
pub use decode::{DecodeScratch, Flips, decode_into};
pub use discover::{DiscoveredSeries, Discovery, discover};
pub use error::{DicomError, JPEG_LS_SUPPORTED};
pub use header::{InstanceHeader, read_header};
pub use reader::PixelDataLocation;
pub use uid::{new_uid, sanitize_uid};
pub use volume::{SeriesMeta, Volume};
pub use write::{
    LabelSlice, OutputSeries, RgbImage, SourceSeries, WriteError, secondary_capture, segmentation,
    write_atomically,
};
