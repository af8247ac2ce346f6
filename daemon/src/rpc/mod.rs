//! The tarpc server: login, the single token check, the admin check, then dispatch.
//!
//! Every request except `hello` and `login` arrives through `call(token, Request)`.
//! [`RpcServer::authenticate`] verifies the token and re-reads the user row (so a
//! disabled user or a changed password locks a session out at once), and the admin
//! requirement is read off the request ([`Request::admin_only`]) before any handler
//! runs. Handlers receive the verified [`Caller`] and pass `caller.id` into the store,
//! which scopes every query by user.

mod errors;
mod jobs;
mod quotas;
mod series;
mod transport;
mod users;

pub use errors::{internal, store_error};
pub use transport::{Listener, ListenerError, bind_listeners, serve};

use crate::auth::{self, AuthError};
use crate::state::AppState;
use crate::store::{Store, now_ms};
use idoctor_protocol::{
    ApiError, ErrorCode, IDoctor, LoginRequest, PROTOCOL_VERSION, Request, Response, Role,
    ServerInfo, Session,
};
use std::sync::Arc;
use tarpc::context::Context;

/// The verified identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role, from the user row (not from the token).
    pub role: Role,
}

impl Caller {
    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The service implementation; cheap to clone (one per connection).
pub struct RpcServer<S: Store> {
    state: Arc<AppState<S>>,
}

impl<S: Store> Clone for RpcServer<S> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
        }
    }
}

impl<S: Store> RpcServer<S> {
    /// A server over shared state.
    pub fn new(state: Arc<AppState<S>>) -> Self {
        Self { state }
    }

    /// Verifies a session token and loads the caller. The one place tokens are checked.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, ApiError> {
        let claims = self
            .state
            .keys
            .verify(token, now_ms())
            .map_err(|e| match e {
                AuthError::Expired => ApiError::new(ErrorCode::Unauthenticated, e.to_string()),
                _ => ApiError::new(ErrorCode::Unauthenticated, AuthError::Invalid.to_string()),
            })?;
        let user_id = claims
            .user_id()
            .map_err(|e| ApiError::new(ErrorCode::Unauthenticated, e.to_string()))?;
        let revoked = || {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "session no longer valid; log in again",
            )
        };
        let user = self
            .state
            .store
            .user_by_id(user_id)
            .await
            .map_err(|e| store_error("user", e))?
            .ok_or_else(revoked)?;
        if user.disabled {
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "this account is disabled; ask an administrator",
            ));
        }
        if user.token_epoch != claims.epoch {
            return Err(revoked());
        }
        let role = user.role().map_err(|e| internal("user role", &e))?;
        Ok(Caller {
            id: user.id,
            username: user.username,
            role,
        })
    }

    async fn dispatch(&self, caller: &Caller, request: Request) -> Result<Response, ApiError> {
        match request {
            Request::Whoami => users::whoami(&self.state, caller).await,
            Request::ListUsers => users::list(&self.state).await,
            Request::AddUser(new) => users::add(&self.state, new).await,
            Request::SetUserDisabled { username, disabled } => {
                users::set_disabled(&self.state, caller, &username, disabled).await
            }
            Request::SetPassword { username, password } => {
                users::set_password(&self.state, &username, password).await
            }
            Request::SetUserMode {
                username,
                mode,
                outbox,
            } => users::set_mode(&self.state, &username, mode, outbox).await,
            Request::MyQuota => quotas::mine(&self.state, caller).await,
            Request::MyUsage { filter } => {
                quotas::usage(&self.state, filter, Some(caller.id)).await
            }
            Request::QuotaShow { username } => quotas::show(&self.state, &username).await,
            Request::QuotaAdjust {
                username,
                quota_type,
                limit,
            } => quotas::adjust(&self.state, caller, &username, quota_type, limit).await,
            Request::QuotaReset {
                username,
                quota_type,
            } => quotas::reset(&self.state, caller, &username, quota_type).await,
            Request::SetPlan { username, plan } => {
                quotas::set_plan(&self.state, caller, &username, &plan).await
            }
            Request::Usage { filter } => quotas::usage(&self.state, filter, None).await,
            Request::Stats { quota_type, days } => {
                quotas::stats(&self.state, quota_type, days).await
            }
            Request::Warnings { limit } => quotas::warnings(&self.state, limit).await,
            Request::ListSeries => series::list(&self.state, caller).await,
            Request::Quarantine { username, limit } => {
                series::quarantine(&self.state, username, limit).await
            }
            Request::ListJobs { state } => jobs::list(&self.state, caller, state).await,
            Request::GetJob { job_id } => jobs::get(&self.state, caller, job_id).await,
            Request::SetL3 { job_id, z_mm } => {
                jobs::set_l3(&self.state, caller, job_id, z_mm).await
            }
            Request::Continue { job_id } => jobs::continue_job(&self.state, caller, job_id).await,
            Request::Rerun { job_id } => jobs::rerun(&self.state, caller, job_id).await,
            Request::Cancel { job_id } => jobs::cancel(&self.state, caller, job_id).await,
            Request::UploadMask {
                job_id,
                tissue,
                png,
            } => jobs::upload_mask(&self.state, caller, job_id, tissue, png).await,
            Request::Results { job_id, version } => {
                jobs::results(&self.state, caller, job_id, version).await
            }
            Request::Image {
                job_id,
                version,
                image,
            } => jobs::image(&self.state, caller, job_id, version, image).await,
            Request::Export { job_id, version } => {
                jobs::export(&self.state, caller, job_id, version).await
            }
            Request::JobLog { job_id, tail } => jobs::log(&self.state, caller, job_id, tail).await,
        }
    }
}

impl<S: Store> IDoctor for RpcServer<S> {
    async fn hello(self, _: Context) -> ServerInfo {
        ServerInfo {
            protocol_version: PROTOCOL_VERSION,
            daemon_version: env!("CARGO_PKG_VERSION").to_string(),
            database: self.state.store.backend().as_str().to_string(),
        }
    }

    async fn login(self, _: Context, req: LoginRequest) -> Result<Session, ApiError> {
        if req.protocol_version != PROTOCOL_VERSION {
            return Err(ApiError::new(
                ErrorCode::VersionMismatch,
                format!(
                    "protocol version mismatch: the console speaks {} and the daemon speaks {}; \
                     install matching versions",
                    req.protocol_version, PROTOCOL_VERSION
                ),
            ));
        }
        let user = self
            .state
            .store
            .user_by_name(&req.username)
            .await
            .map_err(|e| store_error("user", e))?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let password = req.password;
        // Unknown users are checked against a dummy hash, so both failures cost the same.
        let ok =
            tokio::task::spawn_blocking(move || auth::verify_password(&password, hash.as_deref()))
                .await
                .map_err(|e| internal("login", &e))?;
        let user = match user {
            Some(u) if ok => u,
            _ => {
                tracing::info!("login refused");
                return Err(ApiError::bad_credentials());
            }
        };
        if user.disabled {
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "this account is disabled; ask an administrator",
            ));
        }
        let (token, expires_at_ms) = self
            .state
            .keys
            .issue(user.id, &user.role, user.token_epoch, now_ms())
            .map_err(|e| internal("login", &e))?;
        tracing::info!(user = user.id, "login");
        Ok(Session {
            token,
            expires_at_ms,
            user: user.to_info().map_err(|e| internal("login", &e))?,
        })
    }

    async fn call(self, _: Context, token: String, req: Request) -> Result<Response, ApiError> {
        let caller = self.authenticate(&token).await?;
        if req.admin_only() && !caller.is_admin() {
            tracing::info!(
                user = caller.id,
                request = req.name(),
                "admin request refused"
            );
            return Err(ApiError::admin_only());
        }
        let name = req.name();
        let result = self.dispatch(&caller, req).await;
        match &result {
            Ok(_) => tracing::debug!(user = caller.id, request = name, "request served"),
            Err(e) => {
                tracing::info!(user = caller.id, request = name, code = %e.code, "request refused")
            }
        }
        result
    }
}
