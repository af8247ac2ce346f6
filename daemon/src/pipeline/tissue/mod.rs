//! Tissue segmentation of one axial CT slice: psoas (left, right), paraspinal and
//! abdominal-wall muscle, subcutaneous, visceral and intermuscular fat.
//!
//! HU thresholds alone cannot tell these apart: kidney, liver, bowel wall and vessels fall in
//! the muscle window, and subcutaneous and visceral fat share one window. So the slice is
//! first cut into anatomical compartments and the Alberta windows are applied inside each:
//!
//! 1. the body (largest dense object, table cut off, holes filled) and its skin edge
//!    ([`body`]);
//! 2. the fascia under the subcutaneous fat and the inner surface of the abdominal wall, two
//!    closed contours found by dynamic programming on rays from the body centre ([`wall`],
//!    [`rays`]); fat outside the fascia is SAT, the band between the contours is wall muscle,
//!    less the thick fat pockets and the bowel (fluid, stool) it swept in where a loop abuts
//!    the wall; soft tissue next to bowel gas never counts as wall;
//! 3. the vertebra and spinal canal ([`spine`]), which anchor the paraspinal mass (the wall
//!    there reaches forward to the transverse processes) and are never muscle;
//! 4. the psoas, grown from beside the vertebral body on each side ([`psoas`]);
//! 5. labels: muscle window inside the muscle compartments, IMAT (fat window) inside them,
//!    VAT (its window) in the cavity, SAT outside the fascia; the posterior band over the
//!    erector spinae is paraspinal, and the linea alba is no muscle. Fat-window pixels
//!    touching air are partial-volume edges of gas or lung, not fat, and are left
//!    unlabelled;
//! 6. the psoas and paraspinal labels grown back through muscle-window pixels to the muscle's
//!    edge, and around the posterior elements into the muscle against the bone;
//! 7. each psoas finished ([`border`]): filled to its convex hull, its border with the
//!    paraspinal muscle behind it moved to where the HU changes, unlabelled muscle of its
//!    own HU against it reclaimed, a rim of abutting organ dimmer or brighter than it shed,
//!    and what lies past a neck against tissue of its own HU cut off ([`necks`]); then, where one
//!    side came out far larger than the other, cut back to its fellow's mirror image again
//!    ([`psoas`]: the steps since the cut at growth regrow it along the same organ);
//! 8. IMAT kept only where fat lies between one muscle's pixels; fat the compartments
//!    overshot onto at a muscle's face goes back to the SAT or VAT it touches ([`imat`]).
//!
//! All geometry runs on lightly smoothed HU; labels use the raw HU, so an ideal compartment
//! map plus the windows reproduces the reference exactly. One 512² slice takes a few
//! milliseconds; the caller runs slices in parallel.

mod body;
mod border;
mod imat;
mod necks;
use super::morphology;
mod psoas;
mod rays;
mod spine;
mod wall;

use ndarray::{Array2, ArrayView2, s};

use crate::pipeline::labels::{
    self, ABDOMINAL_WALL, BACKGROUND, HuWindows, IMAT, PARASPINAL, PSOAS_LEFT, PSOAS_RIGHT, SAT,
    VAT,
};
use morphology::{
    Mask, Spacing, Window, components, dilate3, edt, erode_cross, gaussian, median, neighbours4,
};
use rays::DepthFan;

/// Smoothing (Gaussian sigma, mm) of the image the contours are found on.
const SMOOTH_MM: f64 = 1.5;
/// Heavier smoothing for the bone and organ tests.
const COARSE_MM: f64 = 3.0;
/// Rays cast from the body centre.
const RAYS: usize = 360;
/// Sample step along rays: about a millimetre, and at least two samples per pixel.
const STEP_MM: f64 = 1.0;
const STEP_MAX_PX: f64 = 1.0;
const STEP_MIN_PX: f64 = 0.5;
/// The fascia is a partial-volume boundary one pixel wide: that pixel goes to the SAT when it
/// reads as fat and to the wall when it reads as muscle.
const FASCIA_PV_PX: f64 = 1.0;
/// Muscle HU assumed when the scan offers nothing to measure.
const DEFAULT_MUSCLE_HU: f32 = 30.0;
/// The paraspinal reference region: behind the vertebral body, within this distance (mm) of
/// the midline, and at least this area (mm²) to be trusted.
const PARASPINAL_REF_HALF_WIDTH_MM: f64 = 60.0;
const PARASPINAL_REF_MIN_MM2: f64 = 200.0;
/// Psoas and quadratus are sought within this window around the vertebral body: half-sizes
/// of `DEEP_WINDOW_*_R` vertebral radii plus `DEEP_WINDOW_MM`.
const DEEP_WINDOW_Y_R: f64 = 2.5;
const DEEP_WINDOW_X_R: f64 = 4.5;
const DEEP_WINDOW_MM: f64 = 60.0;
/// HU below which a pixel is air; fat-window pixels touching it are partial volume.
const AIR_HU: i16 = -400;
/// Fat deeper than this (mm from its nearest non-fat pixel) inside the wall band is a pocket,
/// not an intermuscular plane.
const THICK_FAT_MM: f32 = 3.0;
/// Bowel swept into the wall band where a loop abuts it: over a `BOWEL_BOX_MM` box the raw
/// HU averages this many HU below the scan's muscle, and fewer than `BOWEL_FAT_FRACTION` of
/// its pixels are fat. A thin muscle layer between fat planes averages as low, but its box
/// holds the planes' fat; fluid and stool hold none. Blobs of such pixels wider than
/// `BOWEL_MM` in radius that open onto the cavity go back to it.
const BOWEL_MARGIN_HU: f32 = 15.0;
const BOWEL_BOX_MM: f64 = 5.0;
const BOWEL_FAT_FRACTION: f32 = 0.08;
const BOWEL_MM: f64 = 2.0;
/// Bowel gas (body pixels below `AIR_HU`) marks the samples within this many mm of it as
/// bowel wall or stool for the wall's inner contour (see `wall::GAIN_NEAR_GAS`).
const GAS_MM: f64 = 3.0;
/// The linea alba: columns of the anterior wall band within `LINEA_SEARCH_MM` of the midline
/// whose mean HU is `LINEA_MARGIN_HU` above the band's median there.
const LINEA_SEARCH_MM: f64 = 25.0;
const LINEA_MARGIN_HU: f32 = 15.0;
/// The paraspinal sector exists when the thickest posterior wall is at least this thick
/// (mm) and `PARASPINAL_THICK_FACTOR` times the lateral wall; it spans the rays thicker than
/// the lateral wall by `PARASPINAL_EDGE` of the difference.
const PARASPINAL_THICK_MM: f64 = 20.0;
const PARASPINAL_THICK_FACTOR: f64 = 1.3;
const PARASPINAL_EDGE: f64 = 0.4;
/// Beyond each edge of the sector, on rays up to `PARASPINAL_BULGE_DEG` further out where
/// the band is thicker than the thinnest of them by more than `PARASPINAL_SHEET_MARGIN_MM`,
/// the band deeper than that thin wall sheet (plus the margin) is the erector spinae
/// bulging under it: paraspinal.
const PARASPINAL_BULGE_DEG: f64 = 30.0;
const PARASPINAL_SHEET_MARGIN_MM: f64 = 1.0;
/// The paraspinal sector is centred on the ray through a point this many vertebral radii
/// behind the vertebra's centre.
const MIDLINE_AIM_R: f64 = 3.0;
/// In the sector, the band deeper than the thinner side's sheet (see
/// [`PARASPINAL_BULGE_DEG`]) by `PARASPINAL_DEEP_MM` is the erector spinae; the sheet over
/// it is paraspinal out to `PARASPINAL_BEYOND_MM` past the erector's lateral edge, and wall
/// beyond (phantom paraspinal Dice mean 0.964 -> 0.971, wall 0.966 -> 0.973).
const PARASPINAL_DEEP_MM: f64 = 4.0;
const PARASPINAL_BEYOND_MM: f64 = 2.0;
/// Half-width (degrees) of the widest paraspinal sector.
const PARASPINAL_MAX_HALF_DEG: f64 = 80.0;
/// Largest run of thin rays (degrees) the sector may span.
const PARASPINAL_GAP_DEG: f64 = 35.0;
/// Psoas and paraspinal masks, found on smoothed HU, stop a little short of the muscle's
/// edge against fat. They are grown back through muscle-window pixels by up to this many
/// mm, as long as the smoothed HU is not organ-bright (`RIM_ORGAN_MARGIN_HU` above this
/// scan's muscle).
const RIM_MM: f64 = 2.5;
const RIM_ORGAN_MARGIN_HU: f32 = 20.0;
/// Around the vertebral arch and transverse processes, from `BONE_FRONT_R` radii in front of
/// the vertebral body's centre backward, only muscle lies against the bone (multifidus, erector spinae,
/// intertransversarii, psoas and quadratus origins): there the growth reaches up to
/// `BONE_REACH_MM` from the bone, without the organ test (smoothing blurs bone into it).
/// The paraspinal and wall labels grow there; the psoas only by its rim.
const BONE_REACH_MM: f32 = 20.0;
/// Depth (mm) into the bone mask that smoothing may have pushed its edge over muscle.
const BONE_BLUR_MM: f64 = 1.5;
/// The near-bone growth starts this many vertebral-body radii in front of the body's
/// centre (further forward lie the crura and great vessels).
const BONE_FRONT_R: f64 = 0.5;
/// Growth rounds allowed near the bone, in mm of geodesic distance from the masks.
const BONE_GROW_MM: f64 = 25.0;
/// Behind the vertebral body's centre the paraspinal label grows through tissue within
/// `PARA_LIKE_HU` of its own median HU, up to `PARA_GROW_MM` (geodesic) from it.
const PARA_LIKE_HU: f32 = 10.0;
const PARA_GROW_MM: f64 = 30.0;

/// Segments one axial slice into tissue labels (see [`crate::pipeline::labels`]).
///
/// `hu` is `[y, x]` in the canonical orientation of [`crate::dicom::Volume`] (y anterior →
/// posterior, x patient right → left); `pixel_spacing` is `[row, column]` in mm. Any matrix
/// size works; a slice with no body, or too small to hold one, comes back all background.
/// Never panics.
pub fn segment_slice(
    hu: ArrayView2<i16>,
    pixel_spacing: [f64; 2],
    windows: &HuWindows,
) -> Array2<u8> {
    segment_slice_noted(hu, pixel_spacing, windows).0
}

/// [`segment_slice`], with a line for each adjustment a reviewer should check on the
/// overlays (a psoas cut back to its fellow's mirror image).
pub fn segment_slice_noted(
    hu: ArrayView2<i16>,
    pixel_spacing: [f64; 2],
    windows: &HuWindows,
) -> (Array2<u8>, Vec<String>) {
    let (h, w) = hu.dim();
    let mut labels = Array2::<u8>::from_elem((h, w), BACKGROUND);
    let mut notes = Vec::new();
    if h < 8 || w < 8 {
        return (labels, notes);
    }
    let spacing = sanitise_spacing(pixel_spacing);
    let hu_f = hu.mapv(f32::from);
    let body = body::body_mask(&hu_f, spacing);
    let Some([by0, by1, bx0, bx1]) = body::bbox(&body) else {
        return (labels, notes);
    };
    // Work on the body's bounding box plus a margin: most of a 512² slice is air.
    let margin = 3;
    let (y0, y1) = (by0.saturating_sub(margin), (by1 + margin).min(h - 1));
    let (x0, x1) = (bx0.saturating_sub(margin), (bx1 + margin).min(w - 1));
    let crop = s![y0..=y1, x0..=x1];
    let sub = segment_crop(
        hu.slice(crop),
        hu_f.slice(crop).to_owned(),
        body.slice(crop).to_owned(),
        spacing,
        windows,
        &mut notes,
    );
    labels.slice_mut(crop).assign(&sub);
    (labels, notes)
}

fn sanitise_spacing(sp: [f64; 2]) -> Spacing {
    let fix = |v: f64| {
        if v.is_finite() && v > 0.0 {
            v.clamp(0.05, 50.0)
        } else {
            1.0
        }
    };
    [fix(sp[0]), fix(sp[1])]
}

fn segment_crop(
    hu: ArrayView2<i16>,
    hu_f: Array2<f32>,
    body: Mask,
    spacing: Spacing,
    windows: &HuWindows,
    notes: &mut Vec<String>,
) -> Array2<u8> {
    let (h, w) = hu.dim();
    let mut out = Array2::<u8>::from_elem((h, w), BACKGROUND);
    let sigma = |mm: f64| [mm / spacing[0], mm / spacing[1]];
    let smooth = gaussian(&hu_f, sigma(SMOOTH_MM));
    let coarse = gaussian(&hu_f, sigma(COARSE_MM));
    let mwin = (f32::from(windows.muscle.min), f32::from(windows.muscle.max));

    // Rays from the body centre.
    let (mut n, mut sy, mut sx) = (0usize, 0f64, 0f64);
    for ((y, x), &b) in body.indexed_iter() {
        if b {
            n += 1;
            sy += y as f64;
            sx += x as f64;
        }
    }
    if n == 0 {
        return out;
    }
    let centre = (sy / n as f64, sx / n as f64);
    let step = (STEP_MM / spacing[0].min(spacing[1])).clamp(STEP_MIN_PX, STEP_MAX_PX);
    let fan = DepthFan::new(&body, centre, RAYS, step, spacing);
    let depth_len = fan.last.iter().copied().max().unwrap_or(0) + 1;
    let v = fan.sample(&smooth, -1000.0, depth_len);
    let vcoarse = fan.sample(&coarse, -1000.0, depth_len);

    // Fascia, muscle HU, spine, then the wall's inner surface.
    let fascia = wall::outer_fascia(&fan, &v);
    let band_hu = wall::band_muscle_hu(&fan, &v, &fascia, mwin).unwrap_or(DEFAULT_MUSCLE_HU);
    let spine = spine::find_spine(&smooth, &coarse, &body, spacing, band_hu);
    let depth = |d: &[usize], off: f64| -> Vec<f64> { d.iter().map(|&x| x as f64 + off).collect() };
    let muscle_hu = match &spine {
        Some(sp) => paraspinal_hu(
            &fan.region_at_depth(&depth(&fascia, 0.0)),
            &smooth,
            sp,
            spacing,
            mwin,
        )
        .unwrap_or(band_hu),
        None => band_hu,
    };
    let air = hu.mapv(|v| v < AIR_HU);
    let vgas = fan.sample(&near_gas(&air, &body, spacing), 0.0, depth_len);
    let thickness = wall::wall_thickness(
        &fan,
        &v,
        &vcoarse,
        &vgas,
        &fascia,
        muscle_hu,
        mwin,
        spine.as_ref(),
        spacing,
    );

    let pv = FASCIA_PV_PX / step;
    let outer = fan.region_at_depth(&depth(&fascia, -pv));
    let outer_sat = fan.region_at_depth(&depth(&fascia, pv));
    let inner_depth: Vec<f64> = fascia
        .iter()
        .zip(&thickness)
        .enumerate()
        .map(|(i, (&f, &t))| (f + t).min(fan.last[i]) as f64)
        .collect();
    let cavity = fan.region_at_depth(&inner_depth);

    let in_win = |v: i16, win: crate::pipeline::labels::HuWindow| win.contains(v);
    let edge = {
        let er = erode_cross(&body);
        Array2::from_shape_fn((h, w), |p| body[p] && !er[p])
    };
    let empty = Mask::from_elem((h, w), false);
    let bone_region = spine.as_ref().map_or(&empty, |sp| &sp.region);

    // The wall band, widened by one pixel into adjacent muscle the contours cut through.
    let mut ring = Array2::from_shape_fn((h, w), |p| outer[p] && !cavity[p]);
    let grown = dilate3(&ring, false);
    ndarray::Zip::from(&mut ring)
        .and(&grown)
        .and(&smooth)
        .and(&outer)
        .and(bone_region)
        .for_each(|r, &g, &sm, &o, &b| {
            *r = ((*r) || (g && sm >= mwin.0 && sm <= mwin.1 && o)) && !b
        });
    let cavity = release_fat_pockets(&mut ring, cavity, &smooth, &outer_sat, mwin.0, spacing);
    let cavity = release_bowel(
        &mut ring,
        cavity,
        &hu_f,
        &outer_sat,
        (mwin.0, muscle_hu - BOWEL_MARGIN_HU),
        spacing,
    );

    for ((y, x), l) in out.indexed_iter_mut() {
        let p = (y, x);
        let v = hu[p];
        if body[p] && !outer_sat[p] && !edge[p] && in_win(v, windows.sat) {
            *l = SAT;
        } else if ring[p] && in_win(v, windows.muscle) {
            *l = ABDOMINAL_WALL;
        } else if ring[p] && outer_sat[p] && in_win(v, windows.imat) {
            *l = IMAT;
        }
    }

    let mut visceral = Array2::from_shape_fn((h, w), |p| cavity[p] && !bone_region[p]);
    // A psoas cut back to its fellow's mirror image, for the notes: at growth, or the last
    // cut of the finished outlines.
    let mut cut = None;
    if let Some(sp) = &spine {
        // Psoas first (the wall band stops it), then the quadratus lumborum outside both,
        // all within a window around the spine.
        let r_mm = sp.radius_mm;
        let win = Window::around(
            sp.centre,
            [
                DEEP_WINDOW_Y_R * r_mm + DEEP_WINDOW_MM,
                DEEP_WINDOW_X_R * r_mm + DEEP_WINDOW_MM,
            ],
            spacing,
            (h, w),
        );
        // The psoas and quadratus lie beside the vertebral body: place them from its own
        // centre.
        let body = (
            sp.body_centre.0 - win.y0 as f64,
            sp.body_centre.1 - win.x0 as f64,
        );
        let local = spine::Spine {
            centre: body,
            body_centre: body,
            body_radius_px: sp.body_radius_px,
            radius_px: sp.radius_px,
            radius_mm: sp.radius_mm,
            region: win.cut(&sp.region),
        };
        let (smooth_w, cavity_w, ring_w) = (win.cut(&smooth), win.cut(&cavity), win.cut(&ring));
        let frac = psoas::muscle_fraction(&smooth_w, spacing, &local, muscle_hu, &cavity_w, mwin);
        let (left, right, trimmed) =
            psoas::find_psoas(&smooth_w, spacing, &local, muscle_hu, &ring_w, &frac, mwin);
        cut = trimmed;
        let mut blocked = ring_w.clone();
        for mask in [&left, &right].into_iter().flatten() {
            ndarray::Zip::from(&mut blocked)
                .and(mask)
                .for_each(|b, &m| *b = *b || m);
        }
        let (ql_left, ql_right) = psoas::find_quadratus(
            &smooth_w, spacing, &local, muscle_hu, &cavity_w, &ring_w, &blocked, &frac, mwin,
        );
        let to_full = |m: Option<Mask>| {
            m.map(|m| {
                let mut full = Mask::from_elem((h, w), false);
                win.paste_or(&m, &mut full);
                full
            })
        };
        let (left, right, ql_left, ql_right) = (
            to_full(left),
            to_full(right),
            to_full(ql_left),
            to_full(ql_right),
        );
        for (mask, label) in [
            (left, PSOAS_LEFT),
            (right, PSOAS_RIGHT),
            (ql_left, PARASPINAL),
            (ql_right, PARASPINAL),
        ] {
            let Some(mask) = mask else { continue };
            for ((p, l), &m) in out.indexed_iter_mut().zip(mask.iter()) {
                if m && cavity[p] {
                    visceral[p] = false;
                    if in_win(hu[p], windows.muscle) {
                        *l = label;
                    } else if in_win(hu[p], windows.imat) {
                        *l = IMAT;
                    }
                }
            }
        }
        label_paraspinal(&mut out, &fan, &fascia, &thickness, sp, spacing);
    }
    let mid_x = spine.as_ref().map_or(centre.1, |sp| sp.centre.1);
    drop_linea_alba(&mut out, &hu_f, (centre.0, mid_x), spacing);
    let near_air = dilate3(&air, true);
    if let Some(sp) = &spine {
        // The bone mask, found on smoothed HU, overshoots the cortex by the blur: its edge
        // pixels may be muscle.
        let bone_depth = edt(bone_region, spacing, false);
        let allowed = Array2::from_shape_fn((h, w), |p| {
            out[p] == BACKGROUND
                && outer_sat[p]
                && (!bone_region[p] || f64::from(bone_depth[p]) <= BONE_BLUR_MM)
                && !near_air[p]
                && in_win(hu[p], windows.muscle)
        });
        grow_muscle_rims(&mut out, &allowed, &smooth, sp, muscle_hu, spacing);
        grow_paraspinal(&mut out, &allowed, &smooth, sp, spacing);
        border::settle(&mut out, &hu_f, sp, spacing, mwin);
        cut = psoas::rebalance(&mut out, sp.body_centre.1, spacing).or(cut);
        for (l, v) in out.iter().zip(visceral.iter_mut()) {
            if *l != BACKGROUND {
                *v = false;
            }
        }
    }
    for ((p, l), &vis) in out.indexed_iter_mut().zip(visceral.iter()) {
        if vis && !near_air[p] && *l == BACKGROUND && in_win(hu[p], windows.vat) {
            *l = VAT;
        }
    }
    notes.extend(cut.map(|t| t.note()));
    imat::confine(
        &mut out,
        hu,
        windows,
        spacing,
        spine.as_ref().map(|sp| sp.midline(spacing)),
    );
    out
}

/// Grows the psoas and paraspinal labels back to the muscle's true edge (see [`RIM_MM`])
/// and, around the posterior elements, into the muscle against the bone (see
/// [`BONE_REACH_MM`]). Only `allowed` pixels are taken; each takes its neighbour's label.
fn grow_muscle_rims(
    out: &mut Array2<u8>,
    allowed: &Mask,
    smooth: &Array2<f32>,
    spine: &spine::Spine,
    muscle_hu: f32,
    spacing: Spacing,
) {
    let (h, w) = out.dim();
    let not_bone = spine.region.mapv(|b| !b);
    let to_bone = edt(&not_bone, spacing, false);
    let px = spacing[0].min(spacing[1]);
    // Whole pixels only: on coarse pixels the masks' shortfall is less than one.
    let rim_rounds = (RIM_MM / px).floor() as usize;
    let bone_rounds = (BONE_GROW_MM / px).floor() as usize;
    let y_min = spine.body_centre.0 - BONE_FRONT_R * spine.body_radius_px;
    let near_bone = Array2::from_shape_fn((h, w), |(y, x)| {
        y as f64 >= y_min && to_bone[[y, x]] <= BONE_REACH_MM
    });
    let organ = muscle_hu + RIM_ORGAN_MARGIN_HU;
    let grows = |l: u8| matches!(l, PSOAS_LEFT | PSOAS_RIGHT | PARASPINAL);
    // The psoas stays in front of the transverse processes here too, and grows by the rim
    // only: grown along the bone it took the quadratus lumborum behind it (phantom psoas
    // Dice 0.931 -> 0.941).
    let psoas_back = psoas::back_edge(spine);
    for round in 0..rim_rounds.max(bone_rounds) {
        let prev = out.clone();
        let mut changed = false;
        for ((y, x), l) in out.indexed_iter_mut() {
            if !allowed[[y, x]] || prev[[y, x]] != BACKGROUND {
                continue;
            }
            let bone_ok = near_bone[[y, x]] && round < bone_rounds;
            if !bone_ok && (round >= rim_rounds || smooth[[y, x]] > organ) {
                continue;
            }
            let n = neighbours4((y, x), (h, w))
                .map(|q| prev[q])
                .filter(|&q| {
                    !labels::is_psoas(q) || ((y as f64) <= psoas_back && round < rim_rounds)
                })
                .find(|&q| grows(q) || (bone_ok && q == ABDOMINAL_WALL));
            if let Some(q) = n {
                *l = q;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// Grows the paraspinal label through tissue of its own HU behind the vertebral body's
/// centre: the erector spinae's lateral edge, which the wall contour's smoothness cuts
/// off, and the quadratus lumborum against it.
fn grow_paraspinal(
    out: &mut Array2<u8>,
    allowed: &Mask,
    smooth: &Array2<f32>,
    spine: &spine::Spine,
    spacing: Spacing,
) {
    let (h, w) = out.dim();
    let mut vals: Vec<f32> = out
        .iter()
        .zip(smooth.iter())
        .filter(|(l, _)| **l == PARASPINAL)
        .map(|(_, &v)| v)
        .collect();
    let Some(para_hu) = median(&mut vals) else {
        return;
    };
    let y_min = spine.body_centre.0;
    let cand = Array2::from_shape_fn((h, w), |(y, x)| {
        allowed[[y, x]] && y as f64 >= y_min && (smooth[[y, x]] - para_hu).abs() <= PARA_LIKE_HU
    });
    let px = spacing[0].min(spacing[1]);
    let rounds = (PARA_GROW_MM / px).floor() as usize;
    let mut frontier: Vec<(usize, usize)> = out
        .indexed_iter()
        .filter(|(_, l)| **l == PARASPINAL)
        .map(|(p, _)| p)
        .collect();
    for _ in 0..rounds {
        let mut next = Vec::new();
        for &(y, x) in &frontier {
            for q in neighbours4((y, x), (h, w)) {
                if cand[q] && out[q] == BACKGROUND {
                    out[q] = PARASPINAL;
                    next.push(q);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
}

/// Intermuscular fat is thin: planes between muscle layers, streaks and marbling. A thick
/// pocket of fat inside the wall band that opens onto the cavity is cavity fat the band's
/// contour swept in (typically between the erector spinae and the posterior wall), so it
/// is handed back to the cavity. Returns the enlarged cavity.
fn release_fat_pockets(
    ring: &mut Mask,
    mut cavity: Mask,
    smooth: &Array2<f32>,
    outer_sat: &Mask,
    muscle_min: f32,
    spacing: Spacing,
) -> Mask {
    let (h, w) = ring.dim();
    let fat = Array2::from_shape_fn((h, w), |p| {
        ring[p] && outer_sat[p] && smooth[p] < muscle_min
    });
    let depth = edt(&fat, spacing, true);
    let (lab, comps) = components(&fat, false);
    let mut take = touching(&lab, comps.len(), &cavity);
    let mut thick = vec![false; comps.len()];
    for (&l, &d) in lab.iter().zip(depth.iter()) {
        if l != 0 {
            thick[l as usize - 1] |= d > THICK_FAT_MM;
        }
    }
    for (t, &k) in take.iter_mut().zip(&thick) {
        *t &= k;
    }
    hand_back(ring, &mut cavity, &lab, &take);
    cavity
}

/// For each of the `n` components labelled in `lab` (1-based), whether it touches `mask`
/// (4-neighbours).
fn touching(lab: &Array2<u32>, n: usize, mask: &Mask) -> Vec<bool> {
    let (h, w) = lab.dim();
    let mut out = vec![false; n];
    for ((y, x), &l) in lab.indexed_iter() {
        if l == 0 || out[l as usize - 1] {
            continue;
        }
        out[l as usize - 1] = neighbours4((y, x), (h, w)).any(|q| mask[q]);
    }
    out
}

/// Moves the components of `lab` marked in `take` from the wall band to the cavity.
fn hand_back(ring: &mut Mask, cavity: &mut Mask, lab: &Array2<u32>, take: &[bool]) {
    for ((p, &l), r) in lab.indexed_iter().zip(ring.iter_mut()) {
        if l != 0 && take[l as usize - 1] {
            *r = false;
            cavity[p] = true;
        }
    }
}

/// Hands back to the cavity the bowel the wall band swept in (see [`BOWEL_MARGIN_HU`]).
/// `soft_min..below` is the HU range of the box means that read as bowel. Returns the
/// enlarged cavity.
fn release_bowel(
    ring: &mut Mask,
    mut cavity: Mask,
    hu: &Array2<f32>,
    outer_sat: &Mask,
    (soft_min, below): (f32, f32),
    spacing: Spacing,
) -> Mask {
    let (h, w) = ring.dim();
    let size = ((BOWEL_BOX_MM / spacing[0].min(spacing[1])).round() as usize | 1).max(3);
    let fat = hu.mapv(|v| f32::from(u8::from(v < soft_min)));
    let fat_frac = morphology::box_mean(&fat, size);
    let mean = morphology::box_mean(hu, size);
    let low = Array2::from_shape_fn((h, w), |p| {
        ring[p]
            && outer_sat[p]
            && fat_frac[p] < BOWEL_FAT_FRACTION
            && mean[p] >= soft_min
            && mean[p] < below
    });
    let depth = edt(&low, spacing, true);
    let core = depth.mapv(|d| f64::from(d) > BOWEL_MM);
    let opened = morphology::dilate_disc(&core, BOWEL_MM, spacing);
    let blob = Array2::from_shape_fn((h, w), |p| opened[p] && low[p]);
    let (lab, comps) = components(&blob, false);
    let take = touching(&lab, comps.len(), &cavity);
    hand_back(ring, &mut cavity, &lab, &take);
    cavity
}

/// Drops from the wall label the linea alba, the tendinous seam between the two recti: it
/// is denser than muscle but no muscle (see [`LINEA_SEARCH_MM`]).
///
/// `cy` is the body centre's row (the anterior wall lies above it), `mid_x` the midline's
/// column. Phantom wall Dice mean 0.973 -> 0.975 (the seam is 30–120 px a slice).
fn drop_linea_alba(
    out: &mut Array2<u8>,
    hu: &Array2<f32>,
    (cy, mid_x): (f64, f64),
    spacing: Spacing,
) {
    let (h, w) = out.dim();
    let reach = LINEA_SEARCH_MM / spacing[1];
    let x0 = (mid_x - reach).max(0.0) as usize;
    let x1 = ((mid_x + reach).ceil() as usize).min(w.saturating_sub(1));
    let y1 = (cy.max(0.0) as usize).min(h);
    let mut all = Vec::new();
    let mut cols = Vec::new();
    for x in x0..=x1 {
        let vals: Vec<f32> = (0..y1)
            .filter(|&y| out[[y, x]] == ABDOMINAL_WALL)
            .map(|y| hu[[y, x]])
            .collect();
        all.extend_from_slice(&vals);
        let mean = (!vals.is_empty()).then(|| vals.iter().sum::<f32>() / vals.len() as f32);
        cols.push((x, mean));
    }
    let Some(base) = median(&mut all) else { return };
    for (x, mean) in cols {
        if mean.is_some_and(|m| m > base + LINEA_MARGIN_HU) {
            for y in 0..y1 {
                if out[[y, x]] == ABDOMINAL_WALL {
                    out[[y, x]] = BACKGROUND;
                }
            }
        }
    }
}

/// 1 where a pixel lies within [`GAS_MM`] of bowel gas (`air` inside the body), else 0.
fn near_gas(air: &Mask, body: &Mask, spacing: Spacing) -> Array2<f32> {
    let not_gas = Array2::from_shape_fn(air.dim(), |p| !(body[p] && air[p]));
    if not_gas.iter().all(|&g| g) {
        return Array2::zeros(air.dim());
    }
    edt(&not_gas, spacing, false).mapv(|d| f32::from(u8::from(f64::from(d) <= GAS_MM)))
}

/// Median smoothed HU of the muscle behind the vertebral body: a more faithful "muscle HU"
/// for this scan than the thin wall, whose pixels partial volume pulls towards fat.
fn paraspinal_hu(
    outer: &Mask,
    smooth: &Array2<f32>,
    spine: &spine::Spine,
    spacing: Spacing,
    window: (f32, f32),
) -> Option<f32> {
    let (vy, vx) = spine.centre;
    let mut vals: Vec<f32> = smooth
        .indexed_iter()
        .filter(|&((y, x), &v)| {
            outer[[y, x]]
                && !spine.region[[y, x]]
                && y as f64 > vy + spine.radius_px
                && (x as f64 - vx).abs() * spacing[1] < PARASPINAL_REF_HALF_WIDTH_MM
                && v >= window.0
                && v <= window.1
        })
        .map(|(_, &v)| v)
        .collect();
    if (vals.len() as f64) * spacing[0] * spacing[1] <= PARASPINAL_REF_MIN_MM2 {
        return None;
    }
    median(&mut vals)
}

/// Relabels as paraspinal the wall muscle in the posterior sector where the wall is thick
/// (the erector spinae and quadratus lumborum mass), behind the vertebral body's centre,
/// and, just beyond the sector, the erector's flank that bulges under the thin wall sheet
/// (see [`PARASPINAL_BULGE_DEG`]); the sheet over the erector only as far out as the
/// erector itself (see [`PARASPINAL_DEEP_MM`]). `fascia` and `thickness` are the band's
/// outer depth and thickness per ray, in samples.
fn label_paraspinal(
    out: &mut Array2<u8>,
    fan: &DepthFan,
    fascia: &[usize],
    thickness: &[usize],
    spine: &spine::Spine,
    spacing: Spacing,
) {
    let (n, centre) = (fan.fan.n, fan.fan.centre);
    let mm: Vec<f64> = thickness
        .iter()
        .zip(&fan.fan.mm)
        .map(|(&t, &m)| t as f64 * m)
        .collect();
    // Thickness smoothed over five rays so one thin ray does not split the sector.
    let smoothed: Vec<f64> = (0..n)
        .map(|i| {
            let mut win: Vec<f32> = (-2isize..=2)
                .map(|d| mm[(i as isize + d).rem_euclid(n as isize) as usize] as f32)
                .collect();
            median(&mut win).map_or(0.0, f64::from)
        })
        .collect();
    let smooth_t = |i: usize| smoothed[i];
    // The midline ray: from the body centre to a point behind the vertebra, on its
    // midline. The vertebra itself can lie level with the body centre, where the direction
    // to it is noise.
    let (vy, vx) = spine.centre;
    let (dy, dx) = (
        (vy - centre.0).max(0.0) + MIDLINE_AIM_R * spine.radius_px,
        vx - centre.1,
    );
    let i0 = (0..n)
        .max_by(|&a, &b| {
            let da = fan.fan.dir(a);
            let db = fan.fan.dir(b);
            (da.0 * dy + da.1 * dx).total_cmp(&(db.0 * dy + db.1 * dx))
        })
        .unwrap_or(0);
    // The lateral wall's thickness (rays within 30° of left and right) against the thickest
    // posterior ray: the sector is where the wall is well above the lateral thickness.
    let mut lateral: Vec<f32> = (0..n)
        .filter(|&i| fan.fan.dir(i).1.abs() > 0.87)
        .map(|i| smooth_t(i) as f32)
        .collect();
    let t_lat = median(&mut lateral).map_or(0.0, f64::from);
    let half40 = (40.0 / 360.0 * n as f64) as usize;
    let t_post = (0..=2 * half40)
        .map(|d| smooth_t((i0 + n + d - half40) % n))
        .fold(0.0, f64::max);
    if t_post < PARASPINAL_THICK_MM || t_post < PARASPINAL_THICK_FACTOR * t_lat {
        return;
    }
    let thr = t_lat + PARASPINAL_EDGE * (t_post - t_lat);
    // Walk out from the midline ray on each side, through gaps of up to
    // `PARASPINAL_GAP_DEG` (the spinous process makes one on the midline itself), and keep
    // the farthest thick ray. Thin rays before the first thick one never end the walk: the
    // band behind a long spinous process can be thin for more than the gap.
    let max_half = (PARASPINAL_MAX_HALF_DEG / 360.0 * n as f64) as usize;
    let gap = ((PARASPINAL_GAP_DEG / 360.0 * n as f64) as usize).max(1);
    let reach = |step: &dyn Fn(usize) -> usize| -> Option<usize> {
        let mut last = None;
        for d in 0..=max_half {
            if smooth_t(step(d)) >= thr {
                last = Some(d);
            } else if last.is_some_and(|l| d > l + gap) {
                break;
            }
        }
        last
    };
    let a = reach(&|d| (i0 + n - d % n) % n);
    let b = reach(&|d| (i0 + d) % n);
    let (Some(a), Some(b)) = (a, b) else { return };
    let (edge_a, edge_b) = ((i0 + n - a) % n, (i0 + b) % n);
    let (da, db) = (fan.fan.dir(edge_a), fan.fan.dir(edge_b));
    // Beyond each edge the erector spinae still bulges into the band under the thin wall
    // sheet that runs on from the side: on the rays where the band stays thicker than that
    // sheet, what lies deeper than the sheet is paraspinal.
    let reach = ((PARASPINAL_BULGE_DEG / 360.0 * n as f64) as usize).max(1);
    let mut sheet = vec![f64::INFINITY; n];
    let mut sheet_mm = [f64::INFINITY; 2];
    for (side, (edge, dir)) in [(edge_a, n - 1), (edge_b, 1)].into_iter().enumerate() {
        let ray = |d: usize| (edge + d * dir) % n;
        let t_ref = (1..=reach)
            .map(|d| smooth_t(ray(d)))
            .fold(f64::INFINITY, f64::min);
        sheet_mm[side] = t_ref;
        for d in 1..=reach {
            let i = ray(d);
            if smooth_t(i) <= t_ref + PARASPINAL_SHEET_MARGIN_MM {
                break;
            }
            sheet[i] = fascia[i] as f64 + (t_ref + PARASPINAL_SHEET_MARGIN_MM) / fan.fan.mm[i];
        }
    }
    // (dy, dx) vectors; cross(a, q) = a.x q.y − a.y q.x is ≥ 0 when q is at a larger ray angle.
    let cross = |u: (f64, f64), q: (f64, f64)| u.1 * q.0 - u.0 * q.1;
    // Relabelled pixels: (y, x, side of the midline, under the sheet).
    let mut taken = Vec::new();
    let deep_mm = sheet_mm[0].min(sheet_mm[1]) + PARASPINAL_DEEP_MM;
    for ((y, x), l) in out.indexed_iter_mut() {
        if *l != ABDOMINAL_WALL || (y as f64) <= vy {
            continue;
        }
        let (i, depth) = fan.ray_and_depth(y as f64, x as f64);
        let side = usize::from((x as f64) < vx);
        let q = (y as f64 - centre.0, x as f64 - centre.1);
        if cross(da, q) >= 0.0 && cross(q, db) >= 0.0 {
            *l = PARASPINAL;
            let below_mm = (depth - fascia[i] as f64) * fan.fan.mm[i];
            taken.push((y, x, side, below_mm > deep_mm));
            continue;
        }
        // The ray either side too: a pixel just past an edge rounds to the edge ray itself.
        let sheet_here = sheet[(i + n - 1) % n].min(sheet[i]).min(sheet[(i + 1) % n]);
        if depth > sheet_here {
            *l = PARASPINAL;
            taken.push((y, x, side, true));
        }
    }
    // The posterior sheet is paraspinal only as far out as the erector spinae under it: a
    // ray from the body centre that meets the sheet beyond the erector's flank still
    // crosses the flank deeper down, so the sector's radial edge takes too much sheet.
    let mut reach_px = [0.0f64; 2];
    for &(_, x, side, deep) in &taken {
        if deep {
            reach_px[side] = reach_px[side].max((x as f64 - vx).abs());
        }
    }
    let margin_px = PARASPINAL_BEYOND_MM / spacing[1];
    for &(y, x, side, deep) in &taken {
        if !deep && (x as f64 - vx).abs() > reach_px[side] + margin_px {
            out[[y, x]] = ABDOMINAL_WALL;
        }
    }
}

#[cfg(test)]
mod tests;
