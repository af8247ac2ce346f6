//! The one integration test binary: real daemons, real sockets, real databases, real
//! files. Postgres cases run when `IDOCTOR_TEST_PG` is set (CI sets it).

mod cli_oneshot;
mod common;
mod dicom_reader;
mod dicom_writer;
mod e2e_auth;
mod e2e_tls;
mod ingest_e2e;
mod jobs_e2e;
mod pipeline_l3;
mod pipeline_phantom;
mod pipeline_tissue;
mod quota_story;
mod store_story;
mod tui_e2e;
