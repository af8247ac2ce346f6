//! The console's own files: saved sessions and pinned server certificates, under
//! `$IDOCTOR_CONFIG_DIR` or `~/.config/idoctor`, written with mode 0600.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A saved login for one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSession {
    /// Who.
    pub username: String,
    /// The bearer token.
    pub token: String,
    /// When it expires (ms since the epoch).
    pub expires_at_ms: i64,
}

/// The console's configuration folder.
pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("IDOCTOR_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("idoctor")
}

fn read_map<T: for<'de> Deserialize<'de>>(path: &Path) -> BTreeMap<String, T> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Writes a file atomically (temp file + rename) with mode 0600 in a 0700 folder.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn write_map<T: Serialize>(path: &Path, map: &BTreeMap<String, T>) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(map).map_err(std::io::Error::other)?;
    write_private(path, &bytes)
}

/// Saved sessions, one per server.
#[derive(Debug, Clone)]
pub struct Sessions {
    path: PathBuf,
}

impl Sessions {
    /// The sessions file in a config folder.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join("sessions.json"),
        }
    }

    /// The session saved for a server, if any.
    pub fn get(&self, server_key: &str) -> Option<SavedSession> {
        read_map::<SavedSession>(&self.path).remove(server_key)
    }

    /// Saves (replaces) the session for a server.
    pub fn put(&self, server_key: &str, session: SavedSession) -> std::io::Result<()> {
        let mut map = read_map::<SavedSession>(&self.path);
        map.insert(server_key.to_string(), session);
        write_map(&self.path, &map)
    }

    /// Forgets the session for a server; returns whether there was one.
    pub fn remove(&self, server_key: &str) -> std::io::Result<bool> {
        let mut map = read_map::<SavedSession>(&self.path);
        let had = map.remove(server_key).is_some();
        write_map(&self.path, &map)?;
        Ok(had)
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Pinned TLS certificate fingerprints, one per `host:port`.
#[derive(Debug, Clone)]
pub struct KnownServers {
    path: PathBuf,
}

impl KnownServers {
    /// The pin file in a config folder.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join("known_servers.json"),
        }
    }

    /// The pinned SHA-256 (hex) for a server, if any.
    pub fn get(&self, server: &str) -> Option<String> {
        read_map::<String>(&self.path).remove(server)
    }

    /// Pins a fingerprint.
    pub fn put(&self, server: &str, sha256: &str) -> std::io::Result<()> {
        let mut map = read_map::<String>(&self.path);
        map.insert(server.to_string(), sha256.to_string());
        write_map(&self.path, &map)
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sessions_round_trip_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::in_dir(dir.path());
        assert!(s.get("unix:/x").is_none());
        let saved = SavedSession {
            username: "u".into(),
            token: "t".into(),
            expires_at_ms: 5,
        };
        s.put("unix:/x", saved.clone()).unwrap();
        assert_eq!(s.get("unix:/x"), Some(saved));
        let mode = std::fs::metadata(s.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(s.remove("unix:/x").unwrap());
        assert!(!s.remove("unix:/x").unwrap());
        let k = KnownServers::in_dir(dir.path());
        k.put("h:1", "ab").unwrap();
        assert_eq!(k.get("h:1").as_deref(), Some("ab"));
    }
}
