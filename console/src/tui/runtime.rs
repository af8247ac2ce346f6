//! Performs [`Effect`]s on spawned tasks and sends the results back as [`Action`]s, so
//! drawing never waits on the network. One shared connection is made lazily and dropped
//! when it breaks; the next request reconnects (the app paces retries with backoff).

use super::action::{
    Action, Effect, Fetch, ImageKey, Mutation, Outcome, Picture, Rpc, RpcError, UsageQuery,
};
use crate::cli::Context;
use crate::client::{Client, ClientError};
use crate::files::SavedSession;
use idoctor_protocol::{QuotaType, UsageFilter};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Runs effects for one console.
#[derive(Clone)]
pub struct Runtime {
    ctx: Context,
    tx: UnboundedSender<Action>,
    client: Arc<Mutex<Option<Client>>>,
}

impl Runtime {
    /// A runtime sending its results to `tx`.
    pub fn new(ctx: Context, tx: UnboundedSender<Action>) -> Self {
        Self {
            ctx,
            tx,
            client: Arc::new(Mutex::new(None)),
        }
    }

    /// Starts an effect; its result arrives later as an action.
    pub fn perform(&self, effect: Effect) {
        let rt = self.clone();
        tokio::spawn(async move {
            let action = rt.run(effect).await;
            let _ = rt.tx.send(action);
        });
    }

    fn shared(&self) -> Option<Client> {
        self.client.lock().ok().and_then(|c| c.clone())
    }

    fn store(&self, client: Option<Client>) {
        if let Ok(mut c) = self.client.lock() {
            *c = client;
        }
    }

    async fn client(&self) -> Result<Client, ClientError> {
        if let Some(c) = self.shared() {
            return Ok(c);
        }
        let c = self
            .ctx
            .client()
            .await?
            .with_timeout(Duration::from_secs(20));
        self.store(Some(c.clone()));
        Ok(c)
    }

    /// Runs one request; a broken connection is forgotten so the next one reconnects.
    async fn with<T, F, Fut>(&self, f: F) -> Rpc<T>
    where
        F: FnOnce(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let result = match self.client().await {
            Ok(c) => f(c).await,
            Err(e) => Err(e),
        };
        result.map_err(|e| {
            if e.is_connection() || e.needs_login() {
                self.store(None);
            }
            RpcError::from(e)
        })
    }

    async fn run(&self, effect: Effect) -> Action {
        match effect {
            Effect::Fetch(f) => self.fetch(f).await,
            Effect::Mutate(m) => Action::Done(self.mutate(m).await),
            Effect::Login { username, password } => {
                Action::LoggedIn(self.login(&username, &password).await)
            }
            Effect::WriteFile { path, contents } => {
                let n = contents.lines().count().saturating_sub(1);
                let r = tokio::task::spawn_blocking(move || {
                    std::fs::write(&path, contents)
                        .map(|()| Outcome::File(format!("wrote {n} rows to {path}")))
                        .map_err(|e| RpcError {
                            kind: super::action::ErrorKind::Refused,
                            message: format!("cannot write {path}: {e}"),
                        })
                })
                .await
                .unwrap_or_else(|e| {
                    Err(RpcError {
                        kind: super::action::ErrorKind::Refused,
                        message: e.to_string(),
                    })
                });
                Action::Done(r)
            }
        }
    }

    async fn login(&self, username: &str, password: &str) -> Rpc<idoctor_protocol::UserInfo> {
        let ctx = &self.ctx;
        let client = ctx.connect().await.map_err(RpcError::from)?;
        let (session, client) = client
            .login(username, password)
            .await
            .map_err(RpcError::from)?;
        // Saved exactly as `idoctor login` saves it, so the subcommands share it.
        ctx.sessions()
            .put(
                &ctx.endpoint.key(),
                SavedSession {
                    username: session.user.username.clone(),
                    token: session.token.clone(),
                    expires_at_ms: session.expires_at_ms,
                },
            )
            .map_err(|e| RpcError {
                kind: super::action::ErrorKind::Refused,
                message: format!("cannot save the session: {e}"),
            })?;
        self.store(Some(client.with_timeout(Duration::from_secs(20))));
        Ok(session.user)
    }

    async fn fetch(&self, f: Fetch) -> Action {
        match f {
            Fetch::Whoami => {
                Action::Connected(self.with(|c| async move { c.whoami().await }).await)
            }
            Fetch::Jobs => {
                Action::Jobs(self.with(|c| async move { c.list_jobs(None).await }).await)
            }
            Fetch::Detail(id) => Action::Detail(
                id,
                self.with(|c| async move {
                    let d = c.get_job(id).await?;
                    let log = c.job_log(id, 200).await?;
                    Ok((d, log))
                })
                .await,
            ),
            Fetch::Results(id, v) => Action::Results(
                id,
                self.with(|c| async move { c.results(id, v).await }).await,
            ),
            Fetch::Image(key) => Action::Image(key, self.image(key).await),
            Fetch::Series { admin } => Action::Series(
                self.with(|c| async move {
                    let s = c.list_series().await?;
                    let q = if admin {
                        Some(c.quarantine(None, 200).await?)
                    } else {
                        None
                    };
                    Ok((s, q))
                })
                .await,
            ),
            Fetch::MyQuota => Action::MyQuota(
                self.with(|c| async move {
                    let q = c.my_quota().await?;
                    let u = c
                        .my_usage(UsageFilter {
                            limit: Some(100),
                            ..UsageFilter::default()
                        })
                        .await?;
                    Ok((q, u))
                })
                .await,
            ),
            Fetch::Users => Action::Users(self.with(|c| async move { c.list_users().await }).await),
            Fetch::Quotas(user) => {
                let u = user.clone();
                Action::Quotas(
                    user,
                    self.with(|c| async move { c.quota_show(u).await }).await,
                )
            }
            Fetch::Usage(q) => Action::Usage(self.with(|c| usage(c, q)).await),
            Fetch::Stats(days) => Action::Stats(
                self.with(|c| async move {
                    let mut out = Vec::new();
                    for t in QuotaType::ALL {
                        out.push(c.stats(t, days).await?);
                    }
                    Ok(out)
                })
                .await,
            ),
        }
    }

    async fn image(&self, key: ImageKey) -> Rpc<Picture> {
        let img = self
            .with(|c| async move { c.image(key.job_id, key.version, key.kind).await })
            .await?;
        let decoded = tokio::task::spawn_blocking(move || image::load_from_memory(&img.png))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| format!("cannot decode the image: {e}")));
        decoded
            .map(|image| Picture { key, image })
            .map_err(|message| RpcError {
                kind: super::action::ErrorKind::Refused,
                message,
            })
    }

    async fn mutate(&self, m: Mutation) -> Rpc<Outcome> {
        match m {
            Mutation::SetL3(id, z) => {
                self.with(|c| async move {
                    let d = c.set_l3(id, z).await?;
                    let at = d.l3.as_ref().and_then(|l| l.mid_z_mm).unwrap_or(z);
                    let msg = format!("job {id}: L3 set to z {at:.1} mm");
                    Ok(Outcome::Job(Box::new(d), msg))
                })
                .await
            }
            Mutation::Continue(id) => {
                self.with(|c| async move {
                    let d = c.continue_job(id).await?;
                    Ok(Outcome::Job(Box::new(d), format!("job {id} continues")))
                })
                .await
            }
            Mutation::Rerun(id) => {
                self.with(|c| async move {
                    let d = c.rerun(id).await?;
                    Ok(Outcome::Job(
                        Box::new(d),
                        format!("job {id} queued to run again"),
                    ))
                })
                .await
            }
            Mutation::Cancel(id) => {
                self.with(|c| async move {
                    let d = c.cancel(id).await?;
                    Ok(Outcome::Job(Box::new(d), format!("job {id} cancelled")))
                })
                .await
            }
            Mutation::UploadMask(id, tissue, path) => {
                let bytes = tokio::fs::read(&path).await.map_err(|e| RpcError {
                    kind: super::action::ErrorKind::Refused,
                    message: format!("cannot read {path}: {e}"),
                })?;
                self.with(|c| async move {
                    let d = c.upload_mask(id, tissue, bytes).await?;
                    let msg = format!("{} mask uploaded; job {id} re-measures", tissue.as_str());
                    Ok(Outcome::Job(Box::new(d), msg))
                })
                .await
            }
            Mutation::AddUser(spec) => {
                self.with(|c| async move {
                    let u = c.add_user(spec.into()).await?;
                    let msg = format!("added {}", u.username);
                    Ok(Outcome::User(u, msg))
                })
                .await
            }
            Mutation::SetDisabled(name, disabled) => {
                self.with(|c| async move {
                    let u = c.set_user_disabled(name.clone(), disabled).await?;
                    let what = if disabled { "disabled" } else { "enabled" };
                    Ok(Outcome::User(u, format!("{name} {what}")))
                })
                .await
            }
            Mutation::SetPassword(name, pw) => {
                self.with(|c| async move {
                    let u = c.set_password(name.clone(), pw).await?;
                    Ok(Outcome::User(u, format!("password of {name} changed")))
                })
                .await
            }
            Mutation::SetPlan(name, plan) => {
                self.with(|c| async move {
                    let change = c.set_plan(name.clone(), plan.clone()).await?;
                    Ok(Outcome::Quota(
                        name.clone(),
                        change,
                        format!("{name} is on {plan}"),
                    ))
                })
                .await
            }
            Mutation::SetMode(name, mode, outbox) => {
                self.with(|c| async move {
                    let u = c.set_user_mode(name.clone(), mode, outbox).await?;
                    Ok(Outcome::User(u, format!("{name} is in {mode} mode")))
                })
                .await
            }
            Mutation::Adjust(name, t, limit) => {
                self.with(|c| async move {
                    let change = c.quota_adjust(name.clone(), t, limit).await?;
                    let msg = match limit {
                        Some(l) => format!("{name}: {t} limit set to {l}"),
                        None => format!("{name}: {t} follows the plan again"),
                    };
                    Ok(Outcome::Quota(name.clone(), change, msg))
                })
                .await
            }
            Mutation::Reset(name, t) => {
                self.with(|c| async move {
                    let change = c.quota_reset(name.clone(), t).await?;
                    let what = t.map_or_else(|| "every balance".to_string(), |t| t.to_string());
                    Ok(Outcome::Quota(
                        name.clone(),
                        change,
                        format!("{name}: {what} reset"),
                    ))
                })
                .await
            }
        }
    }
}

async fn usage(c: Client, q: UsageQuery) -> Result<idoctor_protocol::UsagePage, ClientError> {
    let filter = UsageFilter::from(&q);
    if q.admin {
        c.usage(filter).await
    } else {
        c.my_usage(filter).await
    }
}
