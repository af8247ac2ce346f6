//! The daemon's TLS identity: a self-signed certificate made on first use and kept in
//! `<data_dir>/tls/` (key mode 0600). Consoles pin its SHA-256 fingerprint on first
//! connect (trust on first use), so no CA is needed.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

/// TLS setup failures.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing the certificate files failed.
    #[error("TLS files in {path}: {message}")]
    Files {
        /// The folder.
        path: String,
        /// What failed.
        message: String,
    },
    /// Certificate generation or rustls configuration failed.
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

/// Loads `<data_dir>/tls/{cert.pem,key.pem}`, creating a self-signed pair for `names`
/// (plus `localhost`) the first time. Returns the acceptor config and the certificate's
/// SHA-256 fingerprint (hex), which the daemon logs so operators can compare it with
/// what a console pinned.
pub fn server_config(
    data_dir: &Path,
    names: &[String],
) -> Result<(Arc<rustls::ServerConfig>, String), TlsError> {
    let dir = data_dir.join("tls");
    let files_err = |message: String| TlsError::Files {
        path: dir.display().to_string(),
        message,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| files_err(e.to_string()))?;
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if !cert_path.exists() || !key_path.exists() {
        let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        sans.extend(names.iter().cloned());
        sans.sort();
        sans.dedup();
        let generated =
            rcgen::generate_simple_self_signed(sans).map_err(|e| TlsError::Setup(e.to_string()))?;
        write_private(&key_path, generated.signing_key.serialize_pem().as_bytes())
            .map_err(|e| files_err(format!("writing key.pem: {e}")))?;
        std::fs::write(&cert_path, generated.cert.pem())
            .map_err(|e| files_err(format!("writing cert.pem: {e}")))?;
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| files_err(format!("reading cert.pem: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| files_err(format!("parsing cert.pem: {e}")))?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| files_err(format!("reading key.pem: {e}")))?;
    let fingerprint = certs
        .first()
        .map(|c| fingerprint(c.as_ref()))
        .ok_or_else(|| files_err("cert.pem holds no certificate".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    Ok((Arc::new(config), fingerprint))
}

/// SHA-256 of a DER certificate, lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, a) = server_config(dir.path(), &["idoctor.example".into()]).unwrap();
        let (_, b) = server_config(dir.path(), &[]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("tls/key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
