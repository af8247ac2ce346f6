//! The one-shot commands as a user runs them: the real `idoctord` binary's `phantom` and
//! `analyze`, their stdout (JSON only, one object per series), output folders and exit
//! codes, on a mixed folder with series that cannot be measured.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::binaries;

/// `idoctord ARGS…` in `cwd`, with no inherited settings.
fn idoctord(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(&binaries().daemon);
    cmd.current_dir(cwd).args(args).env("RUST_LOG", "info");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("IDOCTOR_") {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("run idoctord")
}

/// `idoctord phantom DIR --seed S --slices N --matrix M [extra…]`, which must succeed.
fn phantom(
    cwd: &Path,
    dir: &Path,
    seed: u64,
    slices: usize,
    matrix: usize,
    extra: &[&str],
) -> Output {
    let (seed, slices, matrix) = (seed.to_string(), slices.to_string(), matrix.to_string());
    let mut args = vec![
        "phantom",
        dir.to_str().unwrap(),
        "--seed",
        &seed,
        "--slices",
        &slices,
        "--matrix",
        &matrix,
    ];
    args.extend_from_slice(extra);
    let out = idoctord(cwd, &args);
    assert!(
        out.status.success(),
        "phantom failed: {}",
        text(&out.stderr)
    );
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Each stdout line as a JSON object (the command prints nothing else there).
fn json_lines(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn phantom_then_analyze_finds_l3_and_reports_bad_series_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let input = root.join("in");

    // The phantom command: JSON summary, the slices and truth.json.
    let out = phantom(root, &input.join("good"), 7, 100, 256, &["--json"]);
    let summary: Value = serde_json::from_slice(&out.stdout).expect("phantom --json is JSON");
    assert_eq!(summary["files"], 100, "{summary}");
    assert_eq!(summary["seed"], 7);
    let series_uid = summary["series_uid"].as_str().unwrap().to_string();
    let truth_mid = summary["l3"]["mid_slice_index"].as_i64().unwrap();
    let truth: Value = serde_json::from_slice(
        &std::fs::read(input.join("good/truth.json")).expect("truth.json written"),
    )
    .unwrap();
    assert_eq!(truth["series_uid"], series_uid.as_str());
    let dcm = std::fs::read_dir(input.join("good"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "dcm")
        })
        .count();
    assert_eq!(dcm, 100);

    // A single-slice series and a stray text file beside it.
    phantom(root, &input.join("one"), 8, 1, 64, &[]);
    std::fs::write(input.join("notes.txt"), "not an image").unwrap();

    let results = root.join("results");
    let out = idoctord(
        root,
        &[
            "analyze",
            input.to_str().unwrap(),
            "--json",
            "--out",
            results.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "analyze failed: {}",
        text(&out.stderr)
    );
    let objects = json_lines(&out);
    let good: Vec<&Value> = objects
        .iter()
        .filter(|o| o["series_uid"] == series_uid.as_str())
        .collect();
    assert_eq!(good.len(), 1, "{objects:#?}");
    let good = good[0];
    assert!(good["error"].is_null(), "{good}");
    assert_eq!(good["l3"]["status"], "found", "{}", good["l3"]);
    let mid = good["l3"]["mid_slice_index"].as_i64().unwrap();
    assert!(
        (mid - truth_mid).abs() <= 1,
        "L3 mid slice {mid}, truth {truth_mid}"
    );
    let muscle = good["metrics"]["middle"]["tissues"]["muscle"]["area_cm2"]
        .as_f64()
        .expect("muscle area");
    assert!(muscle > 10.0, "muscle {muscle} cm²");
    let dir = Path::new(good["output_dir"].as_str().expect("output dir"));
    assert!(dir.starts_with(&results), "{}", dir.display());
    for f in [
        "results.json",
        "hu_statistics.csv",
        "hu_statistics_middle.csv",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }

    // The others are reported, each with its reason, and did not stop the run.
    let codes: Vec<&str> = objects
        .iter()
        .filter_map(|o| o["error"]["code"].as_str())
        .collect();
    assert!(codes.contains(&"too_few_slices"), "{codes:?}");
    assert!(codes.contains(&"not_dicom"), "{codes:?}");
    for o in objects.iter().filter(|o| !o["error"].is_null()) {
        assert!(o["l3"].is_null() && o["metrics"].is_null(), "{o}");
        assert!(
            !o["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{o}"
        );
    }
    // Nothing was written into the working folder (no data dir, no database).
    assert!(!root.join("idoctor-data").exists());
}

#[test]
fn analyze_fails_with_one_line_when_nothing_can_be_measured() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = idoctord(tmp.path(), &["analyze", empty.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("no DICOM files found"),
        "{}",
        text(&out.stderr)
    );

    let junk = tmp.path().join("junk");
    std::fs::create_dir(&junk).unwrap();
    std::fs::write(junk.join("a.dcm"), b"DICM? no").unwrap();
    let out = idoctord(tmp.path(), &["analyze", junk.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    let objects = json_lines(&out);
    assert_eq!(objects.len(), 1, "{objects:#?}");
    assert_eq!(objects[0]["file"], "a.dcm");
    assert!(objects[0]["error"]["code"].is_string(), "{}", objects[0]);
    assert!(
        text(&out.stderr).contains("no series could be analysed"),
        "{}",
        text(&out.stderr)
    );
}
