//! The console's connection to `idoctord`, with one typed method per request.
//!
//! Connection failures are turned into sentences an operator can act on (daemon not
//! running, wrong socket path, certificate changed). API errors keep their stable code,
//! so scripts and the TUI can branch on `unauthenticated`, `quota_exceeded` and so on.

use crate::endpoint::Endpoint;
use crate::files::KnownServers;
use crate::pinning::{PinOutcome, PinVerifier};
use idoctor_protocol::*;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::{client, context, serde_transport};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::LengthDelimitedCodec;

/// Default per-request deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a console request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon could not be reached.
    #[error("{0}")]
    Connect(String),
    /// The pinned TLS certificate does not match.
    #[error(
        "the TLS certificate of {server} changed (pinned {expected}, presented {presented}); \
         if the daemon's certificate was replaced on purpose, remove {server} from {file}"
    )]
    CertificateChanged {
        /// `host:port`.
        server: String,
        /// Pinned fingerprint.
        expected: String,
        /// Presented fingerprint.
        presented: String,
        /// The pin file.
        file: String,
    },
    /// The daemon refused the request.
    #[error("{}", .0.message)]
    Api(ApiError),
    /// The connection broke or the deadline passed.
    #[error("lost the connection to the daemon: {0}")]
    Rpc(String),
    /// No saved session.
    #[error("not logged in to {0}; run `idoctor login --username NAME`")]
    NotLoggedIn(String),
    /// The daemon answered with the wrong kind of response (version skew).
    #[error("unexpected {got} response to {request}; are the console and daemon the same version?")]
    Protocol {
        /// The request's name.
        request: &'static str,
        /// The response's name.
        got: &'static str,
    },
}

impl ClientError {
    /// The API error code, when the daemon sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api(e) => Some(e.code),
            ClientError::NotLoggedIn(_) => Some(ErrorCode::Unauthenticated),
            _ => None,
        }
    }

    /// Whether logging in again would help.
    pub fn needs_login(&self) -> bool {
        self.code() == Some(ErrorCode::Unauthenticated)
    }

    /// Whether the daemon is unreachable (as opposed to refusing).
    pub fn is_connection(&self) -> bool {
        matches!(self, ClientError::Connect(_) | ClientError::Rpc(_))
    }
}

/// A connected console.
#[derive(Clone)]
pub struct Client {
    rpc: IDoctorClient,
    endpoint: Endpoint,
    token: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("logged_in", &self.token.is_some())
            .finish()
    }
}

fn connect_error(endpoint: &Endpoint, e: &std::io::Error) -> ClientError {
    let msg = match (endpoint, e.kind()) {
        (Endpoint::Unix(p), ErrorKind::NotFound) => format!(
            "no daemon socket at {}: is idoctord running, and is --server pointing at its data dir?",
            p.display()
        ),
        (Endpoint::Unix(p), ErrorKind::ConnectionRefused) => format!(
            "nothing is listening on {} (a stale socket): idoctord is not running",
            p.display()
        ),
        (Endpoint::Unix(p), ErrorKind::PermissionDenied) => format!(
            "permission denied on {}: your account needs to be in the daemon's group",
            p.display()
        ),
        (_, ErrorKind::ConnectionRefused) => {
            format!("connection refused by {endpoint}: is idoctord running and listening there?")
        }
        _ => format!("cannot connect to {endpoint}: {e}"),
    };
    ClientError::Connect(msg)
}

fn transport<IO>(io: IO) -> IDoctorClient
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let framed = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME_BYTES)
        .new_framed(io);
    let transport = serde_transport::new(framed, Bincode::default());
    IDoctorClient::new(client::Config::default(), transport).spawn()
}

impl Client {
    /// Connects to a daemon. `config_dir` holds the TLS pin file.
    pub async fn connect(endpoint: &Endpoint, config_dir: &Path) -> Result<Self, ClientError> {
        let rpc = match endpoint {
            Endpoint::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| connect_error(endpoint, &e))?;
                transport(stream)
            }
            Endpoint::Tcp { host, port } => {
                let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .map_err(|e| connect_error(endpoint, &e))?
                    .collect();
                if !addrs.iter().all(|a| a.ip().is_loopback()) {
                    return Err(ClientError::Connect(format!(
                        "{endpoint}: plain TCP is only for loopback; use tls://{host}:{port}"
                    )));
                }
                let stream = tokio::net::TcpStream::connect(addrs.as_slice())
                    .await
                    .map_err(|e| connect_error(endpoint, &e))?;
                transport(stream)
            }
            Endpoint::Tls { host, port } => {
                Self::connect_tls(endpoint, host, *port, config_dir).await?
            }
        };
        Ok(Self {
            rpc,
            endpoint: endpoint.clone(),
            token: None,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    async fn connect_tls(
        endpoint: &Endpoint,
        host: &str,
        port: u16,
        config_dir: &Path,
    ) -> Result<IDoctorClient, ClientError> {
        let server = format!("{host}:{port}");
        let known = KnownServers::in_dir(config_dir);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(PinVerifier::new(known.get(&server), provider.clone()));
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Connect(format!("TLS setup failed: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| ClientError::Connect(format!("{endpoint}: bad host name: {e}")))?;
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| connect_error(endpoint, &e))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let handshake =
            tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp)).await;
        let stream = match handshake {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                if let Some(PinOutcome::Changed {
                    expected,
                    presented,
                }) = verifier.outcome()
                {
                    return Err(ClientError::CertificateChanged {
                        server,
                        expected,
                        presented,
                        file: known.path().display().to_string(),
                    });
                }
                return Err(ClientError::Connect(format!(
                    "TLS handshake with {endpoint} failed: {e}"
                )));
            }
            Err(_) => {
                return Err(ClientError::Connect(format!(
                    "TLS handshake with {endpoint} timed out"
                )));
            }
        };
        if let Some(PinOutcome::FirstUse(fp)) = verifier.outcome() {
            known.put(&server, &fp).map_err(|e| {
                ClientError::Connect(format!(
                    "cannot save the certificate pin in {}: {e}",
                    known.path().display()
                ))
            })?;
            eprintln!("idoctor: pinned the TLS certificate of {server} (SHA-256 {fp})");
        }
        Ok(transport(stream))
    }

    /// The same connection with a session token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The same connection with another request deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The underlying tarpc client, for requests the typed methods do not cover.
    pub fn rpc(&self) -> &IDoctorClient {
        &self.rpc
    }

    /// Where this client is connected.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn context(&self) -> context::Context {
        let mut ctx = context::current();
        ctx.deadline = Instant::now() + self.timeout;
        ctx
    }

    /// The daemon's versions; needs no session.
    pub async fn hello(&self) -> Result<ServerInfo, ClientError> {
        self.rpc
            .hello(self.context())
            .await
            .map_err(|e| ClientError::Rpc(e.to_string()))
    }

    /// Logs in; the returned client carries the new token.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Session, Client), ClientError> {
        let request = LoginRequest {
            username: username.to_string(),
            password: password.to_string(),
            protocol_version: PROTOCOL_VERSION,
        };
        let session = self
            .rpc
            .login(self.context(), request)
            .await
            .map_err(|e| ClientError::Rpc(e.to_string()))?
            .map_err(ClientError::Api)?;
        let client = self.clone().with_token(session.token.clone());
        Ok((session, client))
    }

    /// Sends one request with the session token.
    pub async fn call(&self, request: Request) -> Result<Response, ClientError> {
        let token = self
            .token
            .clone()
            .ok_or_else(|| ClientError::NotLoggedIn(self.endpoint.to_string()))?;
        self.rpc
            .call(self.context(), token, request)
            .await
            .map_err(|e| ClientError::Rpc(e.to_string()))?
            .map_err(ClientError::Api)
    }
}

/// Generates a typed wrapper: sends the request and unpacks the expected variant.
macro_rules! typed {
    ($(#[$doc:meta])* $name:ident ( $($arg:ident : $ty:ty),* ) -> $out:ty, $req:expr, $variant:ident $(($bind:ident) => $conv:expr)?) => {
        $(#[$doc])*
        pub async fn $name(&self, $($arg: $ty),*) -> Result<$out, ClientError> {
            let request = $req;
            let name = request.name();
            match self.call(request).await? {
                Response::$variant $(($bind))? => Ok(typed!(@out $($conv)?)),
                other => Err(ClientError::Protocol { request: name, got: other.name() }),
            }
        }
    };
    (@out $conv:expr) => { $conv };
    (@out) => { () };
}

impl Client {
    typed!(/// Who am I.
        whoami() -> UserInfo, Request::Whoami, User(u) => u);
    typed!(/// Every user (admin).
        list_users() -> Vec<UserInfo>, Request::ListUsers, Users(u) => u);
    typed!(/// Creates a user (admin).
        add_user(user: NewUser) -> UserInfo, Request::AddUser(user), User(u) => u);
    typed!(/// Disables or enables a user (admin).
        set_user_disabled(username: String, disabled: bool) -> UserInfo,
        Request::SetUserDisabled { username, disabled }, User(u) => u);
    typed!(/// Sets a user's password (admin).
        set_password(username: String, password: String) -> UserInfo,
        Request::SetPassword { username, password }, User(u) => u);
    typed!(/// Sets a user's mode and outbox flag (admin).
        set_user_mode(username: String, mode: JobMode, outbox: bool) -> UserInfo,
        Request::SetUserMode { username, mode, outbox }, User(u) => u);
    typed!(/// My quota balances.
        my_quota() -> Vec<QuotaStatus>, Request::MyQuota, Quotas(q) => q);
    typed!(/// My ledger rows.
        my_usage(filter: UsageFilter) -> UsagePage, Request::MyUsage { filter }, Usage(p) => p);
    typed!(/// A user's balances (admin).
        quota_show(username: String) -> Vec<QuotaStatus>, Request::QuotaShow { username }, Quotas(q) => q);
    typed!(/// Sets or clears a per-user limit (admin).
        quota_adjust(username: String, quota_type: QuotaType, limit: Option<i64>) -> QuotaChange,
        Request::QuotaAdjust { username, quota_type, limit }, QuotaChange(c) => c);
    typed!(/// Resets balances (admin).
        quota_reset(username: String, quota_type: Option<QuotaType>) -> QuotaChange,
        Request::QuotaReset { username, quota_type }, QuotaChange(c) => c);
    typed!(/// Changes a user's plan (admin).
        set_plan(username: String, plan: String) -> QuotaChange,
        Request::SetPlan { username, plan }, QuotaChange(c) => c);
    typed!(/// The usage ledger (admin).
        usage(filter: UsageFilter) -> UsagePage, Request::Usage { filter }, Usage(p) => p);
    typed!(/// Statistics for a quota type (admin).
        stats(quota_type: QuotaType, days: u32) -> QuotaStats, Request::Stats { quota_type, days }, Stats(s) => s);
    typed!(/// Recent quota warnings (admin).
        warnings(limit: u32) -> Vec<QuotaWarning>, Request::Warnings { limit }, Warnings(w) => w);
    typed!(/// My series.
        list_series() -> Vec<SeriesInfo>, Request::ListSeries, Series(s) => s);
    typed!(/// My jobs, optionally in one state.
        list_jobs(state: Option<JobState>) -> Vec<JobInfo>, Request::ListJobs { state }, Jobs(j) => j);
    typed!(/// One job with its versions and current L3.
        get_job(job_id: i64) -> JobDetail, Request::GetJob { job_id }, Job(j) => *j);
    typed!(/// Moves L3 to the slice nearest `z_mm`.
        set_l3(job_id: i64, z_mm: f64) -> JobDetail, Request::SetL3 { job_id, z_mm }, Job(j) => *j);
    typed!(/// Continues a reviewed job.
        continue_job(job_id: i64) -> JobDetail, Request::Continue { job_id }, Job(j) => *j);
    typed!(/// Runs a job again from the start.
        rerun(job_id: i64) -> JobDetail, Request::Rerun { job_id }, Job(j) => *j);
    typed!(/// Cancels a job.
        cancel(job_id: i64) -> JobDetail, Request::Cancel { job_id }, Job(j) => *j);
    typed!(/// Uploads an operator mask for the mid slice and re-measures.
        upload_mask(job_id: i64, tissue: MaskTissue, png: Vec<u8>) -> JobDetail,
        Request::UploadMask { job_id, tissue, png }, Job(j) => *j);
    typed!(/// A result version (latest when `None`).
        results(job_id: i64, version: Option<i64>) -> ResultVersion,
        Request::Results { job_id, version }, Result(r) => *r);
    typed!(/// A rendered image.
        image(job_id: i64, version: Option<i64>, image: ImageKind) -> Image,
        Request::Image { job_id, version, image }, Image(i) => i);
    typed!(/// Every output file of a version.
        export(job_id: i64, version: Option<i64>) -> Vec<ExportFile>,
        Request::Export { job_id, version }, Export(f) => f);
    typed!(/// The last lines of a job's log.
        job_log(job_id: i64, tail: u32) -> Vec<LogLine>, Request::JobLog { job_id, tail }, Log(l) => l);
    typed!(/// Quarantined files (admin).
        quarantine(username: Option<String>, limit: u32) -> Vec<QuarantineEntry>,
        Request::Quarantine { username, limit }, Quarantine(q) => q);
}
