//! Patient and series facts from headers, in the units the pipeline uses: height in
//! metres (for SMI), sex as `M`/`F`/`O` (for the Prado cut-offs), age in years.
//!
//! Headers are often sloppy here (PatientSize in centimetres, ages without a unit), so
//! each parser says what it did when it had to interpret, and refuses nonsense rather
//! than inventing a value: a missing height must stay `null`, never become 0.

use super::header::InstanceHeader;
use super::volume::SeriesMeta;

/// Plausible adult and paediatric heights, metres.
const HEIGHT_RANGE_M: std::ops::RangeInclusive<f64> = 0.3..=2.6;

/// PatientSize (0010,1020) as metres. The standard says metres; values that only make
/// sense as centimetres are converted with a note; anything else is dropped with one.
pub fn parse_height_m(patient_size: Option<f64>) -> (Option<f64>, Option<String>) {
    let Some(v) = patient_size else {
        return (None, None);
    };
    if v == 0.0 {
        // Zero is how many scanners write "unknown".
        return (None, None);
    }
    if HEIGHT_RANGE_M.contains(&v) {
        return (Some(v), None);
    }
    if HEIGHT_RANGE_M.contains(&(v / 100.0)) {
        return (
            Some(v / 100.0),
            Some(format!(
                "PatientSize {v} read as centimetres ({:.2} m)",
                v / 100.0
            )),
        );
    }
    (
        None,
        Some(format!(
            "PatientSize {v} is not a plausible height in metres; ignored"
        )),
    )
}

/// PatientAge (0010,1010), `nnnD|W|M|Y`, as years. A bare number is taken as years.
pub fn parse_age_years(age: &str) -> Option<f64> {
    let age = age.trim();
    let (digits, unit) = match age.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&age[..i], c.to_ascii_uppercase()),
        _ => (age, 'Y'),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: f64 = digits.parse().ok()?;
    let years = match unit {
        'Y' => n,
        'M' => n / 12.0,
        'W' => n * 7.0 / 365.25,
        'D' => n / 365.25,
        _ => return None,
    };
    (years <= 150.0).then_some(years)
}

/// PatientSex (0010,0040) normalised to `M`, `F` or `O`; anything else is unknown.
pub fn parse_sex(sex: Option<&str>) -> Option<String> {
    match sex?.trim().to_ascii_uppercase().as_str() {
        s @ ("M" | "F" | "O") => Some(s.to_owned()),
        _ => None,
    }
}

/// Series facts from a representative header, plus notes about interpretations made.
pub(crate) fn series_meta(h: &InstanceHeader) -> (SeriesMeta, Vec<String>) {
    let mut notes = Vec::new();
    let (height_m, height_note) = parse_height_m(h.patient_size);
    notes.extend(height_note);
    let age_years = h.patient_age.as_deref().and_then(|a| {
        let years = parse_age_years(a);
        if years.is_none() {
            notes.push(format!("PatientAge {a:?} is not a valid age; ignored"));
        }
        years
    });
    let meta = SeriesMeta {
        study_uid: h.study_uid.clone(),
        series_uid: h.series_uid.clone(),
        patient_id: h.patient_id.clone(),
        patient_name: h.patient_name.clone(),
        study_date: h.study_date.clone(),
        study_description: h.study_description.clone(),
        series_description: h.series_description.clone(),
        modality: h.modality.clone(),
        slice_thickness_mm: h.slice_thickness,
        height_m,
        sex: parse_sex(h.patient_sex.as_deref()),
        age_years,
    };
    (meta, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_in_every_unit() {
        assert_eq!(parse_age_years("065Y"), Some(65.0));
        assert_eq!(parse_age_years("006M"), Some(0.5));
        assert_eq!(parse_age_years("000Y"), Some(0.0));
        assert!((parse_age_years("052W").unwrap() - 364.0 / 365.25).abs() < 1e-12);
        assert!((parse_age_years("010D").unwrap() - 10.0 / 365.25).abs() < 1e-12);
        assert_eq!(parse_age_years("72"), Some(72.0));
        assert_eq!(parse_age_years("065y "), Some(65.0));
    }

    #[test]
    fn bad_ages_are_unknown() {
        for bad in ["", "Y", "abcY", "12X", "-5Y", "999Y", "6.5Y"] {
            assert_eq!(parse_age_years(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn heights_in_metres_and_centimetres() {
        assert_eq!(parse_height_m(Some(1.711)), (Some(1.711), None));
        let (h, note) = parse_height_m(Some(171.0));
        assert_eq!(h, Some(1.71));
        assert!(note.unwrap().contains("centimetres"));
        let (h, note) = parse_height_m(Some(9.0));
        assert_eq!(h, None);
        assert!(note.is_some());
        assert_eq!(parse_height_m(Some(0.0)), (None, None));
        assert_eq!(parse_height_m(None), (None, None));
    }

    #[test]
    fn sex_is_normalised() {
        assert_eq!(parse_sex(Some("M")), Some("M".to_owned()));
        assert_eq!(parse_sex(Some(" f ")), Some("F".to_owned()));
        assert_eq!(parse_sex(Some("O")), Some("O".to_owned()));
        assert_eq!(parse_sex(Some("")), None);
        assert_eq!(parse_sex(Some("MALE")), None);
        assert_eq!(parse_sex(None), None);
    }
}
