//! UIDs as path components, and new UIDs for the objects we write.
//!
//! Archive and result paths are built from Study/Series/SOP Instance UIDs, which come
//! from untrusted files: a crafted "UID" could hold `..` or `/`. [`sanitize_uid`] lets a
//! well-formed UID through unchanged (so paths stay readable and match the PACS) and
//! replaces anything else by a stable digest.
//!
//! New UIDs use the `2.25.<decimal>` root of ISO/IEC 9834-8 (a UUID written as one
//! integer), which needs no registered organisation root and never collides in practice.

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

/// Longest UID the standard allows.
const MAX_UID_LEN: usize = 64;

/// Whether `uid` is a syntactically valid DICOM UID: digits and dots, no empty
/// component, no leading zero in a multi-digit component, at most 64 characters.
pub fn is_valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= MAX_UID_LEN
        && uid.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

/// A filesystem-safe name for `uid`.
///
/// A UID of the form `[0-9]+(\.[0-9]+)*` of at most 64 characters is returned as it
/// is (leading zeros are tolerated here: real PACS emit them, and they are harmless in
/// a path). Anything else, the empty string included, becomes `x` followed by the first
/// 32 hex digits of its SHA-256: stable, so the same bad UID always maps to the same
/// folder. The result is never empty, `.`, `..`, and never holds a `/`.
pub fn sanitize_uid(uid: &str) -> String {
    let trimmed = uid.trim_end_matches(['\0', ' ']);
    let plain = !trimmed.is_empty()
        && trimmed.len() <= MAX_UID_LEN
        && trimmed
            .split('.')
            .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()));
    if plain {
        return trimmed.to_owned();
    }
    let d = digest(&SHA256, uid.as_bytes());
    let mut out = String::with_capacity(33);
    out.push('x');
    for b in &d.as_ref()[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A fresh random UID under `2.25`.
pub fn new_uid() -> String {
    let mut bytes = [0u8; 16];
    // SystemRandom only fails when the OS has no entropy source at all; a time-and-
    // counter digest is still unique enough for one process in that case.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let seed = format!(
            "{now}:{}:{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        bytes.copy_from_slice(&digest(&SHA256, seed.as_bytes()).as_ref()[..16]);
    }
    uuid_uid(bytes)
}

/// A UID derived deterministically from `parts`, for objects whose own UID is missing
/// (anonymised exports blank them): the same inputs always give the same UID.
pub fn derived_uid(parts: &[&str]) -> String {
    let mut material = Vec::new();
    for p in parts {
        material.extend_from_slice(p.as_bytes());
        material.push(0x1f);
    }
    let d = digest(&SHA256, &material);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d.as_ref()[..16]);
    uuid_uid(bytes)
}

/// `2.25.` + the 128-bit number as decimal, with the UUID version-4 / variant bits set
/// so the value is a well-formed UUID.
fn uuid_uid(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_uids_pass_unchanged() {
        let uid = "1.3.6.1.4.1.14519.5.2.1.7085.2626.442490497846";
        assert_eq!(sanitize_uid(uid), uid);
        assert_eq!(
            sanitize_uid("1.2.840.10008.5.1.4.1.1.2\0"),
            "1.2.840.10008.5.1.4.1.1.2"
        );
        assert_eq!(sanitize_uid("7"), "7");
    }

    #[test]
    fn bad_uids_become_stable_digests() {
        let bad = [
            "",
            ".",
            "..",
            "../../etc/passwd",
            "1.2/3",
            "1..2",
            ".1.2",
            "1.2.",
            "DOE^JOHN",
            "1.2.3 4",
            &"1.".repeat(40),
        ];
        for b in bad {
            let s = sanitize_uid(b);
            assert!(s.starts_with('x') && s.len() == 33, "{b:?} -> {s}");
            assert!(s[1..].bytes().all(|c| c.is_ascii_hexdigit()), "{s}");
            assert_eq!(s, sanitize_uid(b), "stable");
        }
        assert_ne!(sanitize_uid("a"), sanitize_uid("b"));
    }

    #[test]
    fn sanitized_names_are_never_special() {
        for input in ["", ".", "..", "/", "a/b", "0", "1.2.3"] {
            let s = sanitize_uid(input);
            assert!(!s.is_empty() && s != "." && s != ".." && !s.contains('/'));
        }
    }

    #[test]
    fn validity_follows_the_standard() {
        assert!(is_valid_uid("1.2.840.10008.1.2"));
        assert!(is_valid_uid("2.25.0"));
        assert!(!is_valid_uid("1.02.3"));
        assert!(!is_valid_uid(""));
        assert!(!is_valid_uid("1..2"));
        assert!(!is_valid_uid(&"1".repeat(65)));
    }

    #[test]
    fn new_uids_are_valid_and_distinct() {
        let a = new_uid();
        let b = new_uid();
        assert_ne!(a, b);
        for u in [&a, &b] {
            assert!(u.starts_with("2.25."), "{u}");
            assert!(is_valid_uid(u), "{u}");
        }
    }

    #[test]
    fn derived_uids_are_deterministic() {
        let a = derived_uid(&["series", "1.2.3", "4"]);
        assert_eq!(a, derived_uid(&["series", "1.2.3", "4"]));
        assert_ne!(a, derived_uid(&["series", "1.2.34", ""]));
        assert!(is_valid_uid(&a), "{a}");
    }
}
