//! The file-system watcher. It is owned by the intake loop; its callback only filters
//! events and forwards paths into a channel. Settling and grouping happen elsewhere.
//!
//! inotify (notify's recommended watcher) is used when it works and the root is on a
//! local file system; otherwise notify's `PollWatcher` scans at `poll_interval_ms`.
//! Network file systems are detected from `/proc/mounts`, because inotify never sees
//! changes made by other hosts on NFS or SMB shares.

use notify::{EventKind, RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// What the watcher reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// Something happened to this path (a file to look at, or a folder to rescan).
    Path(PathBuf),
    /// A folder appeared: rescan it, since files may have been written into it before
    /// its watch existed.
    NewFolder(PathBuf),
    /// A writer closed this file (inotify only): it may settle after the short
    /// `close_settle_ms` instead of the full settle period.
    Closed(PathBuf),
    /// Events may have been lost (queue overflow): rescan everything.
    Rescan,
}

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    _inner: Box<dyn notify::Watcher + Send>,
    /// Whether it polls instead of using inotify.
    pub polling: bool,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("polling", &self.polling)
            .finish()
    }
}

/// File-system types on which inotify does not see remote changes.
const NETWORK_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "afs",
    "ceph",
    "glusterfs",
    "fuse.sshfs",
    "fuse.glusterfs",
    "lustre",
    "davfs",
];

/// The file-system type of the mount holding `path`, from `/proc/mounts`.
pub fn fs_type(path: &Path) -> Option<String> {
    let canonical = std::fs::canonicalize(path).ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (_, mount_point, fs) = (parts.next()?, parts.next()?, parts.next()?);
            let mount_point = mount_point.replace("\\040", " ");
            canonical
                .starts_with(&mount_point)
                .then(|| (mount_point.len(), fs.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs)| fs)
}

/// Whether `path` is on a network file system.
pub fn on_network_fs(path: &Path) -> bool {
    fs_type(path).is_some_and(|fs| NETWORK_FS.contains(&fs.as_str()))
}

fn forward(
    tx: UnboundedSender<WatchEvent>,
) -> impl Fn(notify::Result<notify::Event>) + Send + 'static {
    move |result| match result {
        Ok(event) => {
            if event.need_rescan() {
                let _ = tx.send(WatchEvent::Rescan);
                return;
            }
            let folder_created = matches!(
                event.kind,
                EventKind::Create(notify::event::CreateKind::Folder)
            );
            // inotify's IN_CLOSE_WRITE: the writer is done with the file.
            let closed = matches!(
                event.kind,
                EventKind::Access(notify::event::AccessKind::Close(
                    notify::event::AccessMode::Write
                ))
            );
            let interesting = closed
                || matches!(
                    event.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any | EventKind::Other
                );
            if !interesting {
                return;
            }
            for path in event.paths {
                let e = if folder_created {
                    WatchEvent::NewFolder(path)
                } else if closed {
                    WatchEvent::Closed(path)
                } else {
                    WatchEvent::Path(path)
                };
                let _ = tx.send(e);
            }
        }
        Err(e) => {
            tracing::warn!(cause = %e, "watcher error; rescanning");
            let _ = tx.send(WatchEvent::Rescan);
        }
    }
}

/// Watches `roots` recursively, preferring inotify.
pub fn start(
    roots: &[PathBuf],
    force_polling: bool,
    poll_interval: Duration,
    tx: UnboundedSender<WatchEvent>,
) -> Result<Watcher, notify::Error> {
    let network = roots.iter().any(|r| on_network_fs(r));
    if !force_polling && !network {
        match notify::recommended_watcher(forward(tx.clone())) {
            Ok(mut w) => {
                let watched = roots
                    .iter()
                    .try_for_each(|r| w.watch(r, RecursiveMode::Recursive));
                match watched {
                    Ok(()) => {
                        return Ok(Watcher {
                            _inner: Box::new(w),
                            polling: false,
                        });
                    }
                    Err(e) => {
                        tracing::warn!(cause = %e, "inotify cannot watch the roots; polling instead")
                    }
                }
            }
            Err(e) => tracing::warn!(cause = %e, "inotify unavailable; polling instead"),
        }
    } else if network {
        tracing::info!("watch root is on a network file system; polling");
    }
    let config = notify::Config::default().with_poll_interval(poll_interval);
    let mut w = notify::PollWatcher::new(forward(tx), config)?;
    for r in roots {
        w.watch(r, RecursiveMode::Recursive)?;
    }
    Ok(Watcher {
        _inner: Box::new(w),
        polling: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_file_system_of_a_path() {
        let fs = fs_type(Path::new("/")).expect("root has a file system");
        assert!(!fs.is_empty());
        assert!(!on_network_fs(&std::env::temp_dir()));
    }

    #[tokio::test]
    async fn reports_new_folders_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _w = start(
            &[dir.path().to_path_buf()],
            false,
            Duration::from_millis(50),
            tx,
        )
        .unwrap();
        let next = |rx: &mut tokio::sync::mpsc::UnboundedReceiver<WatchEvent>,
                    want: &dyn Fn(&WatchEvent) -> bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                match rx.try_recv() {
                    Ok(e) if want(&e) => return true,
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            false
        };
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(
            next(
                &mut rx,
                &|e| matches!(e, WatchEvent::NewFolder(p) if p.ends_with("sub"))
            ),
            "folder creation reported"
        );
        // Once the new folder is reported, files written into it are seen. (Files written
        // before that can be missed: intake rescans a folder on NewFolder for them.)
        std::fs::write(dir.path().join("sub/a.dcm"), b"x").unwrap();
        assert!(
            next(
                &mut rx,
                &|e| matches!(e, WatchEvent::Path(p) if p.ends_with("a.dcm"))
            ),
            "file write reported"
        );
        assert!(
            next(
                &mut rx,
                &|e| matches!(e, WatchEvent::Closed(p) if p.ends_with("a.dcm"))
            ),
            "the writer closing the file reported (inotify close-write)"
        );
    }
}
