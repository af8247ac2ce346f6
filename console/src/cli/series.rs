//! `series list` and `admin quarantine`.

use super::output::outln;
use super::output::print_table;
use super::{CliError, Context, print_json};
use crate::client::Client;
use crate::format::{bytes, time};

pub(super) async fn list(ctx: &Context, json: bool) -> Result<(), CliError> {
    let series = ctx.client().await?.list_series().await?;
    if json {
        return print_json(&series);
    }
    let rows: Vec<Vec<String>> = series
        .iter()
        .map(|s| {
            let mut state = s.state.to_string();
            if let Some(q) = s.held_quota {
                state = format!("held({q})");
            }
            vec![
                s.id.to_string(),
                s.patient_id.clone(),
                s.study_date.clone().unwrap_or_default(),
                s.description.clone().unwrap_or_default(),
                s.instances.to_string(),
                bytes(s.bytes),
                state,
                if s.primary { "yes" } else { "" }.into(),
                s.job_id.map(|j| j.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "PATIENT",
            "DATE",
            "DESCRIPTION",
            "SLICES",
            "SIZE",
            "STATE",
            "PRIMARY",
            "JOB",
        ],
        &rows,
    );
    for s in series.iter().filter(|s| s.reason.is_some()) {
        outln!(
            "series {}: {}",
            s.id,
            s.reason.as_deref().unwrap_or_default()
        );
    }
    Ok(())
}

pub(super) async fn quarantine(
    client: &Client,
    user: Option<String>,
    limit: u32,
    json: bool,
) -> Result<(), CliError> {
    let entries = client.quarantine(user, limit).await?;
    if json {
        return print_json(&entries);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|q| {
            vec![
                q.id.to_string(),
                time(q.at_ms),
                q.username.clone(),
                bytes(q.bytes),
                q.path.clone(),
                q.reason.clone(),
            ]
        })
        .collect();
    print_table(&["ID", "TIME", "USER", "SIZE", "PATH", "REASON"], &rows);
    Ok(())
}
