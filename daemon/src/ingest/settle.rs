//! The partial-write guard: a file counts only once its size and mtime have stayed the
//! same for the settle period. Candidates come from watcher events and scans; each tick
//! re-stats them and hands over the ones that have settled. A file its writer has closed
//! (inotify's close-write) needs only the short close settle period, so local drops
//! move at the speed of the disk; a later change takes the close mark away again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    size: u64,
    mtime: Option<SystemTime>,
    unchanged_since: Instant,
    /// The writer closed the file and it has not changed since.
    closed: bool,
}

/// Files waiting to settle.
#[derive(Debug, Default)]
pub struct Settler {
    pending: HashMap<PathBuf, Seen>,
}

fn stat(path: &Path) -> Option<(u64, Option<SystemTime>)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.is_file().then(|| (meta.len(), meta.modified().ok()))
}

impl Settler {
    /// Notes a file (or refreshes it): a change restarts its settle clock.
    pub fn observe(&mut self, path: PathBuf, now: Instant) {
        self.note(path, now, false);
    }

    /// Notes that the writer closed a file: from now on it settles after the close
    /// settle period, unless it changes again.
    pub fn observe_closed(&mut self, path: PathBuf, now: Instant) {
        self.note(path, now, true);
    }

    fn note(&mut self, path: PathBuf, now: Instant, closed: bool) {
        let Some((size, mtime)) = stat(&path) else {
            self.pending.remove(&path);
            return;
        };
        match self.pending.get_mut(&path) {
            Some(seen) if seen.size == size && seen.mtime == mtime => {
                if closed && !seen.closed {
                    seen.closed = true;
                    seen.unchanged_since = now;
                }
            }
            _ => {
                self.pending.insert(
                    path,
                    Seen {
                        size,
                        mtime,
                        unchanged_since: now,
                        closed,
                    },
                );
            }
        }
    }

    /// Files that have not changed for `settle` (or for `closed_settle` since their writer
    /// closed them); they leave the pending set. Files that vanished are forgotten; files
    /// that changed restart their clock and lose their close mark.
    pub fn take_settled(
        &mut self,
        now: Instant,
        settle: Duration,
        closed_settle: Duration,
    ) -> Vec<PathBuf> {
        let mut settled = Vec::new();
        self.pending.retain(|path, seen| match stat(path) {
            None => false,
            Some((size, mtime)) if size != seen.size || mtime != seen.mtime => {
                *seen = Seen {
                    size,
                    mtime,
                    unchanged_since: now,
                    closed: false,
                };
                true
            }
            Some(_)
                if now.duration_since(seen.unchanged_since)
                    >= if seen.closed {
                        closed_settle.min(settle)
                    } else {
                        settle
                    } =>
            {
                settled.push(path.clone());
                false
            }
            Some(_) => true,
        });
        settled.sort();
        settled
    }

    /// How many files are waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether a path is waiting.
    pub fn contains(&self, path: &Path) -> bool {
        self.pending.contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_growing_file_settles_only_after_it_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"half").unwrap();
        let mut s = Settler::default();
        let t0 = Instant::now();
        s.observe(path.clone(), t0);
        let settle = Duration::from_millis(100);
        assert!(
            s.take_settled(t0 + Duration::from_millis(50), settle, settle)
                .is_empty()
        );
        f.write_all(b" and the rest").unwrap();
        f.sync_all().unwrap();
        // The size changed: the clock restarts at this tick.
        let t1 = t0 + Duration::from_millis(150);
        assert!(s.take_settled(t1, settle, settle).is_empty());
        assert!(
            s.take_settled(t1 + Duration::from_millis(50), settle, settle)
                .is_empty()
        );
        assert_eq!(
            s.take_settled(t1 + Duration::from_millis(120), settle, settle),
            vec![path.clone()]
        );
        assert!(s.is_empty());
        // Vanished files are forgotten.
        s.observe(path.clone(), t1);
        std::fs::remove_file(&path).unwrap();
        assert!(s.take_settled(t1 + settle * 2, settle, settle).is_empty());
        assert!(s.is_empty());
    }

    #[test]
    fn a_closed_file_settles_after_the_short_period_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"whole file").unwrap();
        let (settle, closed) = (Duration::from_secs(2), Duration::from_millis(100));
        let mut s = Settler::default();
        let t0 = Instant::now();
        s.observe(path.clone(), t0);
        assert!(s.take_settled(t0 + closed * 2, settle, closed).is_empty());
        s.observe_closed(path.clone(), t0 + closed * 2);
        assert!(s.take_settled(t0 + closed * 2, settle, closed).is_empty());
        assert_eq!(
            s.take_settled(t0 + closed * 3, settle, closed),
            vec![path.clone()]
        );
        // Closed, then written again: back to the full settle period.
        s.observe_closed(path.clone(), t0);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b" and more").unwrap();
        f.sync_all().unwrap();
        let t1 = t0 + closed;
        assert!(s.take_settled(t1, settle, closed).is_empty());
        assert!(s.take_settled(t1 + closed * 2, settle, closed).is_empty());
        assert_eq!(s.take_settled(t1 + settle, settle, closed), vec![path]);
    }
}
