//! Passwords, session tokens and roles.
//!
//! Passwords are argon2id PHC strings. Sessions are HS256 JWTs carrying `sub` (user id),
//! `role`, `epoch`, `iat` and `exp`; one [`Claims`] type and one [`Keys::verify`]
//! decode them. A verified token is still checked against the user row by the RPC layer
//! (disabled users and bumped epochs are refused at once).
//!
//! Argon2 is deliberately slow: call [`hash_password`] and [`verify_password`] from a
//! blocking pool, never on the async executor.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

/// Seconds of clock skew tolerated on `exp` and `iat`.
const LEEWAY_S: u64 = 5;

/// Auth failures. Messages are safe to show; they never include a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token has expired.
    #[error("session expired; log in again")]
    Expired,
    /// The token is malformed, tampered with, or signed with another key.
    #[error("invalid session token; log in again")]
    Invalid,
    /// The secret could not be loaded or created.
    #[error("session secret unavailable: {0}")]
    Secret(String),
    /// Hashing failed (should not happen with valid parameters).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id, as a decimal string (JWT convention).
    pub sub: String,
    /// `admin` or `operator` at issue time (re-checked against the row).
    pub role: String,
    /// The user's token epoch at issue time; a password change bumps it.
    pub epoch: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}

impl Claims {
    /// The user id in `sub`.
    pub fn user_id(&self) -> Result<i64, AuthError> {
        self.sub.parse().map_err(|_| AuthError::Invalid)
    }
}

/// Signing and verification keys, loaded once.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Keys from a secret of at least 32 bytes.
    pub fn new(secret: &[u8], ttl: Duration) -> Result<Self, AuthError> {
        if secret.len() < 32 {
            return Err(AuthError::Secret(
                "the secret must be at least 32 bytes".into(),
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_S;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        })
    }

    /// Issues a token for a user; returns it with its expiry in ms since the epoch.
    pub fn issue(
        &self,
        user_id: i64,
        role: &str,
        epoch: i64,
        now_ms: i64,
    ) -> Result<(String, i64), AuthError> {
        let iat = now_ms / 1000;
        let exp = iat + self.ttl.as_secs() as i64;
        let claims = Claims {
            sub: user_id.to_string(),
            role: role.to_string(),
            epoch,
            iat,
            exp,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Secret(e.to_string()))?;
        Ok((token, exp * 1000))
    }

    /// Verifies signature, algorithm, expiry and issue time.
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<Claims, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        let claims = data.claims;
        if claims.iat > now_ms / 1000 + LEEWAY_S as i64 {
            return Err(AuthError::Invalid);
        }
        if claims.exp + (LEEWAY_S as i64) < now_ms / 1000 {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }
}

/// The configured secret, or the one generated into `<data_dir>/secrets/jwt.key`
/// (created once with 32 random bytes, mode 0600, in a 0700 folder).
pub fn load_or_create_secret(configured: &str, data_dir: &Path) -> Result<Vec<u8>, AuthError> {
    if !configured.is_empty() {
        return Ok(configured.as_bytes().to_vec());
    }
    let dir = data_dir.join("secrets");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| AuthError::Secret(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join("jwt.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = decode_hex(text.trim())
                .ok_or_else(|| AuthError::Secret(format!("{} is not hex", path.display())))?;
            if bytes.len() < 32 {
                return Err(AuthError::Secret(format!(
                    "{} is shorter than 32 bytes",
                    path.display()
                )));
            }
            Ok(bytes)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            rand::fill(&mut secret);
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path);
            let mut file = match created {
                Ok(f) => f,
                // Another daemon sharing the data dir created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    return load_or_create_secret(configured, data_dir);
                }
                Err(e) => {
                    return Err(AuthError::Secret(format!(
                        "cannot create {}: {e}",
                        path.display()
                    )));
                }
            };
            file.write_all(encode_hex(&secret).as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(|e| AuthError::Secret(format!("cannot write {}: {e}", path.display())))?;
            Ok(secret.to_vec())
        }
        Err(e) => Err(AuthError::Secret(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Hashes a password (argon2id, default parameters, random salt). Slow: blocking pool.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// A hash of a random password, verified against when the username does not exist,
/// so a wrong name and a wrong password take the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut pw = [0u8; 16];
    rand::fill(&mut pw);
    hash_password(&encode_hex(&pw)).unwrap_or_default()
});

/// Checks a password against a stored hash (or against a dummy hash when `hash` is
/// `None`, returning false after the same amount of work). Slow: blocking pool.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let hash = hash.unwrap_or(DUMMY_HASH.as_str());
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Checks a username: 1–64 of `[A-Za-z0-9._-]`, not starting with `.` or `-`. It names
/// the user's watch folder, so nothing else is allowed.
pub fn validate_username(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 64 || !ok_chars || name.starts_with(['.', '-']) {
        return Err(format!(
            "invalid username {name:?}: use 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
        ));
    }
    Ok(())
}

/// Checks a new password: at least 8 characters, at most 1024.
pub fn validate_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < 8 {
        return Err("password must be at least 8 characters".into());
    }
    if n > 1024 {
        return Err("password must be at most 1024 characters".into());
    }
    Ok(())
}

/// A random password for bootstrap users (`idoctord demo`): 20 characters from an
/// unambiguous alphabet.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    rand::fill(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(&[7u8; 32], Duration::from_secs(3600)).unwrap()
    }

    #[test]
    fn token_round_trip_and_tamper() {
        let k = keys();
        let now = chrono::Utc::now().timestamp_millis();
        let (token, exp) = k.issue(42, "operator", 3, now).unwrap();
        assert_eq!(exp, (now / 1000 + 3600) * 1000);
        let claims = k.verify(&token, now).unwrap();
        assert_eq!(claims.user_id().unwrap(), 42);
        assert_eq!(claims.epoch, 3);
        // Flip one character of the signature.
        let mut bad = token.clone().into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(matches!(k.verify(&bad, now), Err(AuthError::Invalid)));
        assert!(matches!(k.verify("garbage", now), Err(AuthError::Invalid)));
        let other = Keys::new(&[8u8; 32], Duration::from_secs(3600)).unwrap();
        assert!(matches!(other.verify(&token, now), Err(AuthError::Invalid)));
    }

    #[test]
    fn expiry_is_enforced() {
        let k = keys();
        let now = chrono::Utc::now().timestamp_millis();
        let (token, _) = k.issue(1, "admin", 0, now - 7_200_000).unwrap();
        assert!(matches!(k.verify(&token, now), Err(AuthError::Expired)));
        let (future, _) = k.issue(1, "admin", 0, now + 600_000).unwrap();
        assert!(matches!(k.verify(&future, now), Err(AuthError::Invalid)));
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", Some(&h)));
        assert!(!verify_password("wrong horse", Some(&h)));
        assert!(!verify_password("correct horse", None));
        assert!(!verify_password("x", Some("not a hash")));
    }

    #[test]
    fn secret_is_generated_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_secret("", dir.path()).unwrap();
        let b = load_or_create_secret("", dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        let mode = std::fs::metadata(dir.path().join("secrets/jwt.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let c = load_or_create_secret("a-configured-secret-of-32-bytes!!", dir.path()).unwrap();
        assert_eq!(c, b"a-configured-secret-of-32-bytes!!");
    }

    #[test]
    fn usernames_are_safe_folder_names() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("dr.smith_2").is_ok());
        for bad in ["", ".", "..", "../x", "a/b", "-x", "a b", &"x".repeat(65)] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
        assert_eq!(generate_password().len(), 20);
    }
}
