//! Assembling one CT series into a [`Volume`]: headers first (in parallel), then a
//! plan of the stack checked and ordered from the headers alone, then every slice
//! decoded in parallel straight into its place in the final array.
//!
//! Nothing but headers and one scratch buffer per thread is held besides the volume,
//! so peak memory stays close to the volume's own size. The plan is built from
//! geometry only: slices are ordered by position along the slice normal, never by file
//! name or InstanceNumber (the pancreas case's files run superior → inferior).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3, Axis};
use rayon::prelude::*;

use super::decode::{DecodeScratch, Flips, decode_into};
use super::error::{DicomError, file_label};
use super::geometry::{
    self, OBLIQUITY_WARN_DEG, Plane, TILT_MAX_DEG, TILT_WARN_DEG, Vec3, fmt_vec,
};
use super::header::{InstanceHeader, read_header};
use super::meta::series_meta;
use super::volume::Volume;

/// One file and its parsed header.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Where the file is.
    pub path: PathBuf,
    /// Its header.
    pub header: InstanceHeader,
}

/// Tunables of series assembly.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Fewest distinct slice positions accepted as a volume. Ingest applies its own,
    /// larger, minimum when it quarantines; this one only guards the geometry.
    pub min_slices: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { min_slices: 2 }
    }
}

/// Load one CT series from its files into a sorted, canonical HU volume.
pub fn load_series(files: &[PathBuf]) -> Result<Volume, DicomError> {
    load_series_with(files, &LoadOptions::default())
}

/// [`load_series`] with explicit options.
pub fn load_series_with(files: &[PathBuf], opts: &LoadOptions) -> Result<Volume, DicomError> {
    if files.is_empty() {
        return Err(DicomError::Empty);
    }
    let instances = read_headers(files)?;
    assemble(&instances, opts)
}

/// Read the headers of `files` in parallel. Fails with the error of the first file (in
/// input order) that cannot be read, so the same input always gives the same error.
pub fn read_headers(files: &[PathBuf]) -> Result<Vec<Instance>, DicomError> {
    let results: Vec<Result<Instance, DicomError>> = files
        .par_iter()
        .map(|path| {
            read_header(path).map(|header| Instance {
                path: path.clone(),
                header,
            })
        })
        .collect();
    results.into_iter().collect()
}

/// Build the volume from instances whose headers are already read (as
/// [`discover`](super::discover) returns them), decoding the pixels in parallel.
pub fn assemble(instances: &[Instance], opts: &LoadOptions) -> Result<Volume, DicomError> {
    let plan = plan_stack(instances, opts)?;
    let first = &instances[plan.order[0]].header;
    let (rows, cols) = (usize::from(first.rows), usize::from(first.columns));

    let mut hu = Array3::<i16>::zeros((plan.order.len(), rows, cols));
    hu.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(plan.order.par_iter())
        .try_for_each_init(DecodeScratch::default, |scratch, (slice, &i)| {
            let inst = &instances[i];
            decode_into(&inst.path, &inst.header, plan.flips, slice, scratch)
        })?;

    let (meta, notes) = series_meta(first);
    let mut warnings = plan.warnings;
    warnings.extend(notes);
    if instances.iter().any(|i| i.header.derived_uids) {
        warnings.push(
            "some Study/Series/SOP Instance UIDs are missing (anonymised export); \
             stable UIDs were derived from the other attributes"
                .to_owned(),
        );
    }
    let origin = first.image_position.unwrap_or_default();
    let orientation = first.image_orientation.unwrap_or_default();
    let pixel_spacing = first.pixel_spacing.unwrap_or_default();
    Ok(Volume {
        hu,
        z_mm: plan.z_mm,
        sop_uids: plan
            .order
            .iter()
            .map(|&i| instances[i].header.sop_instance_uid.clone())
            .collect(),
        pixel_spacing,
        slice_spacing: plan.spacing,
        orientation,
        origin,
        flipped_rows: plan.flips.rows,
        flipped_cols: plan.flips.cols,
        meta,
        warnings,
    })
}

/// One slice in canonical orientation, outside any series (for single files).
#[derive(Debug, Clone)]
pub struct CanonicalSlice {
    /// The file's header.
    pub header: InstanceHeader,
    /// HU `[y, x]`, y anterior → posterior, x right → left.
    pub hu: Array2<i16>,
    /// Flips applied to reach that orientation.
    pub flips: Flips,
}

/// Read and decode one CT slice into canonical orientation.
pub fn load_slice(path: &Path) -> Result<CanonicalSlice, DicomError> {
    let header = read_header(path)?;
    header.check_ct_slice(path)?;
    let iop = header
        .image_orientation
        .ok_or_else(|| missing(path, "ImageOrientationPatient"))?;
    let o = geometry::orientation(&iop).ok_or_else(|| degenerate(path, &iop))?;
    let flips = geometry::canonical_flips(&o).map_err(|row| DicomError::TransposedInPlane {
        row_direction: fmt_vec(row),
    })?;
    let mut hu = Array2::<i16>::zeros((usize::from(header.rows), usize::from(header.columns)));
    decode_into(
        path,
        &header,
        flips,
        hu.view_mut(),
        &mut DecodeScratch::default(),
    )?;
    Ok(CanonicalSlice { header, hu, flips })
}

/// The checked, ordered stack, before any pixel is read.
#[derive(Debug)]
pub(crate) struct StackPlan {
    /// Indices into the instances, inferior → superior, duplicates removed.
    pub order: Vec<usize>,
    pub flips: Flips,
    /// z (LPS) of each slice in `order`.
    pub z_mm: Vec<f64>,
    /// Median step along the normal.
    pub spacing: f64,
    pub warnings: Vec<String>,
}

fn missing(path: &Path, attribute: &'static str) -> DicomError {
    DicomError::MissingAttribute {
        file: file_label(path),
        attribute,
    }
}

fn degenerate(path: &Path, iop: &[f64; 6]) -> DicomError {
    DicomError::Geometry {
        detail: format!(
            "{}: ImageOrientationPatient {:?} is not two perpendicular directions",
            file_label(path),
            iop
        ),
    }
}

/// Check the series from its headers and decide the order of its slices.
pub(crate) fn plan_stack(
    instances: &[Instance],
    opts: &LoadOptions,
) -> Result<StackPlan, DicomError> {
    let Some(first) = instances.first() else {
        return Err(DicomError::Empty);
    };
    for inst in instances {
        inst.header.check_ct_slice(&inst.path)?;
    }

    let mut series: Vec<&str> = instances
        .iter()
        .map(|i| i.header.series_uid.as_str())
        .collect();
    series.sort_unstable();
    series.dedup();
    if series.len() > 1 {
        return Err(DicomError::MixedSeries {
            count: series.len(),
        });
    }

    let mut sizes: BTreeMap<(u16, u16), usize> = BTreeMap::new();
    for inst in instances {
        *sizes
            .entry((inst.header.columns, inst.header.rows))
            .or_default() += 1;
    }
    if sizes.len() > 1 {
        let mut by_count: Vec<_> = sizes.into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let sizes = by_count
            .iter()
            .map(|((c, r), n)| format!("{c}×{r} ({n} slice{})", if *n == 1 { "" } else { "s" }))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(DicomError::MixedSizes { sizes });
    }

    let iop0 = first
        .header
        .image_orientation
        .ok_or_else(|| missing(&first.path, "ImageOrientationPatient"))?;
    let spacing0 = first
        .header
        .pixel_spacing
        .ok_or_else(|| missing(&first.path, "PixelSpacing"))?;
    let mut positions: Vec<Vec3> = Vec::with_capacity(instances.len());
    for inst in instances {
        let h = &inst.header;
        let iop = h
            .image_orientation
            .ok_or_else(|| missing(&inst.path, "ImageOrientationPatient"))?;
        if iop.iter().zip(&iop0).any(|(a, b)| (a - b).abs() > 1e-3) {
            return Err(DicomError::MixedOrientation {
                detail: format!("{iop0:?} and {iop:?}"),
            });
        }
        let ps = h
            .pixel_spacing
            .ok_or_else(|| missing(&inst.path, "PixelSpacing"))?;
        if ps.iter().any(|v| *v <= 0.0) {
            return Err(missing(&inst.path, "PixelSpacing"));
        }
        if ps
            .iter()
            .zip(&spacing0)
            .any(|(a, b)| (a - b).abs() > 1e-3 * b.abs().max(1.0))
        {
            return Err(DicomError::MixedPixelSpacing {
                detail: format!("{spacing0:?} mm and {ps:?} mm"),
            });
        }
        positions.push(
            h.image_position
                .ok_or_else(|| missing(&inst.path, "ImagePositionPatient"))?,
        );
    }

    let o = geometry::orientation(&iop0).ok_or_else(|| degenerate(&first.path, &iop0))?;
    let plane = geometry::plane(o.normal);
    if plane != Plane::Axial {
        return Err(DicomError::NonAxial {
            plane: plane.name(),
            normal: fmt_vec(o.normal),
        });
    }
    let flips = geometry::canonical_flips(&o).map_err(|row| DicomError::TransposedInPlane {
        row_direction: fmt_vec(row),
    })?;

    // Pre-order by preference so that, among slices at the same position, the stable
    // sort keeps the lowest InstanceNumber first.
    let mut preferred: Vec<usize> = (0..instances.len()).collect();
    preferred.sort_by(|&a, &b| {
        let (ha, hb) = (&instances[a].header, &instances[b].header);
        ha.instance_number
            .unwrap_or(i32::MAX)
            .cmp(&hb.instance_number.unwrap_or(i32::MAX))
            .then_with(|| ha.sop_instance_uid.cmp(&hb.sop_instance_uid))
    });
    let preferred_positions: Vec<Vec3> = preferred.iter().map(|&i| positions[i]).collect();
    let sorted: Vec<(usize, f64)> = geometry::sort_along(o.normal, &preferred_positions)
        .into_iter()
        .map(|(k, d)| (preferred[k], d))
        .collect();
    let sorted_d: Vec<f64> = sorted.iter().map(|s| s.1).collect();

    let mut warnings = Vec::new();
    let mut order = Vec::with_capacity(sorted.len());
    let mut kept_d = Vec::with_capacity(sorted.len());
    let mut repeated_instances = 0;
    let mut conflicting = 0;
    let mut conflict_z = Vec::new();
    for run in geometry::position_runs(&sorted_d) {
        let keep = sorted[run.start].0;
        order.push(keep);
        kept_d.push(sorted[run.start].1);
        let mut conflict_here = false;
        for &(other, _) in &sorted[run.start + 1..run.end] {
            if instances[other].header.sop_instance_uid == instances[keep].header.sop_instance_uid {
                repeated_instances += 1;
            } else {
                conflicting += 1;
                conflict_here = true;
            }
        }
        if conflict_here {
            conflict_z.push(positions[keep][2]);
        }
    }
    if conflicting * 10 > instances.len() {
        return Err(DicomError::DuplicatePositions {
            count: conflicting,
            total: instances.len(),
        });
    }
    if repeated_instances > 0 {
        warnings.push(format!(
            "{repeated_instances} file(s) repeat an instance already given (same SOP Instance UID); the copies were ignored"
        ));
    }
    if conflicting > 0 {
        warnings.push(format!(
            "{conflicting} slice(s) share a position with another slice (at z = {}); the one with the lowest InstanceNumber was kept",
            list_z(&conflict_z)
        ));
    }
    if order.len() < opts.min_slices {
        return Err(DicomError::TooFewSlices {
            found: order.len(),
            min: opts.min_slices,
        });
    }

    let z_mm: Vec<f64> = order.iter().map(|&i| positions[i][2]).collect();
    if z_mm.windows(2).any(|w| w[1] <= w[0]) {
        return Err(DicomError::Geometry {
            detail: "slice positions along the normal and along z disagree in order".to_owned(),
        });
    }

    let report = geometry::spacing(&kept_d);
    for &(i, step) in report.gaps.iter().take(10) {
        warnings.push(format!(
            "missing slice(s): a {step:.2} mm step (about {} slice(s) missing at the {:.2} mm spacing) between z = {:.2} and z = {:.2} mm",
            report.missing_in(step),
            report.median,
            z_mm[i],
            z_mm[i + 1]
        ));
    }
    if report.gaps.len() > 10 {
        warnings.push(format!("… and {} more gaps", report.gaps.len() - 10));
    }
    if let Some(&(i, _)) = report.irregular.first() {
        let (lo, hi) = report
            .irregular
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, s)| {
                (lo.min(s), hi.max(s))
            });
        warnings.push(format!(
            "irregular slice spacing at {} place(s): steps from {lo:.2} to {hi:.2} mm against a median of {:.2} mm, first between z = {:.2} and z = {:.2} mm",
            report.irregular.len(),
            report.median,
            z_mm[i],
            z_mm[i + 1]
        ));
    }

    if order.len() >= 2 {
        let first_p = positions[order[0]];
        let last_p = positions[order[order.len() - 1]];
        if let Some(tilt) = geometry::tilt_deg(o.normal, first_p, last_p) {
            if tilt > TILT_MAX_DEG {
                return Err(DicomError::GantryTilt {
                    degrees: tilt,
                    limit: TILT_MAX_DEG,
                });
            }
            if tilt > TILT_WARN_DEG {
                warnings.push(format!(
                    "gantry tilt: the slice normal is {tilt:.1}° from the stacking direction; slices are stacked as acquired, not resampled"
                ));
            }
        }
    }
    let obliquity = geometry::obliquity_deg(o.normal);
    if obliquity > OBLIQUITY_WARN_DEG {
        warnings.push(format!(
            "the slices are tipped {obliquity:.1}° from the body's long axis"
        ));
    }

    Ok(StackPlan {
        order,
        flips,
        z_mm,
        spacing: report.median,
        warnings,
    })
}

/// At most five z values for a message.
fn list_z(z: &[f64]) -> String {
    let mut s = z
        .iter()
        .take(5)
        .map(|v| format!("{v:.2}"))
        .collect::<Vec<_>>()
        .join(", ");
    if z.len() > 5 {
        s.push_str(&format!(" and {} more", z.len() - 5));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::reader::PixelDataLocation;

    fn slice(n: usize, z: f64) -> Instance {
        Instance {
            path: PathBuf::from(format!("/x/IM{n:04}")),
            header: InstanceHeader {
                sop_instance_uid: format!("1.2.3.{n}"),
                series_uid: "1.2.3".to_owned(),
                study_uid: "1.2".to_owned(),
                modality: "CT".to_owned(),
                image_type: vec!["ORIGINAL".into(), "PRIMARY".into(), "AXIAL".into()],
                rows: 4,
                columns: 4,
                bits_allocated: 16,
                bits_stored: 12,
                pixel_spacing: Some([0.8, 0.8]),
                image_position: Some([-100.0, -100.0, z]),
                image_orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
                instance_number: Some(n as i32),
                pixel_data: PixelDataLocation::Native {
                    offset: 0,
                    length: 32,
                },
                ..InstanceHeader::default()
            },
        }
    }

    fn stack(zs: &[f64]) -> Vec<Instance> {
        zs.iter().enumerate().map(|(n, &z)| slice(n, z)).collect()
    }

    fn plan(instances: &[Instance]) -> Result<StackPlan, DicomError> {
        plan_stack(instances, &LoadOptions::default())
    }

    #[test]
    fn sorts_superior_to_inferior_files_by_position() {
        // Files numbered from the top, like the pancreas case.
        let inst = stack(&[91.91, 88.91, 85.91, 94.91]);
        let p = plan(&inst).unwrap();
        assert_eq!(p.order, vec![2, 1, 0, 3]);
        assert_eq!(p.z_mm, vec![85.91, 88.91, 91.91, 94.91]);
        assert!((p.spacing - 3.0).abs() < 1e-9);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(p.flips, Flips::default());
    }

    #[test]
    fn rows_flipped_orientation_is_recorded() {
        let mut inst = stack(&[0.0, 3.0, 6.0]);
        for i in &mut inst {
            i.header.image_orientation = Some([1.0, 0.0, 0.0, 0.0, -1.0, 0.0]);
        }
        let p = plan(&inst).unwrap();
        assert_eq!(
            p.flips,
            Flips {
                rows: true,
                cols: false
            }
        );
        assert_eq!(p.order, vec![0, 1, 2]);
    }

    #[test]
    fn exact_repeats_are_dropped_quietly_and_conflicts_with_a_warning() {
        let mut inst = stack(&[0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0, 21.0, 24.0, 27.0, 30.0]);
        let mut copy = inst[3].clone();
        copy.path = PathBuf::from("/x/copy");
        inst.push(copy);
        let p = plan(&inst).unwrap();
        assert_eq!(p.order.len(), 11);
        assert!(
            p.warnings.iter().any(|w| w.contains("repeat an instance")),
            "{:?}",
            p.warnings
        );

        let mut other = slice(99, 12.0);
        other.header.instance_number = Some(0);
        inst.push(other);
        let p = plan(&inst).unwrap();
        assert_eq!(p.order.len(), 11);
        // The lower InstanceNumber wins the position.
        assert_eq!(p.order[4], 12);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("share a position") && w.contains("12.00")),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn interleaved_stacks_are_refused() {
        let mut inst = stack(&[0.0, 3.0, 6.0, 9.0]);
        for (k, z) in [0.0, 3.0, 6.0].into_iter().enumerate() {
            inst.push(slice(10 + k, z));
        }
        assert!(matches!(
            plan(&inst),
            Err(DicomError::DuplicatePositions { count: 3, total: 7 })
        ));
    }

    #[test]
    fn gaps_and_irregular_spacing_are_reported_with_positions() {
        let p = plan(&stack(&[0.0, 3.0, 6.0, 12.0, 15.0, 18.5, 21.5])).unwrap();
        let text = p.warnings.join("\n");
        assert!(
            text.contains("missing slice(s)") && text.contains("z = 6.00 and z = 12.00"),
            "{text}"
        );
        assert!(
            text.contains("irregular slice spacing at 1 place"),
            "{text}"
        );
        assert!(text.contains("z = 15.00 and z = 18.50"), "{text}");
    }

    #[test]
    fn single_slice_and_empty_series_are_refused() {
        assert!(matches!(
            plan(&stack(&[5.0])),
            Err(DicomError::TooFewSlices { found: 1, min: 2 })
        ));
        // Two copies of one position are still one slice.
        let mut inst = stack(&[5.0]);
        inst.push(inst[0].clone());
        assert!(matches!(
            plan(&inst),
            Err(DicomError::TooFewSlices { found: 1, .. })
        ));
        assert!(matches!(plan(&[]), Err(DicomError::Empty)));
    }

    #[test]
    fn mixed_sizes_name_the_sizes() {
        let mut inst = stack(&[0.0, 3.0, 6.0]);
        inst[1].header.rows = 8;
        inst[1].header.columns = 6;
        let e = plan(&inst).unwrap_err();
        assert_eq!(
            e.to_string(),
            "mixed matrix sizes in one series: 4×4 (2 slices), 6×8 (1 slice)"
        );
    }

    #[test]
    fn mixed_series_orientation_and_spacing_are_refused() {
        let mut inst = stack(&[0.0, 3.0]);
        inst[1].header.series_uid = "1.2.4".into();
        assert!(matches!(
            plan(&inst),
            Err(DicomError::MixedSeries { count: 2 })
        ));
        let mut inst = stack(&[0.0, 3.0]);
        inst[1].header.image_orientation = Some([1.0, 0.0, 0.0, 0.0, -1.0, 0.0]);
        assert!(matches!(
            plan(&inst),
            Err(DicomError::MixedOrientation { .. })
        ));
        let mut inst = stack(&[0.0, 3.0]);
        inst[1].header.pixel_spacing = Some([0.9, 0.9]);
        assert!(matches!(
            plan(&inst),
            Err(DicomError::MixedPixelSpacing { .. })
        ));
    }

    #[test]
    fn sagittal_and_transposed_series_are_refused() {
        let mut inst = stack(&[0.0, 3.0]);
        for (k, i) in inst.iter_mut().enumerate() {
            i.header.image_orientation = Some([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]);
            i.header.image_position = Some([3.0 * k as f64, 0.0, 0.0]);
        }
        let e = plan(&inst).unwrap_err();
        assert!(
            matches!(
                e,
                DicomError::NonAxial {
                    plane: "sagittal",
                    ..
                }
            ),
            "{e}"
        );
        let mut inst = stack(&[0.0, 3.0]);
        for i in &mut inst {
            i.header.image_orientation = Some([0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
        }
        assert!(matches!(
            plan(&inst),
            Err(DicomError::TransposedInPlane { .. })
        ));
    }

    #[test]
    fn gantry_tilt_warns_and_extreme_tilt_fails() {
        let tilted = |deg: f64| {
            let t = deg.to_radians();
            let mut inst = stack(&[0.0, 3.0, 6.0, 9.0]);
            for i in &mut inst {
                i.header.image_orientation = Some([1.0, 0.0, 0.0, 0.0, t.cos(), t.sin()]);
            }
            plan(&inst)
        };
        let p = tilted(12.0).unwrap();
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("gantry tilt") && w.contains("12.0°")),
            "{:?}",
            p.warnings
        );
        assert!((p.spacing - 3.0 * 12f64.to_radians().cos()).abs() < 1e-9);
        assert!(tilted(0.1).unwrap().warnings.is_empty());
        // Beyond 30° the normal itself is too oblique to call the series axial.
        assert!(tilted(35.0).is_err());
    }

    #[test]
    fn non_ct_localizer_and_pixelless_instances_are_refused() {
        let mut inst = stack(&[0.0, 3.0]);
        inst[0].header.modality = "MR".into();
        assert!(matches!(plan(&inst), Err(DicomError::NotCt { .. })));
        let mut inst = stack(&[0.0, 3.0]);
        inst[1].header.image_type.push("LOCALIZER".into());
        assert!(matches!(plan(&inst), Err(DicomError::Localizer { .. })));
        let mut inst = stack(&[0.0, 3.0]);
        inst[1].header.pixel_data = PixelDataLocation::Absent;
        assert!(matches!(plan(&inst), Err(DicomError::NoPixelData { .. })));
        let mut inst = stack(&[0.0, 3.0]);
        inst[1].header.image_position = None;
        let e = plan(&inst).unwrap_err();
        assert!(e.to_string().contains("ImagePositionPatient"), "{e}");
    }
}
