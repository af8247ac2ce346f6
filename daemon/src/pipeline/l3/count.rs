//! Counting vertebrae from the anchors along the fitted discs, and turning the count into
//! an [`L3Finding`] with an honest confidence.
//!
//! With the L5/S1 disc at chain index `r`, L3 lies between discs `r + 2` and `r + 3`.
//! S1 gives `r` directly (the disc at the top of the sacrum); T12 gives it as
//! `j − 5`, `j` being the disc just below the lowest rib head (T12/L1). When both
//! anchors are present they must agree, or the count is ambiguous (a transitional
//! vertebra, a missed or false disc) and nothing is reported. One anchor gives a
//! flagged, lower-confidence answer that names it. Vertebral heights are checked too:
//! L3 and L4 are the tallest lumbar bodies, so a short "L5" betrays a false disc inside
//! it, the error that yields a confident, plausible L4.

use idoctor_protocol::analysis::{L3Finding, L3Status, VertebraLevel};

use super::discs::Disc;

/// Labels of the segments above the L5/S1 disc, in order.
const LABELS: [&str; 6] = ["L5", "L4", "L3", "L2", "L1", "T12"];

/// Confidence with both anchors agreeing.
const BOTH_ANCHORS: f64 = 0.92;
/// Confidence counting up from the sacrum alone.
const S1_ONLY: f64 = 0.65;
/// Confidence counting down from the last rib alone (rib variants are commoner).
const T12_ONLY: f64 = 0.6;

/// What the count starts from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CountInput<'a> {
    /// The fitted disc chain, inferior first.
    pub discs: &'a [Disc],
    /// z of the top of S1, when seen.
    pub s1_top: Option<f64>,
    /// z of the lowest rib head, when seen.
    pub lowest_rib: Option<f64>,
    /// Field of view along z, mm.
    pub z_min: f64,
    /// Field of view along z, mm.
    pub z_max: f64,
    /// Largest plausible disc spacing, mm.
    pub max_spacing: f64,
    /// Farthest a rib head may sit above the T12/L1 disc, mm (it articulates with the
    /// upper half of T12; farther means the T12/L1 disc was missed).
    pub rib_above_disc: f64,
    /// Whether the canal was seen (false lowers confidence).
    pub from_canal: bool,
}

/// The outcome of the count, before it is tied to a slice.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Count {
    /// Found or not.
    pub status: L3Status,
    /// Body range of L3 (clipped to the field of view), mm.
    pub range: Option<[f64; 2]>,
    /// Estimated centre of the L3 body, mm.
    pub mid: Option<f64>,
    /// 0..1.
    pub confidence: f64,
    /// Anchors used.
    pub anchors: Vec<String>,
    /// Why not found, or what lowered confidence.
    pub reason: Option<String>,
    /// Labelled vertebrae.
    pub evidence: Vec<VertebraLevel>,
}

impl Count {
    fn not_found(
        reason: impl Into<String>,
        anchors: Vec<String>,
        evidence: Vec<VertebraLevel>,
    ) -> Count {
        Count {
            status: L3Status::NotFound,
            range: None,
            mid: None,
            confidence: 0.0,
            anchors,
            reason: Some(reason.into()),
            evidence,
        }
    }
}

/// Half the thickness of a disc, as a share of the disc-to-disc spacing.
fn half_disc(spacing: f64) -> f64 {
    0.12 * spacing
}

/// Counts to L3.
pub(crate) fn count(inp: &CountInput<'_>) -> Count {
    let mut notes: Vec<String> = Vec::new();
    let discs = inp.discs;
    let zc: Vec<f64> = discs.iter().map(|d| d.z).collect();
    let m = zc.len() as isize;

    // Index of the L5/S1 disc according to each anchor.
    let from_s1 = inp.s1_top.and_then(|top| {
        let (i, d) = zc
            .iter()
            .enumerate()
            .map(|(i, z)| (i, (z - top).abs()))
            .min_by(|a, b| a.1.total_cmp(&b.1))?;
        (d <= 20.0).then_some(i as isize)
    });
    let s1_missing = match (inp.s1_top, from_s1) {
        (None, _) => "no sacrum seen",
        (Some(_), None) => "the sacrum was seen but no disc was found at its top",
        (Some(_), Some(_)) => "",
    };
    let from_t12 = inp.lowest_rib.and_then(|rib| {
        let j = zc.iter().rposition(|&z| z < rib)?;
        (rib - zc[j] <= inp.rib_above_disc).then_some(j as isize - 5)
    });
    let t12_missing = match (inp.lowest_rib, from_t12) {
        (None, _) => "no rib-bearing vertebra seen",
        (Some(_), None) => "ribs were seen but the T12/L1 disc below the last rib was not found",
        (Some(_), Some(_)) => "",
    };

    let mut anchors = Vec::new();
    if from_s1.is_some() {
        anchors.push("S1".to_string());
    }
    if from_t12.is_some() {
        anchors.push("T12".to_string());
    }
    let (r, mut confidence) = match (from_s1, from_t12) {
        (Some(a), Some(b)) if a == b => (a, BOTH_ANCHORS),
        (Some(a), Some(b)) => {
            return Count::not_found(
                format!(
                    "ambiguous count: counting up from S1 and down from T12 disagree by {} level(s) \
                     (transitional vertebra or a missed disc)",
                    (a - b).abs()
                ),
                anchors,
                Vec::new(),
            );
        }
        (Some(a), None) => {
            notes.insert(
                0,
                format!("only the S1 anchor was used (T12: {t12_missing})"),
            );
            (a, S1_ONLY)
        }
        (None, Some(b)) => {
            notes.insert(
                0,
                format!("only the T12 anchor was used (S1: {s1_missing})"),
            );
            (b, T12_ONLY)
        }
        (None, None) => {
            return Count::not_found(
                format!("ambiguous count: no anchor (S1: {s1_missing}; T12: {t12_missing})"),
                anchors,
                Vec::new(),
            );
        }
    };
    if !inp.from_canal {
        confidence *= 0.85;
        notes.push("spinal canal not seen".into());
    }

    let evidence = evidence(&zc, r, from_s1.is_some(), inp);
    let spacing = |i: isize| -> Option<f64> {
        (i >= 0 && i + 1 < m).then(|| zc[(i + 1) as usize] - zc[i as usize])
    };
    let (a, b) = (r + 2, r + 3);
    let z_of = |i: isize| zc[i as usize];
    let typical = 35.0_f64;

    let (range, mid) = if a >= 0 && b < m {
        let (lo, hi) = (z_of(a), z_of(b));
        let hd = half_disc(hi - lo);
        ([lo + hd, hi - hd], (lo + hi) / 2.0)
    } else if a >= 0 && a < m {
        // The disc below L3 is seen, the one above is not.
        let est = spacing(a - 1).unwrap_or(typical);
        let lo = z_of(a);
        if inp.z_max >= lo + est {
            return Count::not_found(
                "ambiguous count: the disc above L3 was not found although it is in view",
                anchors,
                evidence,
            );
        }
        let mid = lo + est / 2.0;
        if mid > inp.z_max {
            return Count::not_found("L3 outside the field of view", anchors, evidence);
        }
        confidence *= 0.8;
        notes.push("L3 is cut by the top of the field of view".into());
        ([lo + half_disc(est), inp.z_max], mid)
    } else if b >= 0 && b < m {
        // The disc above L3 is seen, the one below is not.
        let est = spacing(b).unwrap_or(typical);
        let hi = z_of(b);
        if inp.z_min <= hi - est {
            return Count::not_found(
                "ambiguous count: the disc below L3 was not found although it is in view",
                anchors,
                evidence,
            );
        }
        let mid = hi - est / 2.0;
        if mid < inp.z_min {
            return Count::not_found("L3 outside the field of view", anchors, evidence);
        }
        confidence *= 0.8;
        notes.push("L3 is cut by the bottom of the field of view".into());
        ([inp.z_min, hi - half_disc(est)], mid)
    } else {
        // L3 lies wholly beyond one end of the disc chain: outside the field of view
        // when the chain runs to that end, otherwise the chain broke.
        let beyond_top = a >= m;
        let gap = if beyond_top {
            inp.z_max - zc.last().copied().unwrap_or(inp.z_min)
        } else {
            zc.first().copied().unwrap_or(inp.z_max) - inp.z_min
        };
        let reason = if gap <= inp.max_spacing {
            "L3 outside the field of view".to_string()
        } else {
            "ambiguous count: the disc sequence breaks off before L3".to_string()
        };
        return Count::not_found(reason, anchors, evidence);
    };

    // Vertebral heights: L3 and L4 are the tallest lumbar bodies. A short L5 next to
    // them is the mark of a false disc inside L5.
    let h = |label: usize| spacing(r + label as isize);
    if let (Some(l5), Some(l4), Some(l3)) = (h(0), h(1), h(2))
        && l5 < 0.75 * l4.max(l3)
    {
        confidence *= 0.7;
        notes.push("L5 is much shorter than L4 and L3 (possible false disc)".into());
    }
    let lumbar: Vec<f64> = (0..5).filter_map(h).collect();
    if lumbar.len() >= 3 {
        let mut s = lumbar.clone();
        s.sort_by(f64::total_cmp);
        let med = s[s.len() / 2];
        if lumbar.iter().any(|v| (v / med - 1.0).abs() > 0.3) {
            confidence *= 0.85;
            notes.push("irregular lumbar heights".into());
        }
    }
    // Weak discs around L3 make its bounds less certain.
    let weak = [a, b]
        .iter()
        .filter(|&&i| i >= 0 && i < m)
        .any(|&i| discs[i as usize].prominence < 0.3);
    if weak {
        confidence *= 0.85;
        notes.push("a disc next to L3 is faint".into());
    }

    let range = [range[0].max(inp.z_min), range[1].min(inp.z_max)];
    Count {
        status: L3Status::Found,
        range: Some(range),
        mid: Some(mid),
        confidence: confidence.clamp(0.0, 1.0),
        anchors,
        reason: (!notes.is_empty()).then(|| notes.join("; ")),
        evidence,
    }
}

/// The labelled vertebrae between consecutive discs (T12 down to L5), and S1 when the
/// sacrum anchored the count.
fn evidence(zc: &[f64], r: isize, with_s1: bool, inp: &CountInput<'_>) -> Vec<VertebraLevel> {
    let mut out = Vec::new();
    if with_s1 && r >= 0 && (r as usize) < zc.len() {
        let top = zc[r as usize];
        let below = if r >= 1 {
            zc[r as usize - 1]
        } else {
            top - 30.0
        };
        let lo = below.max(inp.z_min).max(top - 40.0);
        out.push(VertebraLevel {
            label: "S1".into(),
            z_range_mm: [lo, top - half_disc(top - lo)],
        });
    }
    for (i, label) in LABELS.iter().enumerate() {
        let k = r + i as isize;
        if k < 0 || k + 1 >= zc.len() as isize {
            continue;
        }
        let (lo, hi) = (zc[k as usize], zc[k as usize + 1]);
        let hd = half_disc(hi - lo);
        out.push(VertebraLevel {
            label: (*label).into(),
            z_range_mm: [lo + hd, hi - hd],
        });
    }
    out.sort_by(|a, b| a.z_range_mm[0].total_cmp(&b.z_range_mm[0]));
    out
}

/// An empty not-found finding.
pub(crate) fn not_found(reason: impl Into<String>) -> L3Finding {
    L3Finding {
        status: L3Status::NotFound,
        mid_z_mm: None,
        z_range_mm: None,
        mid_slice_index: None,
        mid_slice_uid: None,
        confidence: 0.0,
        low_confidence: true,
        method: "classical".into(),
        anchors: Vec::new(),
        reason: Some(reason.into()),
        evidence: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(zs: &[f64]) -> Vec<Disc> {
        zs.iter()
            .enumerate()
            .map(|(i, &z)| Disc {
                bin: i,
                z,
                prominence: 1.0,
            })
            .collect()
    }

    /// L5/S1 at 100, then 36 mm per level: L3 between 172 and 208.
    fn lumbar() -> Vec<Disc> {
        chain(&[100.0, 136.0, 172.0, 208.0, 244.0, 280.0, 310.0])
    }

    fn input(discs: &[Disc], s1: Option<f64>, rib: Option<f64>) -> CountInput<'_> {
        CountInput {
            discs,
            s1_top: s1,
            lowest_rib: rib,
            z_min: 60.0,
            z_max: 340.0,
            max_spacing: 45.0,
            rib_above_disc: 34.0,
            from_canal: true,
        }
    }

    #[test]
    fn both_anchors_agree() {
        let d = lumbar();
        let c = count(&input(&d, Some(104.0), Some(292.0)));
        assert_eq!(c.status, L3Status::Found);
        assert_eq!(c.mid, Some(190.0));
        assert!(c.confidence > 0.9);
        assert_eq!(c.anchors, vec!["S1", "T12"]);
        let l3 = c.evidence.iter().find(|e| e.label == "L3").expect("L3");
        assert!(l3.z_range_mm[0] > 172.0 && l3.z_range_mm[1] < 208.0);
        assert!(c.evidence.iter().any(|e| e.label == "T12"));
    }

    #[test]
    fn one_anchor_is_flagged_and_named() {
        let d = lumbar();
        let c = count(&input(&d, Some(98.0), None));
        assert_eq!(c.mid, Some(190.0));
        assert!(c.confidence < 0.7);
        assert_eq!(c.anchors, vec!["S1"]);
        assert!(
            c.reason
                .as_deref()
                .is_some_and(|r| r.contains("only the S1"))
        );
        let c = count(&input(&d, None, Some(290.0)));
        assert_eq!(c.mid, Some(190.0));
        assert_eq!(c.anchors, vec!["T12"]);
    }

    #[test]
    fn disagreement_is_not_found() {
        let d = lumbar();
        // The rib head sits one level too low: T12 would be the segment 244–280.
        let c = count(&input(&d, Some(100.0), Some(260.0)));
        assert_eq!(c.status, L3Status::NotFound);
        assert!(
            c.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("ambiguous count"))
        );
    }

    #[test]
    fn no_anchor_is_not_found() {
        let d = lumbar();
        let c = count(&input(&d, None, None));
        assert_eq!(c.status, L3Status::NotFound);
        assert!(
            c.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("ambiguous count"))
        );
    }

    #[test]
    fn l3_beyond_the_field_is_outside() {
        // T11–L2 only: discs L1/L2 at 352, T12/L1 at 385, T11/T12 at 421; rib at 411.
        let d = chain(&[352.0, 385.0, 421.0]);
        let mut inp = input(&d, None, Some(411.0));
        inp.z_min = 340.0;
        inp.z_max = 427.0;
        let c = count(&inp);
        assert_eq!(c.status, L3Status::NotFound);
        assert_eq!(c.reason.as_deref(), Some("L3 outside the field of view"));
    }

    #[test]
    fn l3_cut_by_the_field_is_partial_or_outside() {
        // Scan starts 10 mm below the L2/L3 disc (208): L3's centre (190) is outside.
        let d = chain(&[208.0, 244.0, 280.0, 310.0]);
        let mut inp = input(&d, None, Some(292.0));
        inp.z_min = 198.0;
        let c = count(&inp);
        assert_eq!(c.status, L3Status::NotFound);
        assert_eq!(c.reason.as_deref(), Some("L3 outside the field of view"));
        // Starting 25 mm below it, the centre is in view: found, flagged.
        inp.z_min = 183.0;
        let c = count(&inp);
        assert_eq!(c.status, L3Status::Found);
        assert!(c.confidence < 0.6);
        assert!(c.range.is_some_and(|r| r[0] >= 183.0));
    }

    #[test]
    fn a_short_l5_lowers_confidence() {
        // A false disc inside L5 (at 115) with the sacrum at 100: S1 alone counts
        // one level low, and the height check must catch it.
        let d = chain(&[100.0, 115.0, 136.0, 172.0, 208.0, 244.0]);
        let c = count(&input(&d, Some(100.0), None));
        assert!(c.confidence < 0.5, "{c:?}");
        assert!(c.reason.as_deref().is_some_and(|r| r.contains("L5")));
    }
}
