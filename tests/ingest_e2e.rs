//! Intake end to end: a real daemon watching real folders, real DICOM from
//! `../shared/data` (copied into temp dirs; the shared folder is read-only).

use crate::common::{Daemon, FAST_INGEST, TestDb, backends, shared_data, wait_for};
use idoctor_console::client::Client;
use idoctor_protocol::{SeriesInfo, SeriesState};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn pancreas_files() -> Vec<PathBuf> {
    files_in(&shared_data().join("ct/pancreas-ct-cb-001/dicom"))
}

fn j2k_files() -> Vec<PathBuf> {
    files_in(&shared_data().join("dicom/jpeg2000-t11-t12"))
}

fn tissue_files() -> Vec<PathBuf> {
    files_in(&shared_data().join("ct/ts-t11-l2-tissue/dicom"))
}

fn copy_all(files: &[PathBuf], dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for f in files {
        std::fs::copy(f, dest.join(f.file_name().unwrap())).unwrap();
    }
}

/// Copies `files` into a staging folder outside the watch root, then renames it to `dest`
/// in one step, as a PACS export that writes elsewhere first does. The whole series
/// appears at once, so a loaded machine cannot split it into two arrivals.
fn stage_in(daemon: &Daemon, files: &[PathBuf], dest: &Path) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = daemon.root.path().join(format!("stage-{n}"));
    copy_all(files, &staging);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::rename(&staging, dest).unwrap();
}

async fn series_of(client: &Client) -> Vec<SeriesInfo> {
    client.list_series().await.unwrap()
}

/// Waits until the user's series satisfy `done`.
async fn wait_series(
    client: &Client,
    what: &str,
    done: impl Fn(&[SeriesInfo]) -> bool,
) -> Vec<SeriesInfo> {
    wait_for(Duration::from_secs(90), what, || async {
        let s = series_of(client).await;
        done(&s).then_some(s)
    })
    .await
}

fn complete(s: &SeriesInfo) -> bool {
    !matches!(s.state, SeriesState::Receiving | SeriesState::Stable)
}

fn remaining_files(dir: &Path) -> usize {
    walk(dir).len()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_dripped_series_with_a_half_written_file_arrives_whole() {
    let db = TestDb::create("sqlite").await;
    let daemon = Daemon::start(&db, FAST_INGEST).await;
    let pw = daemon.add_user("dora", "operator", "pro");
    let dora = daemon.login("dora", &pw).await;
    let drop = daemon.watch_root.join("dora/incoming/exam 1");
    std::fs::create_dir_all(&drop).unwrap();
    let files = tissue_files();
    for (i, f) in files.iter().enumerate() {
        let dest = drop.join(format!("img{i:03}"));
        let bytes = std::fs::read(f).unwrap();
        if i == 7 {
            // Half the file, a pause shorter than the settle time, then the rest.
            let mut out = std::fs::File::create(&dest).unwrap();
            out.write_all(&bytes[..bytes.len() / 2]).unwrap();
            out.flush().unwrap();
            std::thread::sleep(Duration::from_millis(120));
            out.write_all(&bytes[bytes.len() / 2..]).unwrap();
        } else {
            std::fs::write(&dest, &bytes).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let series = wait_series(&dora, "the dripped series to complete", |s| {
        s.len() == 1 && complete(&s[0])
    })
    .await;
    assert_eq!(series[0].instances, files.len() as i64, "{series:?}");
    assert_eq!(series[0].state, SeriesState::Queued);
    assert!(series[0].primary && series[0].job_id.is_some());
    assert_eq!(
        remaining_files(&daemon.watch_root.join("dora")),
        0,
        "every file moved to the archive"
    );
    // Archived under archive/<user_id>/<study>/<series>/<sop>.dcm.
    let archived = walk(&daemon.data_dir.join("archive"));
    assert_eq!(archived.len(), files.len());
    assert!(
        archived
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "dcm"))
    );
    let usage = dora.my_quota().await.unwrap();
    let storage = usage
        .iter()
        .find(|q| q.quota_type == idoctor_protocol::QuotaType::StorageDicom)
        .unwrap();
    assert_eq!(
        storage.used, series[0].bytes,
        "storage charged at archive time"
    );
}

#[tokio::test]
async fn mixed_folder_duplicates_conflicts_restart_and_isolation() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let mut daemon = Daemon::start(&db, FAST_INGEST).await;
        let admin_pw = daemon.add_user("root", "admin", "enterprise");
        let pw_a = daemon.add_user("alice", "operator", "pro");
        let pw_b = daemon.add_user("bob", "operator", "pro");
        let alice = daemon.login("alice", &pw_a).await;
        let bob = daemon.login("bob", &pw_b).await;
        let root = daemon.login("root", &admin_pw).await;

        // Pancreas (implicit VR, names in reverse z order) + JPEG 2000 + text files, one folder.
        let drop = daemon.watch_root.join("alice/export");
        stage_in(&daemon, &pancreas_files(), &drop);
        stage_in(&daemon, &j2k_files(), &drop.join("j2k"));
        for txt in ["LICENSE.txt", "CITATIONS.txt"] {
            std::fs::copy(
                shared_data().join("ct/pancreas-ct-cb-001").join(txt),
                drop.join(txt),
            )
            .unwrap();
        }
        let series = wait_series(&alice, "two complete series", |s| {
            s.len() == 2 && s.iter().all(complete)
        })
        .await;
        let mut counts: Vec<i64> = series.iter().map(|s| s.instances).collect();
        counts.sort();
        assert_eq!(counts, vec![20, 134]);
        let quarantine = root.quarantine(Some("alice".into()), 100).await.unwrap();
        assert_eq!(quarantine.len(), 2, "{quarantine:?}");
        assert!(
            quarantine
                .iter()
                .all(|q| q.reason.to_lowercase().contains("not a dicom")),
            "{quarantine:?}"
        );
        for q in &quarantine {
            let file = daemon.data_dir.join(&q.path);
            assert!(file.exists(), "quarantined file kept: {}", file.display());
            let reason = PathBuf::from(format!("{}.reason.txt", file.display()));
            assert!(
                std::fs::read_to_string(reason)
                    .unwrap()
                    .contains("not_dicom")
            );
        }
        assert_eq!(remaining_files(&daemon.watch_root.join("alice")), 0);
        // Bob sees none of it; Bob's admin view is not available to him.
        assert!(series_of(&bob).await.is_empty());

        // The same files again: no duplicates.
        stage_in(
            &daemon,
            &j2k_files(),
            &daemon.watch_root.join("alice/again"),
        );
        wait_for(Duration::from_secs(60), "duplicates dropped", || async {
            (remaining_files(&daemon.watch_root.join("alice")) == 0).then_some(())
        })
        .await;
        let again = series_of(&alice).await;
        assert_eq!(again.len(), 2);
        assert_eq!(again.iter().map(|s| s.instances).sum::<i64>(), 154);
        assert!(
            again.iter().all(|s| s.revision == 1),
            "duplicates do not reopen a series"
        );

        // Same SOP Instance UID, altered bytes: quarantined as a conflict.
        let mut bytes = std::fs::read(&pancreas_files()[10]).unwrap();
        let n = bytes.len();
        bytes[n - 10] ^= 0x55;
        std::fs::create_dir_all(daemon.watch_root.join("alice/altered")).unwrap();
        std::fs::write(daemon.watch_root.join("alice/altered/x.dcm"), &bytes).unwrap();
        let conflict = wait_for(
            Duration::from_secs(60),
            "a conflict in quarantine",
            || async {
                root.quarantine(Some("alice".into()), 100)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|q| q.reason.contains("different content"))
            },
        )
        .await;
        assert!(daemon.data_dir.join(&conflict.path).exists());

        // Files dropped while the daemon is down are ingested at the next start.
        assert!(daemon.stop().success());
        copy_all(&tissue_files(), &daemon.watch_root.join("bob/while-down"));
        daemon.restart().await;
        let bob = daemon.login("bob", &pw_b).await;
        let bobs = wait_series(&bob, "bob's series after restart", |s| {
            s.len() == 1 && complete(&s[0])
        })
        .await;
        assert_eq!(bobs[0].instances, 30);
        // Isolation holds both ways.
        let alice = daemon.login("alice", &pw_a).await;
        assert_eq!(series_of(&alice).await.len(), 2);
        assert!(
            series_of(&alice)
                .await
                .iter()
                .all(|s| s.username == "alice")
        );
        eprintln!("ingest e2e passed on {backend}");
    }
}

#[tokio::test]
async fn short_and_non_axial_series_are_quarantined_whole() {
    let db = TestDb::create("sqlite").await;
    let daemon = Daemon::start(&db, FAST_INGEST).await;
    let admin_pw = daemon.add_user("root", "admin", "enterprise");
    let pw = daemon.add_user("sam", "operator", "pro");
    let sam = daemon.login("sam", &pw).await;
    let root = daemon.login("root", &admin_pw).await;
    // Five slices of a real series: below the default minimum of 10.
    stage_in(
        &daemon,
        &tissue_files()[..5],
        &daemon.watch_root.join("sam/short"),
    );
    let series = wait_series(&sam, "the short series rejected", |s| {
        s.len() == 1 && s[0].state == SeriesState::Rejected
    })
    .await;
    assert!(
        series[0].reason.as_deref().unwrap().contains("at least 10"),
        "{series:?}"
    );
    let q = root.quarantine(Some("sam".into()), 100).await.unwrap();
    assert_eq!(q.len(), 5);
    assert!(
        q.iter().all(|e| daemon.data_dir.join(&e.path).exists()),
        "nothing deleted"
    );
    assert!(walk(&daemon.data_dir.join("archive")).is_empty());
    // Twelve real slices rewritten as a sagittal stack (same series UID: the rejected
    // series reopens as revision 2): the whole series is refused again.
    crate::common::fixtures::reoriented(
        &tissue_files()[..12],
        &daemon.watch_root.join("sam/sagittal"),
        [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
        |k| [k as f64 * 3.0, 0.0, 0.0],
    );
    let series = wait_series(&sam, "the sagittal series rejected", |s| {
        s.len() == 1 && s[0].revision == 2 && s[0].state == SeriesState::Rejected
    })
    .await;
    assert!(
        series[0].reason.as_deref().unwrap().contains("sagittal"),
        "{series:?}"
    );
    assert_eq!(
        root.quarantine(Some("sam".into()), 100)
            .await
            .unwrap()
            .len(),
        17
    );
    // A file directly in the watch root belongs to nobody: it is left in place.
    std::fs::copy(&tissue_files()[0], daemon.watch_root.join("loose.dcm")).unwrap();
    std::fs::create_dir_all(daemon.watch_root.join("nobody")).unwrap();
    std::fs::copy(&tissue_files()[0], daemon.watch_root.join("nobody/a.dcm")).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(daemon.watch_root.join("loose.dcm").exists());
    assert!(daemon.watch_root.join("nobody/a.dcm").exists());
}

/// Network shares get no inotify events: with polling forced (as on NFS or SMB, which
/// intake detects by file-system type), a series copied into a new subfolder still
/// arrives whole, without the close-write fast path.
#[tokio::test]
async fn the_polling_watcher_ingests_a_series_without_inotify() {
    let db = TestDb::create("sqlite").await;
    let mut env = FAST_INGEST.to_vec();
    env.extend([
        ("IDOCTOR_INGEST__FORCE_POLLING", "true"),
        ("IDOCTOR_INGEST__POLL_INTERVAL_MS", "100"),
    ]);
    let daemon = Daemon::start(&db, &env).await;
    daemon
        .wait_log("polling=true", Duration::from_secs(30))
        .await;
    let pw = daemon.add_user("nina", "operator", "pro");
    let nina = daemon.login("nina", &pw).await;
    let files = tissue_files();
    let drop = daemon.watch_root.join("nina/share/exam");
    copy_all(&files, &drop);
    let series = wait_series(&nina, "the polled series to complete", |s| {
        s.len() == 1 && complete(&s[0])
    })
    .await;
    assert_eq!(series[0].instances, files.len() as i64, "{series:?}");
    assert_eq!(series[0].state, SeriesState::Queued);
    assert_eq!(remaining_files(&drop), 0, "every file moved to the archive");
}

/// Instances the CT loader cannot use (no pixel data, another modality, a scout) are
/// quarantined one by one with their reason, kept on disk, and open no series.
#[tokio::test]
async fn unusable_instances_are_quarantined_with_their_reason() {
    use crate::common::fixtures::edited;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let daemon = Daemon::start(&db, FAST_INGEST).await;
        let admin_pw = daemon.add_user("root", "admin", "enterprise");
        let pw = daemon.add_user("quinn", "operator", "pro");
        let quinn = daemon.login("quinn", &pw).await;
        let root = daemon.login("root", &admin_pw).await;
        let source = &tissue_files()[0];
        let staging = daemon.root.path().join("odd");
        std::fs::create_dir_all(&staging).unwrap();
        edited(source, &staging.join("no-pixels.dcm"), "2.25.9001", |o| {
            assert!(o.remove_element(tags::PIXEL_DATA));
        });
        edited(source, &staging.join("mr.dcm"), "2.25.9002", |o| {
            o.put(DataElement::new(
                tags::MODALITY,
                VR::CS,
                PrimitiveValue::from("MR"),
            ));
        });
        edited(source, &staging.join("scout.dcm"), "2.25.9003", |o| {
            o.put(DataElement::new(
                tags::IMAGE_TYPE,
                VR::CS,
                PrimitiveValue::from("ORIGINAL\\PRIMARY\\LOCALIZER"),
            ));
        });
        std::fs::create_dir_all(daemon.watch_root.join("quinn")).unwrap();
        std::fs::rename(&staging, daemon.watch_root.join("quinn/odd")).unwrap();

        let q = wait_for(
            Duration::from_secs(60),
            "three quarantined files",
            || async {
                let q = root.quarantine(Some("quinn".into()), 100).await.unwrap();
                (q.len() == 3).then_some(q)
            },
        )
        .await;
        let reason_of = |name: &str| {
            q.iter()
                .find(|e| e.reason.contains(name))
                .unwrap_or_else(|| panic!("no quarantine entry for {name}: {q:?}"))
                .clone()
        };
        assert!(
            reason_of("no-pixels.dcm").reason.contains("no pixel data"),
            "{q:?}"
        );
        assert!(
            reason_of("mr.dcm")
                .reason
                .contains("not a CT image (modality MR)"),
            "{q:?}"
        );
        assert!(reason_of("scout.dcm").reason.contains("localizer"), "{q:?}");
        for e in &q {
            assert!(
                daemon.data_dir.join(&e.path).exists(),
                "quarantined file kept: {e:?}"
            );
        }
        assert!(series_of(&quinn).await.is_empty(), "no series opened");
        assert!(quinn.list_jobs(None).await.unwrap().is_empty());
        db.assert_reconciled().await;
        eprintln!("unusable instances passed on {backend}");
    }
}
