//! Quota types, balances, the usage ledger and admin statistics, as the wire shows them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaType {
    /// L3 detection runs (review mode), in calls.
    ApiCallsL3Detect,
    /// Full automatic runs, in calls.
    ApiCallsFullProcess,
    /// Reviewed jobs continued after L3, in calls.
    ApiCallsContinue,
    /// Archived DICOM, in bytes. Never resets.
    StorageDicom,
    /// Written outputs and uploaded masks, in bytes. Never resets.
    StorageResults,
    /// Distinct studies accepted, per month.
    PatientCases,
}

impl QuotaType {
    /// Every quota type, in display order.
    pub const ALL: [QuotaType; 6] = [
        QuotaType::ApiCallsL3Detect,
        QuotaType::ApiCallsFullProcess,
        QuotaType::ApiCallsContinue,
        QuotaType::StorageDicom,
        QuotaType::StorageResults,
        QuotaType::PatientCases,
    ];

    /// The snake_case name used in the database, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaType::ApiCallsL3Detect => "api_calls_l3_detect",
            QuotaType::ApiCallsFullProcess => "api_calls_full_process",
            QuotaType::ApiCallsContinue => "api_calls_continue",
            QuotaType::StorageDicom => "storage_dicom",
            QuotaType::StorageResults => "storage_results",
            QuotaType::PatientCases => "patient_cases",
        }
    }

    /// The unit the amounts are in.
    pub fn unit(self) -> &'static str {
        match self {
            QuotaType::StorageDicom | QuotaType::StorageResults => "bytes",
            QuotaType::PatientCases => "studies",
            _ => "calls",
        }
    }

    /// Storage never resets; calls and cases reset every month.
    pub fn resets_monthly(self) -> bool {
        !matches!(self, QuotaType::StorageDicom | QuotaType::StorageResults)
    }
}

impl fmt::Display for QuotaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QuotaType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QuotaType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = QuotaType::ALL.iter().map(|t| t.as_str()).collect();
                format!(
                    "unknown quota type {s:?} (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// The kind of a ledger row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageKind {
    /// Units were charged.
    Consume,
    /// Units were given back (a compensating row for a system failure).
    Refund,
    /// The balance was set back to zero (admin reset or a new period).
    Reset,
    /// An admin changed a limit.
    Adjust,
    /// An admin changed the user's plan.
    PlanChange,
}

impl UsageKind {
    /// Every kind.
    pub const ALL: [UsageKind; 5] = [
        UsageKind::Consume,
        UsageKind::Refund,
        UsageKind::Reset,
        UsageKind::Adjust,
        UsageKind::PlanChange,
    ];

    /// The snake_case name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageKind::Consume => "consume",
            UsageKind::Refund => "refund",
            UsageKind::Reset => "reset",
            UsageKind::Adjust => "adjust",
            UsageKind::PlanChange => "plan_change",
        }
    }
}

impl fmt::Display for UsageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UsageKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UsageKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown usage kind {s:?} (expected consume, refund, reset, adjust or plan_change)")
            })
    }
}

/// One quota balance of one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaStatus {
    /// Which quota.
    pub quota_type: QuotaType,
    /// Units used in the current period.
    pub used: i64,
    /// The effective limit: the per-user override if set, else the plan's.
    pub limit: i64,
    /// The plan's limit, for comparison with an override.
    pub plan_limit: i64,
    /// Whether an admin set a per-user limit.
    pub overridden: bool,
    /// Start of the current period (ms since the epoch).
    pub period_start_ms: i64,
    /// When the balance next resets; `None` for storage, which never resets.
    pub period_end_ms: Option<i64>,
}

/// What an admin's quota change did, with a note when the result needs attention.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuotaChange {
    /// The balances after the change.
    pub quotas: Vec<QuotaStatus>,
    /// Set when, for example, a new limit is below current usage.
    pub notes: Vec<String>,
    /// Held jobs and series released for a retry by this change.
    pub released: u64,
}

/// One row of the usage ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageEntry {
    /// Ledger row id; newer rows have larger ids.
    pub id: i64,
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// Whose balance changed.
    pub username: String,
    /// Who caused it: an admin's name, or `None` for the system.
    pub actor: Option<String>,
    /// Which quota.
    pub quota_type: QuotaType,
    /// What happened.
    pub kind: UsageKind,
    /// Signed change to `used` (0 for limit and plan changes).
    pub amount: i64,
    /// The job this row belongs to, if any.
    pub job_id: Option<i64>,
    /// The series this row belongs to, if any.
    pub series_id: Option<i64>,
    /// Unique key; a retry with the same key never charges twice.
    pub idempotency_key: String,
    /// Free-form JSON details (old and new limits, reasons).
    pub metadata: String,
}

/// Filters for the usage ledger. All are optional; results are newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsageFilter {
    /// Only this user (admins); operators always see only themselves.
    pub username: Option<String>,
    /// Only this quota type.
    pub quota_type: Option<QuotaType>,
    /// Only this kind of row.
    pub kind: Option<UsageKind>,
    /// Rows at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Rows before this time (ms since the epoch).
    pub until_ms: Option<i64>,
    /// Page size (1–1000; default 50).
    pub limit: Option<u32>,
    /// Paging cursor: only rows with an id below this one.
    pub before_id: Option<i64>,
}

/// One page of the ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsagePage {
    /// Rows, newest first.
    pub entries: Vec<UsageEntry>,
    /// Pass as `before_id` to get the next page; `None` on the last page.
    pub next_before_id: Option<i64>,
}

/// Consumption on one calendar day (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayAmount {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Net consumption that day (consumes minus refunds).
    pub amount: i64,
}

/// A user whose balance is close to or at its limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserLevel {
    /// Login name.
    pub username: String,
    /// Units used.
    pub used: i64,
    /// Effective limit.
    pub limit: i64,
    /// `used / limit` in percent (100 when the limit is 0 and something is used).
    pub percent: f64,
}

/// Statistics for one quota type across all users.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuotaStats {
    /// Which quota.
    pub quota_type: QuotaType,
    /// Sum of current balances over all users.
    pub total_used: i64,
    /// Per-day net consumption, oldest first, one entry per day including zeros.
    pub per_day: Vec<DayAmount>,
    /// Users at 80 % or more of their limit but below 100 %.
    pub near_limit: Vec<UserLevel>,
    /// Users at or over their limit.
    pub at_limit: Vec<UserLevel>,
}

/// A warning recorded when a balance first crosses 80 % or 100 % in a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaWarning {
    /// Login name.
    pub username: String,
    /// Which quota.
    pub quota_type: QuotaType,
    /// 80 or 100.
    pub level: u8,
    /// When it was crossed (ms since the epoch).
    pub at_ms: i64,
}
