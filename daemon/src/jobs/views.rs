//! Job rows as the wire shows them, and the slice geometry kept on a job.

use crate::store::StoreError;
use crate::store::jobs::{JobRow, ResultRow};
use crate::store::rows::parse_enum;
use idoctor_protocol::{JobDetail, JobInfo, L3Finding, ResultVersion, VersionInfo};
use serde::{Deserialize, Serialize};

/// Where each slice of the series is: recorded by a job's first run, so L3 corrections
/// snap to a slice and the console can step one slice without decoding the series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Geometry {
    /// z (mm) of each slice, inferior first.
    pub z_mm: Vec<f64>,
    /// SOP Instance UID of each slice.
    pub sop_uids: Vec<String>,
    /// Rows per slice.
    pub rows: u32,
    /// Columns per slice.
    pub cols: u32,
}

impl JobRow {
    /// The L3 the next measurement uses, if any.
    pub fn l3(&self) -> Option<L3Finding> {
        self.l3
            .as_ref()
            .and_then(|j| serde_json::from_value(j.0.clone()).ok())
    }

    /// The L3 the pipeline detected, if any.
    pub fn detected_l3(&self) -> Option<L3Finding> {
        self.detected_l3
            .as_ref()
            .and_then(|j| serde_json::from_value(j.0.clone()).ok())
    }

    /// The recorded slice geometry, if a run has read the series.
    pub fn geometry(&self) -> Option<Geometry> {
        self.geometry
            .as_ref()
            .and_then(|j| serde_json::from_value(j.0.clone()).ok())
    }

    /// The wire view.
    pub fn to_info(&self) -> Result<JobInfo, StoreError> {
        let l3 = self.l3();
        Ok(JobInfo {
            id: self.id,
            series_id: self.series_id,
            state: parse_enum(&self.state)?,
            step: parse_enum(&self.step)?,
            stage: self.stage.clone(),
            progress: self.progress,
            held_quota: self.held_quota.as_deref().map(parse_enum).transpose()?,
            error: self.error.clone(),
            mode: parse_enum(&self.mode)?,
            attempts: self.attempts,
            patient_id: self.patient_id.clone(),
            study_date: self.study_date.clone(),
            series_description: self.series_description.clone(),
            l3_confidence: l3.as_ref().map(|f| f.confidence),
            l3_mid_z_mm: l3.as_ref().and_then(|f| f.mid_z_mm),
            version: self.version,
            username: self.username.clone(),
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }

    /// The wire view with versions.
    pub fn to_detail(&self, results: &[ResultRow]) -> Result<JobDetail, StoreError> {
        Ok(JobDetail {
            job: self.to_info()?,
            versions: results
                .iter()
                .map(ResultRow::to_info)
                .collect::<Result<_, _>>()?,
            l3: self.l3(),
            slice_z_mm: self.geometry().map(|g| g.z_mm).unwrap_or_default(),
        })
    }
}

impl ResultRow {
    /// The version header.
    pub fn to_info(&self) -> Result<VersionInfo, StoreError> {
        Ok(VersionInfo {
            version: self.version,
            kind: parse_enum(&self.kind)?,
            created_by: self.created_by.clone(),
            reason: self.reason.clone(),
            l3_mid_z_mm: self.l3_mid_z_mm,
            bytes: self.bytes,
            created_at_ms: self.created_at_ms,
        })
    }

    /// The full version.
    pub fn to_version(&self) -> Result<ResultVersion, StoreError> {
        Ok(ResultVersion {
            info: self.to_info()?,
            analysis: serde_json::from_value(self.analysis.0.clone())
                .map_err(|e| StoreError::Corrupt(format!("result {} analysis: {e}", self.id)))?,
        })
    }
}
