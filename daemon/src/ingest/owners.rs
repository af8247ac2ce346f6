//! Which user a dropped file belongs to: `<watch_root>/<username>/…`, or a folder mapped
//! to a user in `[ingest.folders]`. Unknown folders are left alone (and reported once),
//! so files dropped before their user exists are picked up once the user is created.

use crate::config::IngestSettings;
use crate::store::{Store, StoreError};
use idoctor_protocol::JobMode;
use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

/// The owner of a drop folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub user_id: i64,
    /// Login name.
    pub username: String,
    /// The drop folder the file is in (for relative names in reason files).
    pub folder: PathBuf,
    /// The folder's own job mode (`[ingest.folders]`); `None` follows the user's.
    pub mode: Option<JobMode>,
}

/// A mapped folder: where, whose, and its own mode.
#[derive(Debug, Clone)]
struct Mapped {
    folder: PathBuf,
    user: String,
    mode: Option<JobMode>,
}

/// Resolves paths to owners, caching user lookups.
#[derive(Debug)]
pub struct Owners {
    watch_root: PathBuf,
    mapped: Vec<Mapped>,
    ignore: PathBuf,
    known: HashMap<String, Option<i64>>,
    warned: HashSet<String>,
}

impl Owners {
    /// Owners for the ingest settings; `ignore` (the data dir) is never treated as a drop.
    pub fn new(settings: &IngestSettings, ignore: &Path) -> Self {
        let mut mapped: Vec<Mapped> = settings
            .folders
            .iter()
            .map(|(folder, m)| Mapped {
                folder: PathBuf::from(folder),
                user: m.user().to_string(),
                mode: m.mode(),
            })
            .collect();
        // Longest prefix first, so nested mappings resolve to the innermost folder.
        mapped.sort_by_key(|m| std::cmp::Reverse(m.folder.components().count()));
        Self {
            watch_root: settings.watch_root.clone(),
            mapped,
            ignore: ignore.to_path_buf(),
            known: HashMap::new(),
            warned: HashSet::new(),
        }
    }

    /// Every folder to watch.
    pub fn roots(&self) -> Vec<PathBuf> {
        let mut roots = vec![self.watch_root.clone()];
        roots.extend(self.mapped.iter().map(|m| m.folder.clone()));
        roots
    }

    /// Forgets users that were unknown, so new users are found on the next scan.
    pub fn forget_unknown(&mut self) {
        self.known.retain(|_, id| id.is_some());
    }

    fn folder_of(&self, path: &Path) -> Option<(PathBuf, String, Option<JobMode>)> {
        if path.starts_with(&self.ignore) {
            return None;
        }
        for m in &self.mapped {
            if path.starts_with(&m.folder) {
                return Some((m.folder.clone(), m.user.clone(), m.mode));
            }
        }
        let rest = path.strip_prefix(&self.watch_root).ok()?;
        let mut parts = rest.components();
        let Some(Component::Normal(name)) = parts.next() else {
            return None;
        };
        // A file directly in the root (not in a user folder) has no owner.
        parts.next()?;
        let name = name.to_str()?.to_string();
        Some((self.watch_root.join(&name), name, None))
    }

    /// The owner of a file, if its folder maps to an existing user.
    pub async fn resolve<S: Store>(
        &mut self,
        store: &S,
        path: &Path,
    ) -> Result<Option<Owner>, StoreError> {
        let Some((folder, username, mode)) = self.folder_of(path) else {
            return Ok(None);
        };
        let id = match self.known.get(&username) {
            Some(id) => *id,
            None => {
                let id = store.user_by_name(&username).await?.map(|u| u.id);
                self.known.insert(username.clone(), id);
                id
            }
        };
        match id {
            Some(user_id) => Ok(Some(Owner {
                user_id,
                username,
                folder,
                mode,
            })),
            None => {
                if self.warned.insert(username.clone()) {
                    tracing::warn!(folder = %folder.display(), "files in a folder of no known user are left in place");
                }
                Ok(None)
            }
        }
    }
}

/// Every regular file under `root` (symlinks are not followed).
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_map_to_users() {
        let mut settings = IngestSettings {
            watch_root: PathBuf::from("/w"),
            ..Default::default()
        };
        settings.folders.insert(
            "/mnt/pacs".into(),
            crate::config::FolderMapping::User("alice".into()),
        );
        settings.folders.insert(
            "/mnt/pacs/ward7".into(),
            crate::config::FolderMapping::Detailed {
                user: "bob".into(),
                mode: Some(JobMode::Review),
            },
        );
        let o = Owners::new(&settings, Path::new("/data"));
        assert_eq!(
            o.folder_of(Path::new("/w/carl/a/b.dcm")),
            Some(("/w/carl".into(), "carl".into(), None))
        );
        assert_eq!(o.folder_of(Path::new("/w/loose.dcm")), None);
        assert_eq!(
            o.folder_of(Path::new("/mnt/pacs/x.dcm")).unwrap().1,
            "alice"
        );
        assert_eq!(
            o.folder_of(Path::new("/mnt/pacs/ward7/x.dcm")),
            Some((
                "/mnt/pacs/ward7".into(),
                "bob".into(),
                Some(JobMode::Review)
            ))
        );
        assert_eq!(o.folder_of(Path::new("/mnt/pacs/x.dcm")).unwrap().2, None);
        assert_eq!(o.folder_of(Path::new("/data/archive/1/x.dcm")), None);
        assert_eq!(o.roots().len(), 3);
    }

    #[test]
    fn walk_finds_files_at_any_depth() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b/c")).unwrap();
        std::fs::write(dir.path().join("a/b/c/f"), b"x").unwrap();
        std::fs::write(dir.path().join("g.dcm"), b"x").unwrap();
        let mut files = walk(dir.path());
        files.sort();
        assert_eq!(files.len(), 2);
    }
}
