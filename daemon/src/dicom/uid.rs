//! Turning DICOM UIDs into safe path components.

/// A UID as a path component: a well-formed UID (`[0-9]+(\.[0-9]+)*`, at most 64
/// characters) is kept as is; anything else becomes `x` + the first 32 hex digits of its
/// SHA-256, so a hostile UID can never produce `..`, a slash or an empty name.
pub fn sanitize_uid(uid: &str) -> String {
    let well_formed = !uid.is_empty()
        && uid.len() <= 64
        && uid
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if well_formed {
        return uid.to_string();
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, uid.as_bytes());
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("x{hex}")
}

#[cfg(test)]
mod tests {
    use super::sanitize_uid;

    #[test]
    fn keeps_good_uids_and_hashes_the_rest() {
        assert_eq!(sanitize_uid("1.2.840.113619.2.55"), "1.2.840.113619.2.55");
        for bad in [
            "",
            ".",
            "..",
            "../etc",
            "1..2",
            "1.2/3",
            "Smith^John",
            &"1".repeat(65),
        ] {
            let s = sanitize_uid(bad);
            assert!(s.starts_with('x') && s.len() == 33, "{bad:?} -> {s}");
            assert!(!s.contains('/') && !s.contains('.'));
        }
        assert_eq!(sanitize_uid("../x"), sanitize_uid("../x"));
    }
}
