//! The partial-write guard: a file counts only once its size and mtime have stayed the
//! same for the settle period. Candidates come from watcher events and scans; each tick
//! re-stats them and hands over the ones that have settled.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    size: u64,
    mtime: Option<SystemTime>,
    unchanged_since: Instant,
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
        let Some((size, mtime)) = stat(&path) else {
            self.pending.remove(&path);
            return;
        };
        match self.pending.get_mut(&path) {
            Some(seen) if seen.size == size && seen.mtime == mtime => {}
            Some(seen) => {
                *seen = Seen {
                    size,
                    mtime,
                    unchanged_since: now,
                };
            }
            None => {
                self.pending.insert(
                    path,
                    Seen {
                        size,
                        mtime,
                        unchanged_since: now,
                    },
                );
            }
        }
    }

    /// Files that have not changed for `settle`; they leave the pending set. Files that
    /// vanished are forgotten; files that changed restart their clock.
    pub fn take_settled(&mut self, now: Instant, settle: Duration) -> Vec<PathBuf> {
        let mut settled = Vec::new();
        self.pending.retain(|path, seen| match stat(path) {
            None => false,
            Some((size, mtime)) if size != seen.size || mtime != seen.mtime => {
                *seen = Seen {
                    size,
                    mtime,
                    unchanged_since: now,
                };
                true
            }
            Some(_) if now.duration_since(seen.unchanged_since) >= settle => {
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
            s.take_settled(t0 + Duration::from_millis(50), settle)
                .is_empty()
        );
        f.write_all(b" and the rest").unwrap();
        f.sync_all().unwrap();
        // The size changed: the clock restarts at this tick.
        let t1 = t0 + Duration::from_millis(150);
        assert!(s.take_settled(t1, settle).is_empty());
        assert!(
            s.take_settled(t1 + Duration::from_millis(50), settle)
                .is_empty()
        );
        assert_eq!(
            s.take_settled(t1 + Duration::from_millis(120), settle),
            vec![path.clone()]
        );
        assert!(s.is_empty());
        // Vanished files are forgotten.
        s.observe(path.clone(), t1);
        std::fs::remove_file(&path).unwrap();
        assert!(s.take_settled(t1 + settle * 2, settle).is_empty());
        assert!(s.is_empty());
    }
}
