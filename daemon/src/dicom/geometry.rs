//! Slice geometry from ImageOrientationPatient and ImagePositionPatient: the slice
//! normal, which plane a series is in, the flips that bring it to the canonical
//! in-plane orientation, the order of slices along the normal, duplicates, gaps and
//! gantry tilt.
//!
//! Pure functions over numbers, so every rule here is unit-tested without files.
//! All vectors are in the patient coordinate system (LPS: +x patient left, +y
//! posterior, +z superior).

use super::decode::Flips;

/// A 3-vector.
pub type Vec3 = [f64; 3];

/// Positions closer than this along the normal are the same position.
pub const DUPLICATE_TOLERANCE_MM: f64 = 0.01;
/// A step this many times the median spacing or more is a gap (missing slices).
pub const GAP_FACTOR: f64 = 1.5;
/// Steps further than this fraction from the median spacing are irregular.
pub const IRREGULAR_FRACTION: f64 = 0.1;
/// Tilt between slice normal and stacking direction worth a warning, degrees.
pub const TILT_WARN_DEG: f64 = 0.5;
/// Tilt beyond which slices are not stacked at all, degrees.
pub const TILT_MAX_DEG: f64 = 30.0;
/// Slice normal further than this from the body axis is not axial, degrees.
pub const OBLIQUITY_MAX_DEG: f64 = 30.0;
/// Obliquity worth a warning, degrees.
pub const OBLIQUITY_WARN_DEG: f64 = 5.0;

pub(crate) fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

fn normalize(a: Vec3) -> Option<Vec3> {
    let n = norm(a);
    (n > 1e-6).then(|| [a[0] / n, a[1] / n, a[2] / n])
}

pub(crate) fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// Angle between two unit vectors, degrees, in 0..=180.
fn angle_deg(a: Vec3, b: Vec3) -> f64 {
    dot(a, b).clamp(-1.0, 1.0).acos().to_degrees()
}

/// Format a vector for messages.
pub(crate) fn fmt_vec(v: Vec3) -> String {
    format!("({:.2}, {:.2}, {:.2})", v[0], v[1], v[2])
}

/// The in-plane axes of a slice and its normal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Orientation {
    /// Direction of increasing column index (along a row), unit.
    pub row: Vec3,
    /// Direction of increasing row index (down a column), unit.
    pub col: Vec3,
    /// `row × col`, flipped if needed so that it points superior (+z) for axial
    /// series: sorting by position along it runs inferior → superior.
    pub normal: Vec3,
}

/// Build the orientation from ImageOrientationPatient. `None` when the two direction
/// cosines are degenerate or far from perpendicular.
pub fn orientation(iop: &[f64; 6]) -> Option<Orientation> {
    let row = normalize([iop[0], iop[1], iop[2]])?;
    let col = normalize([iop[3], iop[4], iop[5]])?;
    if dot(row, col).abs() > 0.01 {
        return None;
    }
    let mut normal = normalize(cross(row, col))?;
    if normal[2] < 0.0 {
        normal = [-normal[0], -normal[1], -normal[2]];
    }
    Some(Orientation { row, col, normal })
}

/// Which anatomical plane the slices lie in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// Normal along the body axis (within [`OBLIQUITY_MAX_DEG`]).
    Axial,
    /// Normal mostly anterior–posterior.
    Coronal,
    /// Normal mostly left–right.
    Sagittal,
    /// Normal mostly superior–inferior but tipped more than [`OBLIQUITY_MAX_DEG`].
    Oblique,
}

impl Plane {
    /// The word for messages.
    pub fn name(self) -> &'static str {
        match self {
            Plane::Axial => "axial",
            Plane::Coronal => "coronal",
            Plane::Sagittal => "sagittal",
            Plane::Oblique => "oblique",
        }
    }
}

/// Classify a slice normal.
pub fn plane(normal: Vec3) -> Plane {
    let [x, y, z] = normal.map(f64::abs);
    if z >= x && z >= y {
        if obliquity_deg(normal) > OBLIQUITY_MAX_DEG {
            Plane::Oblique
        } else {
            Plane::Axial
        }
    } else if y >= x {
        Plane::Coronal
    } else {
        Plane::Sagittal
    }
}

/// Angle between the slice normal and the body (z) axis, degrees.
pub fn obliquity_deg(normal: Vec3) -> f64 {
    let a = angle_deg([0.0, 0.0, 1.0], normal);
    a.min(180.0 - a)
}

/// The flips that make rows run anterior → posterior and columns right → left
/// (`Volume`'s canonical layout). `Err` with the row direction when the in-plane axes
/// are swapped (rows running mostly anterior–posterior), which flips cannot fix.
pub fn canonical_flips(o: &Orientation) -> Result<Flips, Vec3> {
    if o.row[0].abs() < o.row[1].abs() {
        return Err(o.row);
    }
    Ok(Flips {
        cols: o.row[0] < 0.0,
        rows: o.col[1] < 0.0,
    })
}

/// Angle between the slice normal and the direction the slices are stacked in (first
/// to last position), degrees: non-zero for gantry-tilted acquisitions.
pub fn tilt_deg(normal: Vec3, first: Vec3, last: Vec3) -> Option<f64> {
    let stack = normalize(sub(last, first))?;
    let a = angle_deg(normal, stack);
    Some(a.min(180.0 - a))
}

/// Indices of `positions` sorted by distance along `normal`, with those distances.
/// Ties keep the input order (stable), so callers can pre-order by preference.
pub fn sort_along(normal: Vec3, positions: &[Vec3]) -> Vec<(usize, f64)> {
    let mut keyed: Vec<(usize, f64)> = positions
        .iter()
        .enumerate()
        .map(|(i, p)| (i, dot(*p, normal)))
        .collect();
    keyed.sort_by(|a, b| a.1.total_cmp(&b.1));
    keyed
}

/// Split sorted distances into runs of equal position (within
/// [`DUPLICATE_TOLERANCE_MM`] of the run's first member). Returns each run's index
/// range into the sorted list.
pub fn position_runs(sorted_d: &[f64]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=sorted_d.len() {
        if i == sorted_d.len() || sorted_d[i] - sorted_d[start] > DUPLICATE_TOLERANCE_MM {
            runs.push(start..i);
            start = i;
        }
    }
    runs
}

/// Spacing findings for distinct, sorted positions.
#[derive(Debug, Clone, PartialEq)]
pub struct SpacingReport {
    /// Median step, mm (0 with fewer than two positions).
    pub median: f64,
    /// Steps of at least [`GAP_FACTOR`] × median: `(index of the slice before, step)`.
    pub gaps: Vec<(usize, f64)>,
    /// Other steps off the median by more than [`IRREGULAR_FRACTION`]:
    /// `(index of the slice before, step)`.
    pub irregular: Vec<(usize, f64)>,
}

impl SpacingReport {
    /// Number of slices a gap of `step` is missing.
    pub fn missing_in(&self, step: f64) -> usize {
        if self.median <= 0.0 {
            return 0;
        }
        ((step / self.median).round() as usize)
            .saturating_sub(1)
            .max(1)
    }
}

/// Analyse the steps between distinct sorted positions.
pub fn spacing(sorted_d: &[f64]) -> SpacingReport {
    let steps: Vec<f64> = sorted_d.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.is_empty() {
        return SpacingReport {
            median: 0.0,
            gaps: Vec::new(),
            irregular: Vec::new(),
        };
    }
    let mut sorted = steps.clone();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    };
    let mut gaps = Vec::new();
    let mut irregular = Vec::new();
    let tolerance = (median * IRREGULAR_FRACTION).max(DUPLICATE_TOLERANCE_MM);
    for (i, &s) in steps.iter().enumerate() {
        if s >= median * GAP_FACTOR {
            gaps.push((i, s));
        } else if (s - median).abs() > tolerance {
            irregular.push((i, s));
        }
    }
    SpacingReport {
        median,
        gaps,
        irregular,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AXIAL: [f64; 6] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];

    #[test]
    fn axial_normal_points_superior() {
        let o = orientation(&AXIAL).unwrap();
        assert_eq!(o.normal, [0.0, 0.0, 1.0]);
        // Rows flipped (column direction posterior → anterior): the raw cross
        // product points inferior, and is turned round.
        let o = orientation(&[1.0, 0.0, 0.0, 0.0, -1.0, 0.0]).unwrap();
        assert_eq!(o.normal, [0.0, 0.0, 1.0]);
        assert_eq!(plane(o.normal), Plane::Axial);
    }

    #[test]
    fn degenerate_orientations_are_refused() {
        assert!(orientation(&[0.0; 6]).is_none());
        assert!(orientation(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).is_none());
        assert!(orientation(&[1.0, 0.0, 0.0, 0.7, 0.7, 0.0]).is_none());
    }

    #[test]
    fn planes_are_classified() {
        let sag = orientation(&[0.0, 1.0, 0.0, 0.0, 0.0, -1.0]).unwrap();
        assert_eq!(plane(sag.normal), Plane::Sagittal);
        let cor = orientation(&[1.0, 0.0, 0.0, 0.0, 0.0, -1.0]).unwrap();
        assert_eq!(plane(cor.normal), Plane::Coronal);
        // 20° tilt about x: still axial, with that obliquity.
        let t = 20f64.to_radians();
        let tilted = orientation(&[1.0, 0.0, 0.0, 0.0, t.cos(), t.sin()]).unwrap();
        assert_eq!(plane(tilted.normal), Plane::Axial);
        assert!((obliquity_deg(tilted.normal) - 20.0).abs() < 1e-9);
        let t = 40f64.to_radians();
        let steep = orientation(&[1.0, 0.0, 0.0, 0.0, t.cos(), t.sin()]).unwrap();
        assert_eq!(plane(steep.normal), Plane::Oblique);
    }

    #[test]
    fn flips_bring_rows_posterior_and_columns_left() {
        let f = |iop: [f64; 6]| canonical_flips(&orientation(&iop).unwrap());
        assert_eq!(
            f(AXIAL),
            Ok(Flips {
                rows: false,
                cols: false
            })
        );
        assert_eq!(
            f([1.0, 0.0, 0.0, 0.0, -1.0, 0.0]),
            Ok(Flips {
                rows: true,
                cols: false
            })
        );
        assert_eq!(
            f([-1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            Ok(Flips {
                rows: false,
                cols: true
            })
        );
        assert_eq!(
            f([-1.0, 0.0, 0.0, 0.0, -1.0, 0.0]),
            Ok(Flips {
                rows: true,
                cols: true
            })
        );
        // Rows running anterior–posterior: a transpose, refused.
        assert!(f([0.0, 1.0, 0.0, 1.0, 0.0, 0.0]).is_err());
    }

    #[test]
    fn sorting_uses_the_normal_not_the_input_order() {
        let n = [0.0, 0.0, 1.0];
        // Files listed superior → inferior, as in the pancreas case.
        let p = [[0.0, 0.0, 91.91], [0.0, 0.0, 88.91], [0.0, 0.0, 85.91]];
        let sorted = sort_along(n, &p);
        assert_eq!(
            sorted.iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![2, 1, 0]
        );
        // With rows flipped the raw normal points inferior; the oriented one does not.
        let o = orientation(&[1.0, 0.0, 0.0, 0.0, -1.0, 0.0]).unwrap();
        let sorted = sort_along(o.normal, &p);
        assert_eq!(sorted[0].0, 2);
    }

    #[test]
    fn sorting_a_tilted_stack_follows_the_normal() {
        let t = 15f64.to_radians();
        let o = orientation(&[1.0, 0.0, 0.0, 0.0, t.cos(), t.sin()]).unwrap();
        // Table moves along z; the tilted normal still orders them.
        let p: Vec<Vec3> = (0..5)
            .rev()
            .map(|k| [0.0, -100.0, 3.0 * k as f64])
            .collect();
        let sorted = sort_along(o.normal, &p);
        assert_eq!(
            sorted.iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![4, 3, 2, 1, 0]
        );
        let tilt = tilt_deg(o.normal, p[4], p[0]).unwrap();
        assert!((tilt - 15.0).abs() < 1e-9, "{tilt}");
        // An untilted stack has none.
        let tilt = tilt_deg([0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 30.0]).unwrap();
        assert!(tilt.abs() < 1e-9);
    }

    #[test]
    fn duplicate_positions_form_runs() {
        let d = [0.0, 3.0, 3.0, 3.005, 6.0, 9.0, 9.0];
        let runs = position_runs(&d);
        assert_eq!(runs, vec![0..1, 1..4, 4..5, 5..7]);
        assert_eq!(position_runs(&[]), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(position_runs(&[1.0]), vec![0..1]);
    }

    #[test]
    fn gaps_and_irregular_steps_are_found() {
        // Regular 3 mm with one slice missing after index 3 and one 3.6 mm step.
        let d = [0.0, 3.0, 6.0, 9.0, 15.0, 18.0, 21.6, 24.6];
        let r = spacing(&d);
        assert_eq!(r.median, 3.0);
        assert_eq!(r.gaps, vec![(3, 6.0)]);
        assert_eq!(r.missing_in(6.0), 1);
        assert_eq!(r.missing_in(12.0), 3);
        assert_eq!(r.irregular.len(), 1);
        assert_eq!(r.irregular[0].0, 5);
        assert!((r.irregular[0].1 - 3.6).abs() < 1e-9);
        // A clean series has neither.
        let clean: Vec<f64> = (0..134).map(|k| 85.91 + 3.0 * k as f64).collect();
        let r = spacing(&clean);
        assert!((r.median - 3.0).abs() < 1e-9);
        assert!(r.gaps.is_empty() && r.irregular.is_empty());
        assert_eq!(spacing(&[1.0]).median, 0.0);
    }
}
