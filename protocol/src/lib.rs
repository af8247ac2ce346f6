//! The iDoctor wire protocol: the tarpc service that `idoctord` serves and `idoctor` calls.
//!
//! The service has three methods. `hello` and `login` need no session; everything else
//! goes through `call(token, Request)`, so the daemon checks the token in exactly one
//! place before it dispatches, and a request's admin requirement is a property of the
//! request itself ([`Request::admin_only`]) rather than a check repeated per handler.
//!
//! This crate depends on serde and tarpc only, so the console never pulls in the
//! database or the pipeline.

pub mod analysis;
pub mod error;
pub mod jobs;
pub mod quota;
pub mod users;

pub use analysis::*;
pub use error::{ApiError, ErrorCode};
pub use jobs::*;
pub use quota::*;
pub use users::*;

use serde::{Deserialize, Serialize};

/// Bumped whenever a request or response changes shape. Login refuses a mismatch.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame either side accepts (images and exports travel as bytes).
pub const MAX_FRAME_BYTES: usize = 64 << 20;

/// The daemon's service.
#[tarpc::service]
pub trait IDoctor {
    /// Versions and backend; needs no session.
    async fn hello() -> ServerInfo;
    /// Exchanges credentials for a session token.
    async fn login(req: LoginRequest) -> Result<Session, ApiError>;
    /// Every other request, with the session token.
    async fn call(token: String, req: Request) -> Result<Response, ApiError>;
}

/// A request made with a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Who am I.
    Whoami,
    /// My series.
    ListSeries,
    /// My jobs, optionally in one state.
    ListJobs {
        /// Only jobs in this state.
        state: Option<JobState>,
    },
    /// One job with its versions and the L3 it will use.
    GetJob {
        /// Job id.
        job_id: i64,
    },
    /// Move L3 to the slice nearest `z_mm` (review, or correction of a finished job).
    SetL3 {
        /// Job id.
        job_id: i64,
        /// Wanted mid-slice z, mm; snaps to the nearest slice.
        z_mm: f64,
    },
    /// Continue a reviewed job: segment and measure at its L3.
    Continue {
        /// Job id.
        job_id: i64,
    },
    /// Run the job again from the start (new version).
    Rerun {
        /// Job id.
        job_id: i64,
    },
    /// Cancel a queued, held or awaiting job.
    Cancel {
        /// Job id.
        job_id: i64,
    },
    /// Replace a tissue mask on the mid slice with the operator's PNG and re-measure.
    UploadMask {
        /// Job id.
        job_id: i64,
        /// Which tissue the mask is.
        tissue: MaskTissue,
        /// A PNG of the slice's size; non-zero pixels are inside.
        png: Vec<u8>,
    },
    /// A result version (latest when `version` is `None`).
    Results {
        /// Job id.
        job_id: i64,
        /// Version number.
        version: Option<i64>,
    },
    /// A rendered image.
    Image {
        /// Job id.
        job_id: i64,
        /// Version (latest when `None`).
        version: Option<i64>,
        /// Which image.
        image: ImageKind,
    },
    /// Every output file of a version, for `job export`.
    Export {
        /// Job id.
        job_id: i64,
        /// Version (latest when `None`).
        version: Option<i64>,
    },
    /// The last lines of the job's pipeline log.
    JobLog {
        /// Job id.
        job_id: i64,
        /// How many lines.
        tail: u32,
    },
    /// My quota balances.
    MyQuota,
    /// My usage ledger.
    MyUsage {
        /// Filters (the user filter is ignored: it is always me).
        filter: UsageFilter,
    },
    /// Admin: every user.
    ListUsers,
    /// Admin: create a user.
    AddUser(NewUser),
    /// Admin: disable or enable a user.
    SetUserDisabled {
        /// Login name.
        username: String,
        /// Disable (true) or enable (false).
        disabled: bool,
    },
    /// Admin: set a user's password.
    SetPassword {
        /// Login name.
        username: String,
        /// New password.
        password: String,
    },
    /// Admin: change a user's plan.
    SetPlan {
        /// Login name.
        username: String,
        /// `free`, `pro` or `enterprise`.
        plan: String,
    },
    /// Admin: set a user's processing mode and outbox flag.
    SetUserMode {
        /// Login name.
        username: String,
        /// Auto or review.
        mode: JobMode,
        /// Write DICOM outputs to the outbox.
        outbox: bool,
    },
    /// Admin: a user's quotas.
    QuotaShow {
        /// Login name.
        username: String,
    },
    /// Admin: set a per-user limit (`None` removes the override).
    QuotaAdjust {
        /// Login name.
        username: String,
        /// Which quota.
        quota_type: QuotaType,
        /// New limit.
        limit: Option<i64>,
    },
    /// Admin: set balances back to zero (one type, or all).
    QuotaReset {
        /// Login name.
        username: String,
        /// One type, or every type when `None`.
        quota_type: Option<QuotaType>,
    },
    /// Admin: the usage ledger.
    Usage {
        /// Filters.
        filter: UsageFilter,
    },
    /// Admin: statistics for one quota type.
    Stats {
        /// Which quota.
        quota_type: QuotaType,
        /// How many days of per-day series (1–366).
        days: u32,
    },
    /// Admin: quarantined files.
    Quarantine {
        /// Only this user.
        username: Option<String>,
        /// At most this many, newest first.
        limit: u32,
    },
    /// Admin: recent quota warnings.
    Warnings {
        /// At most this many, newest first.
        limit: u32,
    },
}

impl Request {
    /// Whether only admins may make this request.
    pub fn admin_only(&self) -> bool {
        matches!(
            self,
            Request::ListUsers
                | Request::AddUser(_)
                | Request::SetUserDisabled { .. }
                | Request::SetPassword { .. }
                | Request::SetPlan { .. }
                | Request::SetUserMode { .. }
                | Request::QuotaShow { .. }
                | Request::QuotaAdjust { .. }
                | Request::QuotaReset { .. }
                | Request::Usage { .. }
                | Request::Stats { .. }
                | Request::Quarantine { .. }
                | Request::Warnings { .. }
        )
    }

    /// A short name for logs; never includes arguments (they may hold secrets).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Whoami => "whoami",
            Request::ListSeries => "list_series",
            Request::ListJobs { .. } => "list_jobs",
            Request::GetJob { .. } => "get_job",
            Request::SetL3 { .. } => "set_l3",
            Request::Continue { .. } => "continue",
            Request::Rerun { .. } => "rerun",
            Request::Cancel { .. } => "cancel",
            Request::UploadMask { .. } => "upload_mask",
            Request::Results { .. } => "results",
            Request::Image { .. } => "image",
            Request::Export { .. } => "export",
            Request::JobLog { .. } => "job_log",
            Request::MyQuota => "my_quota",
            Request::MyUsage { .. } => "my_usage",
            Request::ListUsers => "list_users",
            Request::AddUser(_) => "add_user",
            Request::SetUserDisabled { .. } => "set_user_disabled",
            Request::SetPassword { .. } => "set_password",
            Request::SetPlan { .. } => "set_plan",
            Request::SetUserMode { .. } => "set_user_mode",
            Request::QuotaShow { .. } => "quota_show",
            Request::QuotaAdjust { .. } => "quota_adjust",
            Request::QuotaReset { .. } => "quota_reset",
            Request::Usage { .. } => "usage",
            Request::Stats { .. } => "stats",
            Request::Quarantine { .. } => "quarantine",
            Request::Warnings { .. } => "warnings",
        }
    }
}

/// The answer to a [`Request`]. Each request has exactly one matching variant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    /// Done; nothing to return.
    Ok,
    /// One user.
    User(UserInfo),
    /// Users.
    Users(Vec<UserInfo>),
    /// Series.
    Series(Vec<SeriesInfo>),
    /// Jobs.
    Jobs(Vec<JobInfo>),
    /// One job.
    Job(Box<JobDetail>),
    /// One result version.
    Result(Box<ResultVersion>),
    /// One image.
    Image(Image),
    /// Export files.
    Export(Vec<ExportFile>),
    /// Job log lines.
    Log(Vec<LogLine>),
    /// Quota balances.
    Quotas(Vec<QuotaStatus>),
    /// The outcome of an admin quota change.
    QuotaChange(QuotaChange),
    /// A ledger page.
    Usage(UsagePage),
    /// Quota statistics.
    Stats(QuotaStats),
    /// Quarantine entries.
    Quarantine(Vec<QuarantineEntry>),
    /// Quota warnings.
    Warnings(Vec<QuotaWarning>),
}

impl Response {
    /// The variant name, for "unexpected response" errors.
    pub fn name(&self) -> &'static str {
        match self {
            Response::Ok => "ok",
            Response::User(_) => "user",
            Response::Users(_) => "users",
            Response::Series(_) => "series",
            Response::Jobs(_) => "jobs",
            Response::Job(_) => "job",
            Response::Result(_) => "result",
            Response::Image(_) => "image",
            Response::Export(_) => "export",
            Response::Log(_) => "log",
            Response::Quotas(_) => "quotas",
            Response::QuotaChange(_) => "quota_change",
            Response::Usage(_) => "usage",
            Response::Stats(_) => "stats",
            Response::Quarantine(_) => "quarantine",
            Response::Warnings(_) => "warnings",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_requests_are_marked() {
        assert!(Request::ListUsers.admin_only());
        assert!(
            Request::QuotaReset {
                username: "a".into(),
                quota_type: None
            }
            .admin_only()
        );
        assert!(!Request::Whoami.admin_only());
        assert!(!Request::MyQuota.admin_only());
        assert!(!Request::GetJob { job_id: 1 }.admin_only());
    }

    /// Every wire type must survive the Bincode codec tarpc uses (serde features that
    /// need `deserialize_any`, such as internally tagged enums, fail here, not in the field).
    fn bincode<T: Serialize + for<'de> Deserialize<'de> + Unpin>(value: &T) -> T {
        use std::pin::Pin;
        use tarpc::tokio_serde::formats::Bincode;
        use tarpc::tokio_serde::{Deserializer, Serializer};
        use tarpc::tokio_util::bytes::BytesMut;
        let mut codec: Bincode<T, T> = Bincode::default();
        let bytes = Pin::new(&mut codec).serialize(value).expect("serialize");
        Pin::new(&mut codec)
            .deserialize(&BytesMut::from(&bytes[..]))
            .expect("deserialize")
    }

    #[test]
    fn requests_and_responses_survive_bincode() {
        let requests = vec![
            Request::Whoami,
            Request::ListJobs {
                state: Some(JobState::Held),
            },
            Request::SetL3 {
                job_id: 3,
                z_mm: -12.5,
            },
            Request::UploadMask {
                job_id: 1,
                tissue: MaskTissue::Psoas,
                png: vec![1, 2, 3],
            },
            Request::Image {
                job_id: 1,
                version: None,
                image: ImageKind::Axial { index: 7 },
            },
            Request::Image {
                job_id: 1,
                version: Some(2),
                image: ImageKind::Sagittal,
            },
            Request::QuotaAdjust {
                username: "u".into(),
                quota_type: QuotaType::StorageDicom,
                limit: None,
            },
            Request::Usage {
                filter: UsageFilter {
                    kind: Some(UsageKind::Refund),
                    limit: Some(5),
                    ..Default::default()
                },
            },
            Request::AddUser(NewUser {
                username: "a".into(),
                password: "p".into(),
                role: Role::Admin,
                plan: None,
            }),
        ];
        for r in &requests {
            assert_eq!(format!("{:?}", bincode(r)), format!("{r:?}"));
        }
        let analysis = Analysis {
            schema_version: ANALYSIS_SCHEMA_VERSION,
            series_uid: "1.2".into(),
            study_uid: "1.3".into(),
            patient_id: "P".into(),
            volume: VolumeSummary {
                slices: 2,
                rows: 4,
                columns: 4,
                pixel_spacing_mm: [1.0, 1.0],
                slice_spacing_mm: 3.0,
                z_min_mm: 0.0,
                z_max_mm: 3.0,
                warnings: vec![],
            },
            patient: PatientInfo::default(),
            l3: L3Finding {
                status: L3Status::NotFound,
                mid_z_mm: None,
                z_range_mm: None,
                mid_slice_index: None,
                mid_slice_uid: None,
                confidence: 0.0,
                low_confidence: false,
                method: "classical".into(),
                anchors: vec![],
                reason: Some("outside".into()),
                evidence: vec![],
            },
            metrics: None,
            metrics_missing_reason: Some("L3 not found".into()),
            methods: Methods {
                l3: "classical".into(),
                tissue: "none".into(),
            },
            timings_ms: Timings::default(),
        };
        let responses = vec![
            Response::Ok,
            Response::Result(Box::new(ResultVersion {
                info: VersionInfo {
                    version: 1,
                    kind: ResultKind::L3Corrected,
                    created_by: None,
                    reason: "r".into(),
                    l3_mid_z_mm: Some(1.0),
                    bytes: 9,
                    created_at_ms: 0,
                },
                analysis,
            })),
            Response::Image(Image {
                png: vec![0; 3],
                width: 1,
                height: 1,
                version: None,
            }),
        ];
        for r in &responses {
            assert_eq!(format!("{:?}", bincode(r)), format!("{r:?}"));
        }
        let err = ApiError::new(ErrorCode::QuotaExceeded, "x");
        assert_eq!(bincode(&err), err);
    }

    #[test]
    fn names_round_trip() {
        for t in QuotaType::ALL {
            assert_eq!(t.as_str().parse::<QuotaType>().unwrap(), t);
        }
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), s);
        }
        for k in UsageKind::ALL {
            assert_eq!(k.as_str().parse::<UsageKind>().unwrap(), k);
        }
        assert!(
            "bogus"
                .parse::<QuotaType>()
                .unwrap_err()
                .contains("storage_dicom")
        );
    }
}
