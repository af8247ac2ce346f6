//! Jobs end to end, with real daemon processes: auto and review modes, L3 correction,
//! mask upload, versions, quota holds that resume, crash recovery, two daemons on one
//! PostgreSQL database, and isolation between users.

use crate::common::{Daemon, FAST_INGEST, TestDb, backends, drop_phantom, wait_for};
use idoctor_console::client::Client;
use idoctor_protocol::{
    ErrorCode, ImageKind, JobDetail, JobInfo, JobMode, JobState, L3Status, MaskTissue, QuotaType,
    ResultKind, SeriesState, UsageFilter, UsageKind,
};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);

async fn wait_jobs(client: &Client, what: &str, done: impl Fn(&[JobInfo]) -> bool) -> Vec<JobInfo> {
    wait_for(WAIT, what, || async {
        let jobs = client.list_jobs(None).await.ok()?;
        done(&jobs).then_some(jobs)
    })
    .await
}

async fn wait_job(
    client: &Client,
    id: i64,
    what: &str,
    done: impl Fn(&JobDetail) -> bool,
) -> JobDetail {
    wait_for(WAIT, what, || async {
        let d = client.get_job(id).await.ok()?;
        done(&d).then_some(d)
    })
    .await
}

/// A daemon that retries held work only when an admin releases it (so the count of
/// released jobs is exact), with an admin and a `free`-plan operator `user`, both signed
/// in, and the operator's `quota` limit set to `limit`.
async fn daemon_with_limit(
    db: &TestDb,
    user: &str,
    quota: QuotaType,
    limit: i64,
) -> (Daemon, Client, Client) {
    let mut env = FAST_INGEST.to_vec();
    env.push(("IDOCTOR_JOBS__HELD_RETRY_S", "3600"));
    let daemon = Daemon::start(db, &env).await;
    let root_pw = daemon.add_user("root", "admin", "enterprise");
    let pw = daemon.add_user(user, "operator", "free");
    let root = daemon.login("root", &root_pw).await;
    let client = daemon.login(user, &pw).await;
    root.quota_adjust(user.into(), quota, Some(limit))
        .await
        .unwrap();
    (daemon, root, client)
}

async fn consumes(admin: &Client, user: &str, t: QuotaType) -> usize {
    admin
        .usage(UsageFilter {
            username: Some(user.into()),
            quota_type: Some(t),
            kind: Some(UsageKind::Consume),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap()
        .entries
        .len()
}

fn png_with_rect(rows: u32, cols: u32, rect: (u32, u32, u32, u32)) -> (Vec<u8>, u64) {
    let (x0, y0, w, h) = rect;
    let mut img = image::GrayImage::new(cols, rows);
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            img.put_pixel(x, y, image::Luma([255]));
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    (out.into_inner(), u64::from(w * h))
}

#[tokio::test]
async fn auto_mode_measures_the_phantom_and_a_mask_makes_a_new_version() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let daemon = Daemon::start(&db, FAST_INGEST).await;
        let root_pw = daemon.add_user("root", "admin", "enterprise");
        let pw = daemon.add_user("ana", "operator", "pro");
        let root = daemon.login("root", &root_pw).await;
        let ana = daemon.login("ana", &pw).await;
        let truth = drop_phantom(&daemon, "ana", 3, 125, 256);

        let jobs = wait_jobs(&ana, "the job to finish", |j| {
            j.len() == 1 && j[0].state == JobState::Done
        })
        .await;
        let job = &jobs[0];
        assert_eq!(job.version, Some(1));
        let v1 = ana.results(job.id, None).await.unwrap();
        let a = &v1.analysis;
        assert_eq!(a.l3.status, L3Status::Found, "{:?}", a.l3.reason);
        let spacing = a.volume.slice_spacing_mm;
        let error = (a.l3.mid_z_mm.unwrap() - truth.l3.mid_z_mm).abs();
        assert!(
            error <= spacing + 1e-6,
            "L3 off by {error:.1} mm (slice spacing {spacing:.1})"
        );
        let m = a.metrics.as_ref().expect("measured");
        let k = m.middle.index as usize;
        let true_muscle = truth.slices[k].areas_cm2.muscle;
        let got = m.middle.tissues.muscle.area_cm2;
        assert!(
            (got - true_muscle).abs() / true_muscle < 0.10,
            "muscle {got:.1} vs truth {true_muscle:.1} cm²"
        );
        assert_eq!(v1.info.kind, ResultKind::Automatic);

        // Exactly one full-process charge; the outputs are charged by their bytes.
        assert_eq!(
            consumes(&root, "ana", QuotaType::ApiCallsFullProcess).await,
            1
        );
        let storage = ana
            .my_quota()
            .await
            .unwrap()
            .into_iter()
            .find(|q| q.quota_type == QuotaType::StorageResults)
            .unwrap();
        assert_eq!(storage.used, v1.info.bytes);

        // Images, exports and the log.
        let sag = ana.image(job.id, None, ImageKind::Sagittal).await.unwrap();
        assert!(sag.png.starts_with(b"\x89PNG") && sag.width > 0 && sag.height > 0);
        let axial = ana
            .image(job.id, None, ImageKind::Axial { index: k as u32 })
            .await
            .unwrap();
        assert_eq!((axial.width, axial.height), (256, 256));
        let files = ana.export(job.id, None).await.unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        for n in [
            "results.json",
            "hu_statistics.csv",
            "hu_statistics_middle.csv",
            "overlay_all.png",
            "sagittal.png",
        ] {
            assert!(names.contains(&n), "{names:?}");
        }
        let log = ana.job_log(job.id, 50).await.unwrap();
        assert!(
            log.iter().any(|l| l.message.contains("version 1 written")),
            "{log:?}"
        );

        // Malformed masks are refused clearly; a good one makes version 2 at once exact.
        let (rows, cols) = (a.volume.rows, a.volume.columns);
        let bad_size = png_with_rect(rows + 1, cols, (10, 10, 5, 5)).0;
        let err = ana
            .upload_mask(job.id, MaskTissue::Muscle, bad_size)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidInput), "{err}");
        assert!(err.to_string().contains("the slice is"), "{err}");
        let err = ana
            .upload_mask(job.id, MaskTissue::Muscle, b"GIF89a".to_vec())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidInput));
        let err = ana
            .upload_mask(
                job.id,
                MaskTissue::Muscle,
                png_with_rect(rows, cols, (0, 0, 0, 0)).0,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let (png, pixels) = png_with_rect(rows, cols, (60, 150, 40, 25));
        ana.upload_mask(job.id, MaskTissue::Muscle, png)
            .await
            .unwrap();
        let d = wait_job(&ana, job.id, "the re-measure", |d| {
            d.versions.len() == 2 && d.job.state == JobState::Done
        })
        .await;
        let v2 = ana.results(job.id, Some(2)).await.unwrap();
        assert_eq!(v2.info.kind, ResultKind::MaskCorrected);
        assert_eq!(v2.info.created_by.as_deref(), Some("ana"));
        let mm = v2.analysis.metrics.as_ref().unwrap();
        assert_eq!(mm.middle.tissues.muscle.pixels, pixels);
        let px = a.volume.pixel_spacing_mm[0] * a.volume.pixel_spacing_mm[1] / 100.0;
        assert!((mm.middle.tissues.muscle.area_cm2 - pixels as f64 * px).abs() < 1e-9);
        assert_eq!(mm.mask_source, "operator:muscle");
        // Version 1 is unchanged.
        assert_eq!(ana.results(job.id, Some(1)).await.unwrap(), v1);
        assert_eq!(d.versions[0].kind, ResultKind::Automatic);
        assert_eq!(
            consumes(&root, "ana", QuotaType::ApiCallsFullProcess).await,
            1,
            "a mask re-measure is not a new call"
        );
        db.assert_reconciled().await;
        eprintln!("auto mode passed on {backend}");
    }
}

#[tokio::test]
async fn review_mode_waits_then_measures_at_the_operators_l3_and_isolation_holds() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let daemon = Daemon::start(&db, FAST_INGEST).await;
        let root_pw = daemon.add_user("root", "admin", "enterprise");
        let pw = daemon.add_user("rita", "operator", "pro");
        let eve_pw = daemon.add_user("eve", "operator", "pro");
        let root = daemon.login("root", &root_pw).await;
        root.set_user_mode("rita".into(), JobMode::Review, false)
            .await
            .unwrap();
        let rita = daemon.login("rita", &pw).await;
        drop_phantom(&daemon, "rita", 5, 125, 256);

        let jobs = wait_jobs(&rita, "review", |j| {
            j.len() == 1 && j[0].state == JobState::AwaitingReview
        })
        .await;
        let id = jobs[0].id;
        let d = rita.get_job(id).await.unwrap();
        let v1 = rita.results(id, Some(1)).await.unwrap();
        assert!(v1.analysis.metrics.is_none(), "detection only");
        assert!(
            v1.analysis
                .metrics_missing_reason
                .as_deref()
                .unwrap()
                .contains("review")
        );
        let detected = d.l3.clone().expect("detected L3");
        let k = detected.mid_slice_index.unwrap() as usize;
        let target = d.slice_z_mm[k + 2];

        // Move L3 down two slices... (up in index is superior: use +2 in the sorted list).
        let moved = rita.set_l3(id, target + 0.4).await.unwrap();
        assert_eq!(moved.job.state, JobState::AwaitingReview);
        let l3 = moved.l3.unwrap();
        assert_eq!(
            (l3.method.as_str(), l3.mid_z_mm),
            ("operator", Some(target)),
            "snapped to the slice"
        );
        let err = rita.set_l3(id, 1e6).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidInput));

        rita.continue_job(id).await.unwrap();
        let d = wait_job(&rita, id, "the continued job", |d| {
            d.job.state == JobState::Done
        })
        .await;
        assert_eq!(d.versions.len(), 2);
        let v2 = rita.results(id, None).await.unwrap();
        assert_eq!(v2.info.kind, ResultKind::L3Corrected);
        assert_eq!(v2.analysis.l3.method, "operator");
        assert_eq!(v2.analysis.l3.mid_z_mm, Some(target));
        assert_eq!(
            v2.analysis.metrics.as_ref().unwrap().middle.index as usize,
            k + 2
        );
        assert_eq!(
            rita.results(id, Some(1)).await.unwrap(),
            v1,
            "version 1 unchanged"
        );
        assert_eq!(
            consumes(&root, "rita", QuotaType::ApiCallsL3Detect).await,
            1
        );
        assert_eq!(
            consumes(&root, "rita", QuotaType::ApiCallsContinue).await,
            1
        );
        assert_eq!(
            consumes(&root, "rita", QuotaType::ApiCallsFullProcess).await,
            0
        );

        // Continue twice is a state conflict, not a second charge.
        let err = rita.continue_job(id).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Conflict));

        // Another operator sees nothing of it: every job request answers not_found.
        let eve = daemon.login("eve", &eve_pw).await;
        let not_found = |what: &str, r: Result<(), idoctor_console::client::ClientError>| {
            let e = r.unwrap_err();
            assert_eq!(e.code(), Some(ErrorCode::NotFound), "{what}: {e}");
        };
        not_found("get", eve.get_job(id).await.map(drop));
        not_found("set-l3", eve.set_l3(id, target).await.map(drop));
        not_found("continue", eve.continue_job(id).await.map(drop));
        not_found("rerun", eve.rerun(id).await.map(drop));
        not_found("cancel", eve.cancel(id).await.map(drop));
        let mask = png_with_rect(256, 256, (1, 1, 2, 2)).0;
        not_found(
            "mask",
            eve.upload_mask(id, MaskTissue::Psoas, mask).await.map(drop),
        );
        not_found("results", eve.results(id, None).await.map(drop));
        not_found(
            "sagittal",
            eve.image(id, None, ImageKind::Sagittal).await.map(drop),
        );
        not_found(
            "axial",
            eve.image(id, None, ImageKind::Axial { index: 0 })
                .await
                .map(drop),
        );
        not_found("export", eve.export(id, None).await.map(drop));
        not_found("log", eve.job_log(id, 10).await.map(drop));
        assert!(eve.list_jobs(None).await.unwrap().is_empty());
        db.assert_reconciled().await;
        eprintln!("review mode passed on {backend}");
    }
}

#[tokio::test]
async fn over_quota_jobs_are_held_then_resume_when_the_limit_is_raised() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (daemon, root, hal) =
            daemon_with_limit(&db, "hal", QuotaType::ApiCallsFullProcess, 2).await;
        for seed in 11..16 {
            drop_phantom(&daemon, "hal", seed, 80, 128);
        }
        let jobs = wait_jobs(&hal, "2 done and 3 held", |j| {
            j.len() == 5
                && j.iter().filter(|x| x.state == JobState::Done).count() == 2
                && j.iter().filter(|x| x.state == JobState::Held).count() == 3
        })
        .await;
        for held in jobs.iter().filter(|j| j.state == JobState::Held) {
            assert_eq!(held.held_quota, Some(QuotaType::ApiCallsFullProcess));
            assert!(
                held.error.as_deref().unwrap().contains("quota exceeded"),
                "{held:?}"
            );
            // The log line is written with the hold, so it is there the moment the job
            // reads held.
            let log = hal.job_log(held.id, 50).await.unwrap();
            assert!(
                log.iter().any(|l| l.message.starts_with("held: the ")
                    && l.message.contains("quota is used up")),
                "{log:?}"
            );
        }
        // Still held after a while: nothing is dropped, nothing runs.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(hal.list_jobs(Some(JobState::Held)).await.unwrap().len(), 3);

        let change = root
            .quota_adjust("hal".into(), QuotaType::ApiCallsFullProcess, Some(5))
            .await
            .unwrap();
        assert_eq!(change.released, 3, "{change:?}");
        wait_jobs(&hal, "all 5 done", |j| {
            j.len() == 5 && j.iter().all(|x| x.state == JobState::Done)
        })
        .await;
        assert_eq!(
            consumes(&root, "hal", QuotaType::ApiCallsFullProcess).await,
            5
        );
        assert_eq!(consumes(&root, "hal", QuotaType::PatientCases).await, 5);
        db.assert_reconciled().await;
        eprintln!("quota hold passed on {backend}");
    }
}

/// A job whose outputs exceed the results-storage quota is held with nothing kept or
/// charged for them, its log says why the moment it reads held, and raising the limit
/// lets it write them again, charged once.
#[tokio::test]
async fn a_job_over_its_results_storage_is_held_then_writes_its_outputs_again() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (daemon, root, sam) =
            daemon_with_limit(&db, "sam", QuotaType::StorageResults, 1000).await;
        drop_phantom(&daemon, "sam", 21, 80, 128);
        let jobs = wait_jobs(&sam, "the job held", |j| {
            j.len() == 1 && j[0].state == JobState::Held
        })
        .await;
        let held = &jobs[0];
        assert_eq!(held.held_quota, Some(QuotaType::StorageResults), "{held:?}");
        let log = sam.job_log(held.id, 50).await.unwrap();
        assert!(
            log.iter().any(|l| l.message.starts_with("held: ")
                && l.message.contains("outputs will be written again")),
            "{log:?}"
        );
        assert_eq!(held.version, None, "{held:?}");
        assert!(
            sam.results(held.id, None).await.is_err(),
            "no version while held"
        );
        // It waits for the quota: it is not re-run at once, again and again (it was, when
        // the hold did not push the next claim back by the held-retry period).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let again = sam.list_jobs(None).await.unwrap();
        assert_eq!(again[0].state, JobState::Held, "{again:?}");
        let log = sam.job_log(held.id, 50).await.unwrap();
        let holds = log
            .iter()
            .filter(|l| l.message.starts_with("held: "))
            .count();
        assert_eq!(holds, 1, "{log:?}");
        assert_eq!(consumes(&root, "sam", QuotaType::StorageResults).await, 0);

        let change = root
            .quota_adjust("sam".into(), QuotaType::StorageResults, Some(1 << 30))
            .await
            .unwrap();
        assert_eq!(change.released, 1, "{change:?}");
        wait_jobs(&sam, "the job done", |j| {
            j.len() == 1 && j[0].state == JobState::Done
        })
        .await;
        let v1 = sam.results(held.id, None).await.unwrap();
        assert_eq!(v1.info.version, 1);
        assert!(v1.info.bytes > 1000, "{:?}", v1.info);
        assert_eq!(consumes(&root, "sam", QuotaType::StorageResults).await, 1);
        assert_eq!(
            consumes(&root, "sam", QuotaType::ApiCallsFullProcess).await,
            1,
            "the re-run is not charged again"
        );
        db.assert_reconciled().await;
        eprintln!("results-storage hold passed on {backend}");
    }
}

#[tokio::test]
async fn a_daemon_killed_mid_pipeline_finishes_the_job_once_after_restart() {
    let db = TestDb::create("sqlite").await;
    let env: Vec<(&str, &str)> = FAST_INGEST
        .iter()
        .copied()
        .chain([("IDOCTOR_JOBS__LEASE_S", "2")])
        .collect();
    let mut daemon = Daemon::start(&db, &env).await;
    let root_pw = daemon.add_user("root", "admin", "enterprise");
    let pw = daemon.add_user("kim", "operator", "pro");
    let kim = daemon.login("kim", &pw).await;
    drop_phantom(&daemon, "kim", 9, 300, 512);
    let jobs = wait_jobs(&kim, "the pipeline to start", |j| {
        j.len() == 1
            && j[0].state == JobState::Running
            && matches!(
                j[0].stage.as_deref(),
                Some("decode" | "l3" | "segment" | "metrics")
            )
    })
    .await;
    let id = jobs[0].id;
    daemon.kill9();
    daemon.restart().await;
    let kim = daemon.login("kim", &pw).await;
    let d = wait_job(&kim, id, "the job to finish after the crash", |d| {
        d.job.state == JobState::Done
    })
    .await;
    assert_eq!(d.versions.len(), 1, "the result is produced once");
    let root = daemon.login("root", &root_pw).await;
    assert_eq!(
        consumes(&root, "kim", QuotaType::ApiCallsFullProcess).await,
        1,
        "charged once"
    );
    let log = kim.job_log(id, 100).await.unwrap();
    assert_eq!(
        log.iter().filter(|l| l.stage == "start").count(),
        2,
        "started, killed, taken over: {log:?}"
    );
    let results_dirs: Vec<_> = walk_dirs(&daemon.data_dir.join("results"));
    assert_eq!(results_dirs.iter().filter(|p| p.ends_with("v1")).count(), 1);
    assert!(
        !results_dirs
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".partial")),
        "{results_dirs:?}"
    );
    db.assert_reconciled().await;
}

fn walk_dirs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.push(e.path());
                out.extend(walk_dirs(&e.path()));
            }
        }
    }
    out
}

#[tokio::test]
async fn two_daemons_on_one_postgres_split_the_work_without_doing_anything_twice() {
    if !backends().contains(&"postgres") {
        eprintln!("IDOCTOR_TEST_PG not set: the two-daemon test needs PostgreSQL");
        return;
    }
    let db = TestDb::create("postgres").await;
    let a = Daemon::start(&db, FAST_INGEST).await;
    let b_env: Vec<(&str, &str)> = FAST_INGEST
        .iter()
        .copied()
        .chain([("IDOCTOR_INGEST__ENABLED", "false")])
        .collect();
    let b = a.start_sibling(&b_env).await;
    let root_pw = a.add_user("root", "admin", "enterprise");
    let pw = a.add_user("pat", "operator", "enterprise");
    let pat = a.login("pat", &pw).await;
    for seed in 21..31 {
        drop_phantom(&a, "pat", seed, 80, 128);
    }
    let jobs = wait_jobs(&pat, "10 jobs done", |j| {
        j.len() == 10 && j.iter().all(|x| x.state == JobState::Done)
    })
    .await;
    let mut workers = std::collections::BTreeSet::new();
    for j in &jobs {
        assert_eq!(j.version, Some(1), "job {} has more than one version", j.id);
        let starts: Vec<_> = pat
            .job_log(j.id, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|l| l.stage == "start")
            .collect();
        assert_eq!(starts.len(), 1, "job {} started twice: {starts:?}", j.id);
        let worker = starts[0].message.rsplit(" on ").next().unwrap().to_string();
        workers.insert(worker.rsplit_once('-').unwrap().0.to_string());
    }
    assert_eq!(workers.len(), 2, "both daemons took jobs: {workers:?}");
    let root = a.login("root", &root_pw).await;
    assert_eq!(
        consumes(&root, "pat", QuotaType::ApiCallsFullProcess).await,
        10
    );
    db.assert_reconciled().await;
    drop(b);
}

/// A run that keeps failing for a reason that might pass (here: its output folder cannot be
/// created) is retried with backoff, then failed with its call refunded; the case is not
/// lost: once the cause is gone, a re-run measures it.
#[tokio::test]
async fn a_run_that_keeps_failing_is_retried_then_refunded_and_can_be_rerun() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let mut env = FAST_INGEST.to_vec();
        env.extend([
            ("IDOCTOR_JOBS__MAX_ATTEMPTS", "3"),
            ("IDOCTOR_JOBS__RETRY_BACKOFF_S", "0.2"),
        ]);
        let daemon = Daemon::start(&db, &env).await;
        let root_pw = daemon.add_user("root", "admin", "enterprise");
        let pw = daemon.add_user("fay", "operator", "pro");
        let root = daemon.login("root", &root_pw).await;
        root.set_user_mode("fay".into(), JobMode::Review, false)
            .await
            .unwrap();
        let fay = daemon.login("fay", &pw).await;
        drop_phantom(&daemon, "fay", 9, 125, 256);
        let jobs = wait_jobs(&fay, "review", |j| {
            j.len() == 1 && j[0].state == JobState::AwaitingReview
        })
        .await;
        let id = jobs[0].id;

        // Block the next version's output folder with a plain file (root ignores modes).
        let v1 = walk_dirs(&daemon.data_dir.join("results"))
            .into_iter()
            .find(|d| d.ends_with("v1"))
            .expect("the detection's v1 folder");
        let blocker = v1.with_file_name("v2.partial");
        std::fs::write(&blocker, b"not a folder").unwrap();

        fay.continue_job(id).await.unwrap();
        let d = wait_job(&fay, id, "the job to fail for good", |d| {
            d.job.state == JobState::Failed
        })
        .await;
        assert_eq!(d.job.attempts, 3, "{backend}: retried up to max_attempts");
        let error = d.job.error.clone().unwrap_or_default();
        assert!(
            error.contains("cannot create the output folder"),
            "{backend}: the reason is kept: {error}"
        );
        assert_eq!(d.versions.len(), 1, "{backend}: no half version recorded");
        let log = fay.job_log(id, 500).await.unwrap();
        let retries = log
            .iter()
            .filter(|l| l.message.contains("retrying"))
            .count();
        assert_eq!(retries, 2, "{backend}: two retries logged: {log:?}");

        // One charge for the continue call, and its refund.
        let ledger = root
            .usage(UsageFilter {
                username: Some("fay".into()),
                quota_type: Some(QuotaType::ApiCallsContinue),
                limit: Some(100),
                ..Default::default()
            })
            .await
            .unwrap()
            .entries;
        let kinds: Vec<UsageKind> = ledger.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![UsageKind::Refund, UsageKind::Consume],
            "{backend}: newest first: {ledger:?}"
        );
        assert!(ledger.iter().all(|e| e.job_id == Some(id)));
        let balance = fay
            .my_quota()
            .await
            .unwrap()
            .into_iter()
            .find(|q| q.quota_type == QuotaType::ApiCallsContinue)
            .unwrap();
        assert_eq!(balance.used, 0, "{backend}: the failed call costs nothing");
        db.assert_reconciled().await;

        // The cause removed, a re-run measures the case.
        std::fs::remove_file(&blocker).unwrap();
        fay.rerun(id).await.unwrap();
        let d = wait_job(&fay, id, "the re-run", |d| {
            matches!(d.job.state, JobState::AwaitingReview | JobState::Done)
                && d.versions.len() == 2
        })
        .await;
        assert_eq!(d.job.error, None, "{backend}: {:?}", d.job.error);
        db.assert_reconciled().await;
    }
}

/// A drop folder mapped in `[ingest.folders]` with its own mode wins over the user's: the
/// same user's series is measured at once from their own folder (auto) and waits for
/// review from the QA folder.
#[tokio::test]
async fn a_folder_with_its_own_mode_overrides_the_users_mode() {
    let db = TestDb::create("sqlite").await;
    let scratch = tempfile::tempdir().unwrap();
    let qa = scratch.path().join("pacs-qa");
    std::fs::create_dir_all(&qa).unwrap();
    let config = scratch.path().join("idoctor.toml");
    std::fs::write(
        &config,
        format!(
            "[ingest.folders]\n{:?} = {{ user = \"gus\", mode = \"review\" }}\n",
            qa.display().to_string()
        ),
    )
    .unwrap();
    let mut env = FAST_INGEST.to_vec();
    let config_str = config.display().to_string();
    env.push(("IDOCTOR_CONFIG", config_str.as_str()));
    let daemon = Daemon::start(&db, &env).await;
    let pw = daemon.add_user("gus", "operator", "pro");
    let gus = daemon.login("gus", &pw).await;
    assert_eq!(gus.whoami().await.unwrap().mode, JobMode::Auto);

    drop_phantom(&daemon, "gus", 21, 125, 256);
    let staging = daemon.root.path().join("staging-qa");
    let opts = idoctor_daemon::phantom::PhantomOptions::new(22, 125, 256);
    idoctor_daemon::demo::drop_phantom(&opts, &staging, &qa).expect("drop into the QA folder");

    let jobs = wait_jobs(&gus, "one job per folder, each in its mode", |j| {
        j.len() == 2
            && j.iter().any(|j| j.state == JobState::Done)
            && j.iter().any(|j| j.state == JobState::AwaitingReview)
    })
    .await;
    let review = jobs
        .iter()
        .find(|j| j.state == JobState::AwaitingReview)
        .unwrap();
    let d = gus.get_job(review.id).await.unwrap();
    assert_eq!(d.job.mode, JobMode::Review, "the QA folder's mode");
    let auto = jobs.iter().find(|j| j.state == JobState::Done).unwrap();
    assert_eq!(gus.get_job(auto.id).await.unwrap().job.mode, JobMode::Auto);
}

/// A new study over the `patient_cases` limit holds its series (archived, not lost) and
/// no job is made; an admin reset of that quota releases it and the case is measured.
#[tokio::test]
async fn a_series_over_its_case_quota_is_held_then_released_by_a_reset() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let daemon = Daemon::start(&db, FAST_INGEST).await;
        let root_pw = daemon.add_user("root", "admin", "enterprise");
        let pw = daemon.add_user("ivy", "operator", "free");
        let root = daemon.login("root", &root_pw).await;
        let ivy = daemon.login("ivy", &pw).await;
        root.quota_adjust("ivy".into(), QuotaType::PatientCases, Some(1))
            .await
            .unwrap();
        drop_phantom(&daemon, "ivy", 31, 80, 128);
        wait_jobs(&ivy, "the first case measured", |j| {
            j.len() == 1 && j[0].state == JobState::Done
        })
        .await;
        drop_phantom(&daemon, "ivy", 32, 80, 128);
        let series = wait_for(WAIT, "the second series held", || async {
            let s = ivy.list_series().await.ok()?;
            (s.len() == 2 && s.iter().any(|x| x.state == SeriesState::Held)).then_some(s)
        })
        .await;
        let held = series
            .iter()
            .find(|s| s.state == SeriesState::Held)
            .unwrap();
        assert_eq!(held.held_quota, Some(QuotaType::PatientCases), "{held:?}");
        assert!(held.job_id.is_none(), "no job while held: {held:?}");
        assert!(held.instances > 0, "its files are archived: {held:?}");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(ivy.list_jobs(None).await.unwrap().len(), 1, "still held");

        root.quota_reset("ivy".into(), Some(QuotaType::PatientCases))
            .await
            .unwrap();
        wait_jobs(&ivy, "the held case measured after the reset", |j| {
            j.len() == 2 && j.iter().all(|x| x.state == JobState::Done)
        })
        .await;
        assert_eq!(consumes(&root, "ivy", QuotaType::PatientCases).await, 2);
        db.assert_reconciled().await;
    }
}

/// An instance that arrives after its series was measured reopens the series (a new
/// revision) and the job runs again as a new version; the first version stays.
#[tokio::test]
async fn a_late_instance_reopens_the_series_and_makes_a_new_version() {
    let db = TestDb::create("sqlite").await;
    let daemon = Daemon::start(&db, FAST_INGEST).await;
    let pw = daemon.add_user("lou", "operator", "pro");
    let lou = daemon.login("lou", &pw).await;
    let staging = daemon.root.path().join("staging-late");
    let opts = idoctor_daemon::phantom::PhantomOptions::new(41, 80, 128);
    let (_, written) =
        idoctor_daemon::phantom::write_phantom(&opts, &staging).expect("write a phantom");
    let mut files = written.files.clone();
    // Hold one file back, outside the series folder, then move the rest in at once: copied
    // one by one, a loaded machine could pause long enough to split the first arrival.
    let held_back = files.pop().expect("a file to hold back");
    let late = daemon.root.path().join(held_back.file_name().unwrap());
    std::fs::rename(&held_back, &late).unwrap();
    std::fs::rename(&written.truth, daemon.root.path().join("truth-late.json")).unwrap();
    let drop = daemon.watch_root.join("lou/exam");
    std::fs::create_dir_all(daemon.watch_root.join("lou")).unwrap();
    std::fs::rename(&staging, &drop).unwrap();
    let jobs = wait_jobs(&lou, "the first measurement", |j| {
        j.len() == 1 && j[0].state == JobState::Done
    })
    .await;
    let id = jobs[0].id;
    let first = lou.list_series().await.unwrap();
    assert_eq!(first[0].instances, files.len() as i64);
    assert_eq!(first[0].revision, 1);

    std::fs::rename(&late, drop.join(late.file_name().unwrap())).unwrap();
    let d = wait_job(&lou, id, "the re-run after the late instance", |d| {
        d.job.state == JobState::Done && d.versions.len() == 2
    })
    .await;
    assert!(
        d.versions[1].reason.contains("revision 2"),
        "{:?}",
        d.versions[1]
    );
    let series = lou.list_series().await.unwrap();
    assert_eq!(series.len(), 1, "the same series, not a new one");
    assert_eq!(series[0].instances, files.len() as i64 + 1);
    assert_eq!(series[0].revision, 2);
    assert!(lou.results(id, Some(1)).await.is_ok(), "version 1 is kept");
    db.assert_reconciled().await;
}

/// A job held on a monthly quota resumes by itself when the period rolls over: the next
/// retry after the boundary finds the balance reset (a `reset` row in the ledger) and is
/// charged in the new period. Nothing is lost and nobody has to act.
#[tokio::test]
async fn a_held_job_resumes_when_the_period_rolls_over() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let daemon = Daemon::start(&db, FAST_INGEST).await;
        let root_pw = daemon.add_user("root", "admin", "enterprise");
        let pw = daemon.add_user("rita", "operator", "free");
        let root = daemon.login("root", &root_pw).await;
        let rita = daemon.login("rita", &pw).await;
        root.quota_adjust("rita".into(), QuotaType::ApiCallsFullProcess, Some(1))
            .await
            .unwrap();
        for seed in [21, 22] {
            drop_phantom(&daemon, "rita", seed, 80, 128);
        }
        wait_jobs(&rita, "1 done and 1 held", |j| {
            j.len() == 2
                && j.iter().any(|x| x.state == JobState::Done)
                && j.iter().any(|x| x.state == JobState::Held)
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            rita.list_jobs(Some(JobState::Held)).await.unwrap().len(),
            1,
            "still held within the period"
        );

        // The month ends: move the period's end into the past.
        let moved = db
            .execute(
                "UPDATE user_quotas SET period_end_ms = period_start_ms + 1 \
                 WHERE period_end_ms IS NOT NULL \
                 AND user_id = (SELECT id FROM users WHERE username = 'rita')",
            )
            .await;
        assert!(moved > 0);
        wait_jobs(&rita, "the held job done in the new period", |j| {
            j.len() == 2 && j.iter().all(|x| x.state == JobState::Done)
        })
        .await;
        assert_eq!(
            consumes(&root, "rita", QuotaType::ApiCallsFullProcess).await,
            2
        );
        let resets = root
            .usage(UsageFilter {
                username: Some("rita".into()),
                quota_type: Some(QuotaType::ApiCallsFullProcess),
                kind: Some(UsageKind::Reset),
                limit: Some(100),
                ..Default::default()
            })
            .await
            .unwrap()
            .entries;
        assert_eq!(resets.len(), 1, "one rollover: {resets:?}");
        assert_eq!(resets[0].amount, -1, "the old period's charge cleared");
        let q = rita.my_quota().await.unwrap();
        let full = q
            .iter()
            .find(|s| s.quota_type == QuotaType::ApiCallsFullProcess)
            .unwrap();
        assert_eq!(full.used, 1, "one charge in the new period: {full:?}");
        db.assert_reconciled().await;
        eprintln!("period rollover resume passed on {backend}");
    }
}
