//! `login`, `whoami`, `logout`.

use super::output::outln;
use super::{CliError, Context, print_json};
use crate::files::SavedSession;
use crate::password::read_password;

pub(super) async fn login(
    ctx: &Context,
    username: &str,
    password_stdin: bool,
) -> Result<(), CliError> {
    let password = read_password(password_stdin, &format!("Password for {username}: "))
        .map_err(|e| CliError::Other(e.to_string()))?;
    let client = ctx.connect().await?;
    let (session, _) = client.login(username, &password).await?;
    ctx.sessions()
        .put(
            &ctx.endpoint.key(),
            SavedSession {
                username: session.user.username.clone(),
                token: session.token,
                expires_at_ms: session.expires_at_ms,
            },
        )
        .map_err(|e| CliError::Other(format!("cannot save the session: {e}")))?;
    eprintln!(
        "logged in to {} as {} ({})",
        ctx.endpoint, session.user.username, session.user.role
    );
    Ok(())
}

pub(super) async fn whoami(ctx: &Context, json: bool) -> Result<(), CliError> {
    let user = ctx.client().await?.whoami().await?;
    if json {
        return print_json(&user);
    }
    outln!(
        "{} ({}, plan {}, mode {}) on {}",
        user.username,
        user.role,
        user.plan,
        user.mode,
        ctx.endpoint
    );
    Ok(())
}

pub(super) async fn logout(ctx: &Context) -> Result<(), CliError> {
    let had = ctx
        .sessions()
        .remove(&ctx.endpoint.key())
        .map_err(|e| CliError::Other(format!("cannot update the session file: {e}")))?;
    if had {
        eprintln!("logged out of {}", ctx.endpoint);
    } else {
        eprintln!("no saved session for {}", ctx.endpoint);
    }
    Ok(())
}
