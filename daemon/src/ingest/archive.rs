//! File moves that never lose data.
//!
//! Accepting a file is three steps, in this order: link it into the archive (a hard link
//! on the same file system; otherwise copy to a temp name, fsync, rename), record it in
//! the database, then remove the source. A crash after the first step leaves the source
//! to be processed again; after the second, the source is recognised as a duplicate of
//! a recorded copy and removed only once that copy is verified on disk.
//!
//! Quarantine moves a file out of the watch folder (rename, or copy + fsync + delete
//! across file systems) under a generated name, with a `.reason.txt` beside it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// SHA-256 (hex) and size of a file.
pub fn digest_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        total += n as u64;
    }
    let hex = ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, total))
}

fn temp_name(dst: &Path) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut name = dst
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(
        ".tmp{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    dst.with_file_name(name)
}

/// Copies `src` to `dst` durably: temp file, fsync, rename, fsync of the folder.
pub fn copy_durably(src: &Path, dst: &Path) -> io::Result<()> {
    let tmp = temp_name(dst);
    let result = (|| {
        std::fs::copy(src, &tmp)?;
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, dst)?;
        if let Some(dir) = dst.parent() {
            fsync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Flushes a folder's entries (new names) to disk.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Makes `dst` hold the same bytes as `src` without touching `src`. An existing `dst`
/// with the same digest is kept (a crash left it there); a different one is an error.
pub fn link_into(src: &Path, dst: &Path, digest: &str) -> io::Result<()> {
    if let Some(dir) = dst.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::hard_link(src, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let (existing, _) = digest_file(dst)?;
            if existing == digest {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists with other content", dst.display()),
                ))
            }
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::CrossesDevices
                    | io::ErrorKind::PermissionDenied
                    | io::ErrorKind::Unsupported
            ) =>
        {
            copy_durably(src, dst)
        }
        Err(e) => Err(e),
    }
}

/// Moves a file to `dst`: rename, or copy + fsync + delete across file systems.
pub fn move_file(src: &Path, dst: &Path) -> io::Result<()> {
    if let Some(dir) = dst.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::rename(src, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            copy_durably(src, dst)?;
            std::fs::remove_file(src)
        }
        Err(e) => Err(e),
    }
}

/// A generated quarantine name: `q<ms>-<counter>` (never derived from the file's name
/// or contents, which may carry patient identifiers).
pub fn quarantine_name(now_ms: i64) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "q{now_ms}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `<path>.reason.txt` describing why `path` is in quarantine.
pub fn write_reason(
    path: &Path,
    code: &str,
    reason: &str,
    original: &str,
    now_ms: i64,
) -> io::Result<()> {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".reason.txt");
    let when = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now_ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let text = format!(
        "reason: {reason}\ncode: {code}\noriginal: {original}\nquarantined: {when}\n\
         Nothing was deleted. Fix the cause and copy the file back into the watch folder to retry.\n"
    );
    let mut f = File::create(path.with_file_name(name))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_is_idempotent_and_refuses_different_content() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.dcm");
        std::fs::write(&src, b"instance bytes").unwrap();
        let (digest, size) = digest_file(&src).unwrap();
        assert_eq!(size, 14);
        let dst = dir.path().join("archive/1/2/3.dcm");
        link_into(&src, &dst, &digest).unwrap();
        link_into(&src, &dst, &digest).unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"instance bytes");
        assert!(src.exists(), "the source is only removed after recording");
        let other = dir.path().join("other.dcm");
        std::fs::write(&other, b"different bytes").unwrap();
        let (other_digest, _) = digest_file(&other).unwrap();
        assert!(link_into(&other, &dst, &other_digest).is_err());
        copy_durably(&other, &dir.path().join("copy.dcm")).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("copy.dcm")).unwrap(),
            b"different bytes"
        );
    }

    #[test]
    fn quarantine_names_are_unique_and_reasons_written() {
        let a = quarantine_name(5);
        let b = quarantine_name(5);
        assert_ne!(a, b);
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join(&a);
        std::fs::write(&q, b"x").unwrap();
        write_reason(&q, "not_dicom", "not a DICOM file", "sub/readme.txt", 0).unwrap();
        let text = std::fs::read_to_string(dir.path().join(format!("{a}.reason.txt"))).unwrap();
        assert!(text.contains("not a DICOM file") && text.contains("sub/readme.txt"));
    }
}
