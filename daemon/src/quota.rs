//! Quota policy on top of the store: monthly periods, which quota each job step
//! charges, idempotency keys, validation of admin changes, and the wire view.
//!
//! Periods are calendar months counted from the user's anchor (their creation time):
//! period k runs from anchor + k months to anchor + k + 1 months. A day that does not
//! exist in a shorter month is clamped to its last day.
//!
//! Idempotency keys name what is charged, so a retry after a crash finds its own row:
//! `job:<id>:<step>:r<run>` for pipeline calls, `series:<id>:storage:r<revision>` for
//! archived DICOM, `study:<id>:case` for a new patient case, `result:<job>:v<N>` and
//! `mask:<job>:<upload>` for written outputs.

use crate::store::quota::{QuotaRow, UsageRow};
use crate::store::{StoreError, rows::parse_enum};
use chrono::{DateTime, Months, Utc};
use idoctor_protocol::{JobStep, QuotaStatus, QuotaType, UsageEntry};

/// The monthly period containing `now_ms` for a user anchored at `anchor_ms`:
/// `(start_ms, end_ms)`, end exclusive.
pub fn period_bounds(anchor_ms: i64, now_ms: i64) -> (i64, i64) {
    let Some(anchor) = DateTime::<Utc>::from_timestamp_millis(anchor_ms) else {
        return (anchor_ms, anchor_ms + 30 * 86_400_000);
    };
    let at = |k: u32| {
        anchor
            .checked_add_months(Months::new(k))
            .map(|d| d.timestamp_millis())
            .unwrap_or(i64::MAX)
    };
    if now_ms < anchor_ms {
        return (anchor_ms, at(1));
    }
    // Jump close to the answer, then step; months are 28–31 days long.
    let mut k = ((now_ms - anchor_ms) / (31 * 86_400_000)).max(0) as u32;
    while at(k + 1) <= now_ms {
        k += 1;
    }
    (at(k), at(k + 1))
}

/// The call quota a job step charges, if any.
pub fn step_quota(step: JobStep) -> Option<QuotaType> {
    match step {
        JobStep::Detect => Some(QuotaType::ApiCallsL3Detect),
        JobStep::Full => Some(QuotaType::ApiCallsFullProcess),
        JobStep::Continue => Some(QuotaType::ApiCallsContinue),
        JobStep::Remeasure => None,
    }
}

/// Key for a job step's call charge in one run.
pub fn job_step_key(job_id: i64, step: JobStep, run_seq: i64) -> String {
    format!("job:{job_id}:{}:r{run_seq}", step.as_str())
}

/// Key for a series revision's archived bytes.
pub fn series_storage_key(series_id: i64, revision: i64) -> String {
    format!("series:{series_id}:storage:r{revision}")
}

/// Key for a study's patient-case charge (once per study).
pub fn study_case_key(study_id: i64) -> String {
    format!("study:{study_id}:case")
}

/// Key for a result version's output bytes.
pub fn result_storage_key(job_id: i64, version: i64) -> String {
    format!("result:{job_id}:v{version}")
}

/// Checks an admin's new limit.
pub fn validate_limit(limit: Option<i64>) -> Result<(), String> {
    match limit {
        Some(n) if n < 0 => Err(format!("a limit must be zero or positive, got {n}")),
        _ => Ok(()),
    }
}

/// Checks a charge amount.
pub fn validate_amount(amount: i64) -> Result<(), String> {
    if amount <= 0 {
        return Err(format!("an amount must be positive, got {amount}"));
    }
    Ok(())
}

/// The wire view of a balance.
pub fn status(row: &QuotaRow) -> Result<QuotaStatus, StoreError> {
    Ok(QuotaStatus {
        quota_type: parse_enum(&row.quota_type)?,
        used: row.used,
        limit: row.limit_value,
        plan_limit: row.plan_limit.unwrap_or(row.limit_value),
        overridden: row.limit_override.is_some(),
        period_start_ms: row.period_start_ms,
        period_end_ms: row.period_end_ms,
    })
}

/// The wire view of a ledger row.
pub fn entry(row: UsageRow) -> Result<UsageEntry, StoreError> {
    Ok(UsageEntry {
        id: row.id,
        at_ms: row.at_ms,
        username: row.username,
        actor: row.actor,
        quota_type: parse_enum(&row.quota_type)?,
        kind: parse_enum(&row.kind)?,
        amount: row.amount,
        job_id: row.job_id,
        series_id: row.series_id,
        idempotency_key: row.idempotency_key,
        metadata: row.metadata.0.to_string(),
    })
}

/// `YYYY-MM-DD` of a UTC day index (`ms / 86 400 000`).
pub fn day_label(day: i64) -> String {
    DateTime::<Utc>::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| day.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ms(y: i32, m: u32, d: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn periods_are_calendar_months_from_the_anchor() {
        let anchor = ms(2026, 1, 31);
        assert_eq!(period_bounds(anchor, anchor), (anchor, ms(2026, 2, 28)));
        assert_eq!(
            period_bounds(anchor, ms(2026, 3, 1)),
            (ms(2026, 2, 28), ms(2026, 3, 31))
        );
        assert_eq!(
            period_bounds(anchor, ms(2027, 1, 31)),
            (ms(2027, 1, 31), ms(2027, 2, 28))
        );
        let (s, e) = period_bounds(anchor, ms(2026, 11, 25));
        assert!(s <= ms(2026, 11, 25) && ms(2026, 11, 25) < e);
    }

    #[test]
    fn keys_and_validation() {
        assert_eq!(job_step_key(42, JobStep::Full, 1), "job:42:full:r1");
        assert_eq!(
            step_quota(JobStep::Detect),
            Some(QuotaType::ApiCallsL3Detect)
        );
        assert_eq!(step_quota(JobStep::Remeasure), None);
        assert!(validate_limit(Some(-1)).is_err());
        assert!(validate_limit(Some(0)).is_ok() && validate_limit(None).is_ok());
        assert!(validate_amount(0).is_err() && validate_amount(-5).is_err());
        assert_eq!(day_label(20_000), "2024-10-04");
    }
}
