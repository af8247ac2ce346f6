//! `quota`, `usage` and the admin plan/quota/usage/stats commands.

use super::output::outln;
use super::output::print_table;
use super::{CliError, Context, PlanCommand, QuotaCommand, UsageArgs, print_json};
use crate::client::Client;
use crate::format::{amount, time};
use idoctor_protocol::{QuotaChange, QuotaStatus, QuotaType, UsageFilter, UsagePage};

fn parse_time(flag: &str, value: &Option<String>) -> Result<Option<i64>, CliError> {
    value
        .as_deref()
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.timestamp_millis())
                .map_err(|e| {
                    CliError::Other(format!("--{flag} {v:?} is not an RFC 3339 time: {e}"))
                })
        })
        .transpose()
}

fn filter(user: Option<String>, args: &UsageArgs) -> Result<UsageFilter, CliError> {
    Ok(UsageFilter {
        username: user,
        quota_type: args.quota_type,
        kind: args.kind,
        since_ms: parse_time("since", &args.since)?,
        until_ms: parse_time("until", &args.until)?,
        limit: Some(args.limit),
        before_id: args.before,
    })
}

fn print_quotas(quotas: &[QuotaStatus]) {
    let rows: Vec<Vec<String>> = quotas
        .iter()
        .map(|q| {
            let pct = if q.limit > 0 {
                format!("{:.0}%", q.used as f64 * 100.0 / q.limit as f64)
            } else {
                "-".into()
            };
            vec![
                q.quota_type.to_string(),
                amount(q.quota_type, q.used),
                format!(
                    "{}{}",
                    amount(q.quota_type, q.limit),
                    if q.overridden { " *" } else { "" }
                ),
                pct,
                q.period_end_ms.map_or_else(|| "never".into(), time),
            ]
        })
        .collect();
    print_table(&["TYPE", "USED", "LIMIT", "USE", "RESETS"], &rows);
    if quotas.iter().any(|q| q.overridden) {
        outln!("* per-user override");
    }
}

fn print_usage(page: &UsagePage) {
    let rows: Vec<Vec<String>> = page
        .entries
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                time(e.at_ms),
                e.username.clone(),
                e.actor.clone().unwrap_or_else(|| "system".into()),
                e.quota_type.to_string(),
                e.kind.to_string(),
                format!("{:+}", e.amount),
                e.idempotency_key.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "ID", "TIME", "USER", "ACTOR", "TYPE", "KIND", "AMOUNT", "KEY",
        ],
        &rows,
    );
    if let Some(next) = page.next_before_id {
        outln!("more: --before {next}");
    }
}

fn print_change(change: &QuotaChange, json: bool) -> Result<(), CliError> {
    if json {
        return print_json(change);
    }
    for note in &change.notes {
        eprintln!("note: {note}");
    }
    print_quotas(&change.quotas);
    Ok(())
}

pub(super) async fn mine(ctx: &Context, json: bool) -> Result<(), CliError> {
    let quotas = ctx.client().await?.my_quota().await?;
    if json {
        return print_json(&quotas);
    }
    print_quotas(&quotas);
    Ok(())
}

pub(super) async fn my_usage(ctx: &Context, args: UsageArgs) -> Result<(), CliError> {
    let page = ctx.client().await?.my_usage(filter(None, &args)?).await?;
    if args.json {
        return print_json(&page);
    }
    print_usage(&page);
    Ok(())
}

pub(super) async fn plan(client: &Client, cmd: PlanCommand) -> Result<(), CliError> {
    let PlanCommand::Set { user, plan } = cmd;
    let change = client.set_plan(user, plan).await?;
    print_change(&change, false)
}

pub(super) async fn admin_quota(client: &Client, cmd: QuotaCommand) -> Result<(), CliError> {
    match cmd {
        QuotaCommand::Show { user, json } => {
            let quotas = client.quota_show(user).await?;
            if json {
                return print_json(&quotas);
            }
            print_quotas(&quotas);
            Ok(())
        }
        QuotaCommand::Adjust {
            user,
            quota_type,
            limit,
            clear,
            json,
        } => {
            let limit = if clear { None } else { limit };
            let change = client.quota_adjust(user, quota_type, limit).await?;
            print_change(&change, json)
        }
        QuotaCommand::Reset {
            user,
            quota_type,
            json,
        } => {
            let change = client.quota_reset(user, quota_type).await?;
            print_change(&change, json)
        }
    }
}

pub(super) async fn admin_usage(
    client: &Client,
    user: Option<String>,
    args: UsageArgs,
) -> Result<(), CliError> {
    let page = client.usage(filter(user, &args)?).await?;
    if args.json {
        return print_json(&page);
    }
    print_usage(&page);
    Ok(())
}

pub(super) async fn stats(
    client: &Client,
    quota_type: QuotaType,
    days: u32,
    json: bool,
) -> Result<(), CliError> {
    let stats = client.stats(quota_type, days).await?;
    if json {
        return print_json(&stats);
    }
    outln!(
        "{}: {} used in total",
        stats.quota_type,
        amount(quota_type, stats.total_used)
    );
    let peak = stats
        .per_day
        .iter()
        .map(|d| d.amount)
        .max()
        .unwrap_or(0)
        .max(1);
    for day in &stats.per_day {
        let bar = "#".repeat(((day.amount.max(0) * 40) / peak) as usize);
        outln!("{}  {:>10}  {bar}", day.day, amount(quota_type, day.amount));
    }
    for (title, list) in [
        ("at or over the limit", &stats.at_limit),
        ("at 80% or more", &stats.near_limit),
    ] {
        if !list.is_empty() {
            outln!("{title}:");
            for u in list {
                outln!(
                    "  {:<20} {} / {} ({:.0}%)",
                    u.username,
                    amount(quota_type, u.used),
                    amount(quota_type, u.limit),
                    u.percent
                );
            }
        }
    }
    Ok(())
}

pub(super) async fn warnings(client: &Client, limit: u32, json: bool) -> Result<(), CliError> {
    let list = client.warnings(limit).await?;
    if json {
        return print_json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|w| {
            vec![
                time(w.at_ms),
                w.username.clone(),
                w.quota_type.to_string(),
                format!("{}%", w.level),
            ]
        })
        .collect();
    print_table(&["TIME", "USER", "TYPE", "LEVEL"], &rows);
    Ok(())
}
