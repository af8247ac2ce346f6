//! `jobs` and `job …`.

use super::output::outln;
use super::output::print_table;
use super::{CliError, Context, JobCommand, print_json};
use crate::format::{age, bytes, time};
use idoctor_protocol::{JobDetail, JobInfo, JobState, ResultVersion, TissueStats};

fn state_text(j: &JobInfo) -> String {
    match (j.state, j.held_quota, &j.stage) {
        (JobState::Held, Some(q), _) => format!("held({q})"),
        (JobState::Running, _, Some(stage)) => {
            format!("running({stage} {:.0}%)", j.progress.unwrap_or(0.0) * 100.0)
        }
        (s, _, _) => s.to_string(),
    }
}

pub(super) async fn list(
    ctx: &Context,
    state: Option<JobState>,
    json: bool,
) -> Result<(), CliError> {
    let jobs = ctx.client().await?.list_jobs(state).await?;
    if json {
        return print_json(&jobs);
    }
    let now = chrono::Utc::now().timestamp_millis();
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                j.patient_id.clone(),
                j.study_date.clone().unwrap_or_default(),
                j.series_description.clone().unwrap_or_default(),
                state_text(j),
                j.l3_confidence
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_default(),
                j.version.map(|v| format!("v{v}")).unwrap_or_default(),
                age(now, j.updated_at_ms),
            ]
        })
        .collect();
    print_table(
        &[
            "ID", "PATIENT", "DATE", "SERIES", "STATE", "L3", "VERSION", "AGE",
        ],
        &rows,
    );
    for j in jobs.iter().filter(|j| j.error.is_some()) {
        outln!("job {}: {}", j.id, j.error.as_deref().unwrap_or_default());
    }
    Ok(())
}

fn print_detail(d: &JobDetail) {
    let j = &d.job;
    outln!("job {} ({} mode): {}", j.id, j.mode, state_text(j));
    if let Some(e) = &j.error {
        outln!("  {e}");
    }
    outln!(
        "  patient {}  study {}  series {}",
        j.patient_id,
        j.study_date.as_deref().unwrap_or("-"),
        j.series_description.as_deref().unwrap_or("-")
    );
    match &d.l3 {
        Some(l3) => match l3.mid_z_mm {
            Some(z) => outln!(
                "  L3 at z {z:.1} mm (slice {}), {} confidence {:.2}{}",
                l3.mid_slice_index.unwrap_or_default(),
                l3.method,
                l3.confidence,
                if l3.low_confidence {
                    " (low: check it)"
                } else {
                    ""
                }
            ),
            None => outln!("  L3 not found: {}", l3.reason.as_deref().unwrap_or("-")),
        },
        None => outln!("  L3 not detected yet"),
    }
    for v in &d.versions {
        outln!(
            "  v{}  {}  {}  {}  {}",
            v.version,
            time(v.created_at_ms),
            v.kind.as_str(),
            v.created_by.as_deref().unwrap_or("pipeline"),
            v.reason
        );
    }
}

fn stats_row(name: &str, s: &TissueStats) -> Vec<String> {
    let f = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
    vec![
        name.into(),
        s.pixels.to_string(),
        format!("{:.2}", s.area_cm2),
        f(s.hu_mean),
        f(s.hu_sd),
    ]
}

fn print_results(r: &ResultVersion) {
    let a = &r.analysis;
    outln!(
        "job version v{} ({}, {}): {}",
        r.info.version,
        r.info.kind.as_str(),
        r.info.created_by.as_deref().unwrap_or("pipeline"),
        r.info.reason
    );
    match (&a.l3.mid_z_mm, &a.metrics) {
        (Some(z), Some(m)) => {
            outln!(
                "L3 mid slice z {z:.1} mm (slice {}), {} slices measured",
                m.middle.index,
                m.slices.len()
            );
            let t = &m.middle.tissues;
            let rows = vec![
                stats_row("muscle", &t.muscle),
                stats_row("psoas", &t.psoas),
                stats_row("paraspinal", &t.paraspinal),
                stats_row("abdominal wall", &t.abdominal_wall),
                stats_row("SAT", &t.sat),
                stats_row("VAT", &t.vat),
                stats_row("IMAT", &t.imat),
            ];
            print_table(&["TISSUE", "PIXELS", "AREA_CM2", "HU_MEAN", "HU_SD"], &rows);
            let d = |v: &idoctor_protocol::Derived<f64>| {
                v.value
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or_else(|| format!("n/a ({})", v.reason.as_deref().unwrap_or("")))
            };
            outln!(
                "SMI {} cm²/m², psoas index {} cm²/m²",
                d(&m.smi_cm2_m2),
                d(&m.psoas_index_cm2_m2)
            );
            outln!(
                "muscle volume {:.1} cm³, psoas volume {:.1} cm³ over the L3 range",
                m.volumes.muscle.volume_cm3,
                m.volumes.psoas.volume_cm3
            );
        }
        _ => outln!(
            "no metrics: {}",
            a.metrics_missing_reason
                .as_deref()
                .unwrap_or("not measured")
        ),
    }
}

pub(super) async fn run(ctx: &Context, cmd: JobCommand) -> Result<(), CliError> {
    let client = ctx.client().await?;
    match cmd {
        JobCommand::Show { id, json } => {
            let d = client.get_job(id).await?;
            if json {
                return print_json(&d);
            }
            print_detail(&d);
        }
        JobCommand::SetL3 { id, z_mm } => {
            let d = client.set_l3(id, z_mm).await?;
            let z = d.l3.as_ref().and_then(|l| l.mid_z_mm).unwrap_or(z_mm);
            match d.job.state {
                JobState::AwaitingReview => {
                    eprintln!("L3 set to z {z:.1} mm; run `idoctor job continue {id}` to measure")
                }
                _ => eprintln!("L3 set to z {z:.1} mm; a corrected version is queued"),
            }
        }
        JobCommand::Continue { id } => {
            client.continue_job(id).await?;
            eprintln!("job {id} continues: segmentation and metrics are queued");
        }
        JobCommand::Rerun { id } => {
            client.rerun(id).await?;
            eprintln!("job {id} queued to run again");
        }
        JobCommand::Cancel { id } => {
            client.cancel(id).await?;
            eprintln!("job {id} cancelled");
        }
        JobCommand::UploadMask { id, tissue, png } => {
            let bytes = std::fs::read(&png)
                .map_err(|e| CliError::Other(format!("cannot read {}: {e}", png.display())))?;
            client.upload_mask(id, tissue, bytes).await?;
            eprintln!(
                "{} mask uploaded; job {id} re-measures with it",
                tissue.as_str()
            );
        }
        JobCommand::Results { id, version, json } => {
            let r = client.results(id, version).await?;
            if json {
                return print_json(&r);
            }
            print_results(&r);
        }
        JobCommand::Export { id, out, version } => {
            let files = client
                .clone()
                .with_timeout(std::time::Duration::from_secs(300))
                .export(id, version)
                .await?;
            std::fs::create_dir_all(&out)
                .map_err(|e| CliError::Other(format!("cannot create {}: {e}", out.display())))?;
            let mut total = 0;
            for f in &files {
                // Names come from the daemon's fixed list; refuse anything path-like anyway.
                if f.name.contains('/') || f.name.starts_with('.') {
                    return Err(CliError::Other(format!(
                        "refusing a file name from the daemon: {:?}",
                        f.name
                    )));
                }
                std::fs::write(out.join(&f.name), &f.bytes)
                    .map_err(|e| CliError::Other(format!("cannot write {}: {e}", f.name)))?;
                total += f.bytes.len() as i64;
            }
            eprintln!(
                "wrote {} files ({}) to {}",
                files.len(),
                bytes(total),
                out.display()
            );
        }
        JobCommand::Log { id, tail, json } => {
            let lines = client.job_log(id, tail).await?;
            if json {
                return print_json(&lines);
            }
            for l in lines {
                outln!(
                    "{} {:<5} {:<8} {}",
                    time(l.at_ms),
                    l.level,
                    l.stage,
                    l.message
                );
            }
        }
    }
    Ok(())
}
