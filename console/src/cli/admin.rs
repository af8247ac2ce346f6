//! `idoctor admin …`: users, and (later) plans, quotas, usage and statistics.

use super::output::print_table;
use super::{AdminCommand, AdminUserCommand, CliError, Context, print_json};
use crate::password::read_password;
use idoctor_protocol::NewUser;

pub(super) async fn run(ctx: &Context, cmd: AdminCommand) -> Result<(), CliError> {
    let client = ctx.client().await?;
    match cmd {
        AdminCommand::Users { json } => {
            let users = client.list_users().await?;
            if json {
                return print_json(&users);
            }
            let rows: Vec<Vec<String>> = users
                .iter()
                .map(|u| {
                    vec![
                        u.username.clone(),
                        u.role.to_string(),
                        u.plan.clone(),
                        u.mode.to_string(),
                        if u.disabled { "disabled" } else { "active" }.to_string(),
                    ]
                })
                .collect();
            print_table(&["USERNAME", "ROLE", "PLAN", "MODE", "STATUS"], &rows);
            Ok(())
        }
        AdminCommand::User(cmd) => user(ctx, &client, cmd).await,
        AdminCommand::Plan(cmd) => super::quota::plan(&client, cmd).await,
        AdminCommand::Quota(cmd) => super::quota::admin_quota(&client, cmd).await,
        AdminCommand::Usage { user, args } => super::quota::admin_usage(&client, user, args).await,
        AdminCommand::Stats {
            quota_type,
            days,
            json,
        } => super::quota::stats(&client, quota_type, days, json).await,
        AdminCommand::Warnings { limit, json } => {
            super::quota::warnings(&client, limit, json).await
        }
        AdminCommand::Quarantine { user, limit, json } => {
            super::series::quarantine(&client, user, limit, json).await
        }
    }
}

async fn user(
    _ctx: &Context,
    client: &crate::client::Client,
    cmd: AdminUserCommand,
) -> Result<(), CliError> {
    let password = |stdin: bool, name: &str| {
        read_password(stdin, &format!("New password for {name}: "))
            .map_err(|e| CliError::Other(e.to_string()))
    };
    match cmd {
        AdminUserCommand::Add {
            username,
            role,
            plan,
            password_stdin,
        } => {
            let pw = password(password_stdin, &username)?;
            let u = client
                .add_user(NewUser {
                    username,
                    password: pw,
                    role,
                    plan: Some(plan),
                })
                .await?;
            eprintln!("created {} ({}, plan {})", u.username, u.role, u.plan);
        }
        AdminUserCommand::Disable { username } => {
            client.set_user_disabled(username.clone(), true).await?;
            eprintln!("disabled {username}; their sessions no longer work");
        }
        AdminUserCommand::Enable { username } => {
            client.set_user_disabled(username.clone(), false).await?;
            eprintln!("enabled {username}");
        }
        AdminUserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let pw = password(password_stdin, &username)?;
            client.set_password(username.clone(), pw).await?;
            eprintln!("password changed for {username}; their sessions have ended");
        }
        AdminUserCommand::Mode {
            username,
            mode,
            outbox,
        } => {
            let u = client.set_user_mode(username, mode, outbox).await?;
            eprintln!(
                "{} now runs in {} mode (outbox {})",
                u.username,
                u.mode,
                if u.outbox { "on" } else { "off" }
            );
        }
    }
    Ok(())
}
