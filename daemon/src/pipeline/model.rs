//! Optional ONNX models for the two pipeline slots, `tissue` and `l3`, run through `ort`.
//!
//! Without a configured model the classical algorithms run; they are the default. Every
//! result records which one produced it (`Methods`, `mask_source`): `classical` or
//! `model:<file name>`.
//!
//! # Backend
//! `ort` is built with `alternative-backend`: on first use this module installs the
//! pure-Rust tract backend (`ort_tract::api()`), or, when the environment variable
//! `ORT_DYLIB_PATH` names a `libonnxruntime.so`, loads that library and uses its C API
//! (version [`ort::sys::ORT_API_VERSION`] or newer) instead. Sessions are built with
//! graph optimisation level 3 (tract runs about twice as slow without it).
//!
//! # Input normalisation (both slots)
//! `x = clamp(HU, −1024, 3071) / 1000` as f32, one channel. Integer HU map exactly, so a
//! model can place thresholds between integers (a muscle window −29…150 is
//! `−0.0295 < x < 0.1505`). No resampling: the model receives the image at its own size
//! and must accept any height and width (fully convolutional), or the size of the
//! series it is meant for.
//!
//! # `tissue` slot
//! - Input: one axial slice `[1, 1, H, W]`, rows anterior → posterior, columns patient
//!   right → left (the volume's canonical orientation).
//! - Output: `[1, 8, H, W]` f32 scores, channel `c` = label code `c` of
//!   [`crate::pipeline::labels`] (0 background, 1 left psoas, 2 right psoas,
//!   3 paraspinal, 4 abdominal wall, 5 SAT, 6 VAT, 7 IMAT). Each pixel takes the
//!   channel with the highest score (the first on ties). Scores may be logits or
//!   probabilities. The labels are used as given: no HU window is applied afterwards.
//!
//! # `l3` slot
//! - Input: the mid-sagittal reformat `[1, 1, H, W]` ([`Sagittal::image`]: rows superior
//!   → inferior at [`Sagittal::spacing_mm`], columns anterior → posterior).
//! - Output: either a per-row L3 probability `[1, H]`, or a mask `[1, 1, H, W]` whose
//!   per-row maximum is taken as the row probability.
//! - Rows with probability ≥ 0.5 form runs; the run holding the most probable row is
//!   the L3 body. Its rows give the z range, its centre the mid slice (nearest slice),
//!   and its mean probability the confidence. No row ≥ 0.5 is `not_found`.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use idoctor_protocol::{L3Finding, L3Status};
use ndarray::{Array2, Array4, ArrayView2};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::dicom::Volume;
use crate::pipeline::labels;
use crate::pipeline::sagittal::Sagittal;

/// HU per unit of model input.
pub const HU_SCALE: f32 = 1000.0;
/// Channels of a tissue model's output: one per label code.
pub const TISSUE_CHANNELS: usize = 8;
/// Row probability at or above which a row belongs to L3.
pub const L3_THRESHOLD: f32 = 0.5;

/// Model input value of `hu`.
#[inline]
pub fn normalise(hu: i16) -> f32 {
    f32::from(hu.clamp(-1024, 3071)) / HU_SCALE
}

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The ONNX backend could not be set up.
    #[error("ONNX backend unavailable: {0}")]
    Backend(String),
    /// The model file could not be read or compiled.
    #[error("loading model {name}: {message}")]
    Load {
        /// Model file name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// Inference failed.
    #[error("running model {name}: {message}")]
    Run {
        /// Model file name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The model's output does not follow the slot's contract.
    #[error("model {name}: output shape {got:?}, expected {expected}")]
    Shape {
        /// Model file name.
        name: String,
        /// The shape it produced.
        got: Vec<usize>,
        /// What the contract asks for.
        expected: String,
    },
}

/// The process-wide ONNX environment, set up once with the chosen backend.
fn environment() -> Result<&'static Environment, ModelError> {
    static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        install_api()?;
        ort::init()
            .with_name("idoctor")
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| ModelError::Backend(e.clone()))
}

/// Installs the OrtApi: ONNX Runtime from `ORT_DYLIB_PATH`, else tract.
fn install_api() -> Result<(), String> {
    match std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        Some(path) => load_onnxruntime(Path::new(&path)),
        None => {
            ort::set_api(ort_tract::api());
            Ok(())
        }
    }
}

/// Loads `libonnxruntime` and hands its C API to `ort`. The library stays loaded for
/// the life of the process: the API's function pointers live in it.
#[allow(
    unsafe_code,
    reason = "loading a C library and calling its entry point is FFI; the pointers are checked for null"
)]
fn load_onnxruntime(path: &Path) -> Result<(), String> {
    // SAFETY: loading runs the library's initialisers; it is the ONNX Runtime the
    // operator configured, which is what ORT_DYLIB_PATH means.
    let lib = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
    // SAFETY: OrtGetApiBase has this signature in every ONNX Runtime release.
    let get_base: libloading::Symbol<'_, unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
        unsafe { lib.get(b"OrtGetApiBase") }
            .map_err(|e| format!("{} is not ONNX Runtime: {e}", path.display()))?;
    // SAFETY: calling the entry point; the result is checked before use.
    let base = unsafe { get_base() };
    if base.is_null() {
        return Err("OrtGetApiBase returned null".into());
    }
    // SAFETY: `base` is non-null and points at the library's static OrtApiBase.
    let api = unsafe { ((*base).GetApi)(ort::sys::ORT_API_VERSION) };
    if api.is_null() {
        return Err(format!(
            "{} does not provide ONNX Runtime API version {} (too old)",
            path.display(),
            ort::sys::ORT_API_VERSION
        ));
    }
    // SAFETY: `api` is non-null and points at the library's static OrtApi table.
    let table = unsafe { (*api).clone() };
    // The table's function pointers point into the library: never unload it.
    std::mem::forget(lib);
    ort::set_api(table);
    Ok(())
}

/// A compiled model with its file name (for `model:<name>` and error messages).
struct Loaded {
    name: String,
    session: Mutex<Session>,
}

impl Loaded {
    fn from_file(path: &Path) -> Result<Self, ModelError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model.onnx".into());
        let bytes = std::fs::read(path).map_err(|e| ModelError::Load {
            name: name.clone(),
            message: e.to_string(),
        })?;
        Self::from_bytes(&name, &bytes)
    }

    fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self, ModelError> {
        let env = environment()?;
        // ort's builder errors carry the (non-Send) builder: keep only the message.
        let load = |e: String| ModelError::Load {
            name: name.to_string(),
            message: e,
        };
        let mut builder = Session::builder(env)
            .map_err(|e| load(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| load(e.to_string()))?;
        let session = builder
            .commit_from_memory(bytes)
            .map_err(|e| load(e.to_string()))?;
        Ok(Self {
            name: name.to_string(),
            session: Mutex::new(session),
        })
    }

    /// Runs the model on one `[1, 1, H, W]` image; returns the first output's shape and
    /// values.
    fn run(&self, image: ArrayView2<'_, i16>) -> Result<(Vec<usize>, Vec<f32>), ModelError> {
        let (h, w) = image.dim();
        let input = Array4::from_shape_fn((1, 1, h, w), |(_, _, i, j)| normalise(image[[i, j]]));
        let err = |e: String| ModelError::Run {
            name: self.name.clone(),
            message: e,
        };
        let tensor = TensorRef::from_array_view(&input).map_err(|e| err(e.to_string()))?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| err("a previous run panicked".into()))?;
        let outputs = session
            .run(ort::inputs![tensor])
            .map_err(|e| err(e.to_string()))?;
        if outputs.len() == 0 {
            return Err(err("the model has no output".into()));
        }
        let (shape, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| err(e.to_string()))?;
        let shape = shape.iter().map(|&d| d.max(0) as usize).collect();
        Ok((shape, data.to_vec()))
    }
}

/// The `tissue` slot: an axial slice in, a label map out.
pub struct TissueModel(Loaded);

impl std::fmt::Debug for TissueModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TissueModel").field(&self.0.name).finish()
    }
}

impl TissueModel {
    /// Loads and compiles an ONNX file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Loaded::from_file(path).map(Self)
    }

    /// Compiles an in-memory ONNX model called `name`.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self, ModelError> {
        Loaded::from_bytes(name, bytes).map(Self)
    }

    /// The model's file name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// `model:<file name>`, as recorded in results.
    pub fn method(&self) -> String {
        format!("model:{}", self.0.name)
    }

    /// Labels one slice (see the module contract).
    pub fn segment(&self, hu: ArrayView2<'_, i16>) -> Result<Array2<u8>, ModelError> {
        let (h, w) = hu.dim();
        let (shape, data) = self.0.run(hu)?;
        if shape != [1, TISSUE_CHANNELS, h, w] {
            return Err(ModelError::Shape {
                name: self.0.name.clone(),
                got: shape,
                expected: format!("[1, {TISSUE_CHANNELS}, {h}, {w}]"),
            });
        }
        let plane = h * w;
        Ok(Array2::from_shape_fn((h, w), |(i, j)| {
            let p = i * w + j;
            let mut best = 0usize;
            for c in 1..TISSUE_CHANNELS {
                if data[c * plane + p] > data[best * plane + p] {
                    best = c;
                }
            }
            debug_assert!(best <= labels::IMAT as usize);
            best as u8
        }))
    }
}

/// The `l3` slot: the mid-sagittal in, the L3 range out.
pub struct L3Model(Loaded);

impl std::fmt::Debug for L3Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("L3Model").field(&self.0.name).finish()
    }
}

impl L3Model {
    /// Loads and compiles an ONNX file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Loaded::from_file(path).map(Self)
    }

    /// Compiles an in-memory ONNX model called `name`.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self, ModelError> {
        Loaded::from_bytes(name, bytes).map(Self)
    }

    /// The model's file name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// `model:<file name>`, as recorded in results.
    pub fn method(&self) -> String {
        format!("model:{}", self.0.name)
    }

    /// Per-row L3 probabilities of a sagittal image.
    pub fn row_probabilities(&self, sag: &Sagittal) -> Result<Vec<f32>, ModelError> {
        let (h, w) = sag.image.dim();
        let (shape, data) = self.0.run(sag.image.view())?;
        match shape.as_slice() {
            [1, rows] if *rows == h => Ok(data),
            [1, 1, rows, cols] if *rows == h && *cols == w => Ok(data
                .chunks_exact(w.max(1))
                .map(|r| r.iter().copied().fold(f32::NEG_INFINITY, f32::max))
                .collect()),
            _ => Err(ModelError::Shape {
                name: self.0.name.clone(),
                got: shape,
                expected: format!("[1, {h}] or [1, 1, {h}, {w}]"),
            }),
        }
    }

    /// Locates L3 in `vol` from its mid-sagittal `sag` (method `model`).
    pub fn locate(&self, vol: &Volume, sag: &Sagittal) -> Result<L3Finding, ModelError> {
        let p = self.row_probabilities(sag)?;
        Ok(finding_from_rows(vol, sag, &p))
    }
}

/// Turns per-row probabilities into a finding (see the module contract).
pub fn finding_from_rows(vol: &Volume, sag: &Sagittal, p: &[f32]) -> L3Finding {
    let not_found = |reason: &str| L3Finding {
        status: L3Status::NotFound,
        mid_z_mm: None,
        z_range_mm: None,
        mid_slice_index: None,
        mid_slice_uid: None,
        confidence: 0.0,
        low_confidence: false,
        method: "model".into(),
        anchors: Vec::new(),
        reason: Some(reason.into()),
        evidence: Vec::new(),
    };
    if vol.slices() == 0 || p.is_empty() {
        return not_found("no image to run the L3 model on");
    }
    let best = p
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i);
    let Some(best) = best.filter(|&b| p[b] >= L3_THRESHOLD) else {
        return not_found(
            "the L3 model found no row with probability ≥ 0.5 (L3 outside the field of view?)",
        );
    };
    let mut top = best;
    while top > 0 && p[top - 1] >= L3_THRESHOLD {
        top -= 1;
    }
    let mut bottom = best;
    while bottom + 1 < p.len() && p[bottom + 1] >= L3_THRESHOLD {
        bottom += 1;
    }
    // Rows run superior → inferior: the top row is the superior endplate.
    let z_hi = sag.z_of_row(top as f64);
    let z_lo = sag.z_of_row(bottom as f64);
    let k = vol.nearest_slice(0.5 * (z_lo + z_hi));
    let confidence = f64::from(p[top..=bottom].iter().sum::<f32>() / (bottom - top + 1) as f32);
    L3Finding {
        status: L3Status::Found,
        mid_z_mm: Some(vol.z_mm[k]),
        z_range_mm: Some([z_lo, z_hi]),
        mid_slice_index: Some(k as u32),
        mid_slice_uid: vol.sop_uids.get(k).cloned(),
        confidence: confidence.clamp(0.0, 1.0),
        low_confidence: false,
        method: "model".into(),
        anchors: Vec::new(),
        reason: None,
        evidence: Vec::new(),
    }
}

/// Small ONNX models built in code (no binary in the repo), with known behaviour.
#[cfg(test)]
pub(crate) mod testmodels {
    use prost::Message;
    use tract_onnx::pb::attribute_proto::AttributeType;
    use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
    use tract_onnx::pb::*;

    use super::HU_SCALE;
    use crate::pipeline::labels::{self, HuWindow};

    const FLOAT: i32 = tensor_proto::DataType::Float as i32;

    fn value(name: &str, dims: &[&str]) -> ValueInfoProto {
        let dim = dims
            .iter()
            .map(|d| Dimension {
                denotation: String::new(),
                value: Some(match d.parse::<i64>() {
                    Ok(v) => dimension::Value::DimValue(v),
                    Err(_) => dimension::Value::DimParam((*d).into()),
                }),
            })
            .collect();
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                denotation: String::new(),
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: FLOAT,
                    shape: Some(TensorShapeProto { dim }),
                })),
            }),
            ..Default::default()
        }
    }

    fn init(name: &str, dims: &[i64], data: Vec<f32>) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            float_data: data,
            ..Default::default()
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: output.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute,
            ..Default::default()
        }
    }

    fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: AttributeType::Ints as i32,
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    fn int(name: &str, v: i64) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: AttributeType::Int as i32,
            i: v,
            ..Default::default()
        }
    }

    fn model(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, output: ValueInfoProto) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            producer_name: "idoctor-tests".into(),
            graph: Some(GraphProto {
                name: "g".into(),
                node: nodes,
                initializer: inits,
                input: vec![value("x", &["1", "1", "H", "W"])],
                output: vec![output],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// A tissue model that reproduces an HU window as label `label`: two 1×1 convs give
    /// `x − lo` and `hi − x` (thresholds half-way between integers), `Min` is positive
    /// exactly inside the window, and a last 1×1 conv spreads it into 8 channels with
    /// background 0 and the other labels −1.
    pub(crate) fn window_tissue_model(w: HuWindow, label: u8) -> Vec<u8> {
        let lo = (f32::from(w.min) - 0.5) / HU_SCALE;
        let hi = (f32::from(w.max) + 0.5) / HU_SCALE;
        let mut spread_w = vec![0.0; 8];
        spread_w[label as usize] = 1.0;
        let mut spread_b = vec![-1.0; 8];
        spread_b[labels::BACKGROUND as usize] = 0.0;
        spread_b[label as usize] = 0.0;
        let k = || ints("kernel_shape", &[1, 1]);
        model(
            vec![
                node("Conv", &["x", "wa", "ba"], "a", vec![k()]),
                node("Conv", &["x", "wb", "bb"], "b", vec![k()]),
                node("Min", &["a", "b"], "s", vec![]),
                node("Conv", &["s", "wc", "bc"], "y", vec![k()]),
            ],
            vec![
                init("wa", &[1, 1, 1, 1], vec![1.0]),
                init("ba", &[1], vec![-lo]),
                init("wb", &[1, 1, 1, 1], vec![-1.0]),
                init("bb", &[1], vec![hi]),
                init("wc", &[8, 1, 1, 1], spread_w),
                init("bc", &[8], spread_b),
            ],
            value("y", &["1", "8", "H", "W"]),
        )
    }

    /// An L3 model that marks bright rows: `sigmoid(100 (x − t))` per pixel, then either
    /// the mask itself or its per-row maximum `[1, H]`.
    pub(crate) fn bright_rows_l3_model(threshold_hu: f32, per_row: bool) -> Vec<u8> {
        let t = threshold_hu / HU_SCALE;
        let mut nodes = vec![
            node(
                "Conv",
                &["x", "w", "b"],
                "z",
                vec![ints("kernel_shape", &[1, 1])],
            ),
            node("Sigmoid", &["z"], if per_row { "m" } else { "y" }, vec![]),
        ];
        let output = if per_row {
            nodes.push(node(
                "ReduceMax",
                &["m"],
                "y",
                vec![ints("axes", &[1, 3]), int("keepdims", 0)],
            ));
            value("y", &["1", "H"])
        } else {
            value("y", &["1", "1", "H", "W"])
        };
        model(
            nodes,
            vec![
                init("w", &[1, 1, 1, 1], vec![100.0]),
                init("b", &[1], vec![-100.0 * t]),
            ],
            output,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testmodels::*;
    use super::*;
    use crate::pipeline::labels::HuWindows;
    use std::path::PathBuf;

    fn data(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data")
            .join(rel)
    }

    #[test]
    fn muscle_window_model_matches_the_threshold_path_exactly() {
        // The pancreas case's L3 mid slice (k = 44; files run superior → inferior).
        let slice = crate::dicom::load_slice(&data("ct/pancreas-ct-cb-001/dicom/1-090.dcm"))
            .expect("real CT slice");
        let w = HuWindows::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("muscle_window.onnx");
        std::fs::write(&path, window_tissue_model(w.muscle, labels::ABDOMINAL_WALL)).unwrap();
        let model = TissueModel::load(&path).expect("model compiles");
        assert_eq!(model.method(), "model:muscle_window.onnx");
        let out = model.segment(slice.hu.view()).expect("inference");
        assert_eq!(out.dim(), slice.hu.dim());
        let by_model = out.mapv(labels::is_muscle);
        let by_threshold = slice.hu.mapv(|h| w.muscle.contains(h));
        let differ = by_model
            .iter()
            .zip(by_threshold.iter())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differ, 0, "pixels where model and threshold disagree");
        let inside = by_threshold.iter().filter(|&&b| b).count();
        assert!(
            inside > 10_000 && inside < out.len() / 2,
            "a real mix: {inside}"
        );
        // Values at the window's edges land on the right side.
        let edges = ndarray::array![[-30i16, -29, 150, 151]];
        let e = model.segment(edges.view()).unwrap();
        assert_eq!(
            e.mapv(labels::is_muscle),
            ndarray::array![[false, true, true, false]]
        );
    }

    #[test]
    fn l3_model_rows_become_a_finding() {
        let p = crate::phantom::generate(&crate::phantom::PhantomOptions::new(3, 60, 64));
        let sag = crate::pipeline::sagittal::mid_sagittal(&p.volume);
        let mut sag = sag;
        sag.image.fill(0);
        let rows = sag.rows();
        // A bright band at rows 40..60 in a few columns.
        for r in 40..60.min(rows) {
            for c in 10..20 {
                sag.image[[r, c]] = 500;
            }
        }
        for per_row in [true, false] {
            let m =
                L3Model::from_bytes("rows.onnx", &bright_rows_l3_model(250.0, per_row)).unwrap();
            let probs = m.row_probabilities(&sag).unwrap();
            assert_eq!(probs.len(), rows);
            assert!(probs[50] > 0.99 && probs[10] < 0.01);
            let f = m.locate(&p.volume, &sag).unwrap();
            assert_eq!(f.status, L3Status::Found);
            assert_eq!(f.method, "model");
            let [lo, hi] = f.z_range_mm.unwrap();
            assert!((hi - sag.z_of_row(40.0)).abs() < 1e-9);
            assert!((lo - sag.z_of_row(59.0)).abs() < 1e-9);
            let k = f.mid_slice_index.unwrap() as usize;
            assert_eq!(k, p.volume.nearest_slice(0.5 * (lo + hi)));
        }
        sag.image.fill(0);
        let m = L3Model::from_bytes("rows.onnx", &bright_rows_l3_model(250.0, true)).unwrap();
        let f = m.locate(&p.volume, &sag).unwrap();
        assert_eq!(f.status, L3Status::NotFound);
        assert!(f.reason.unwrap().contains("no row"));
    }

    #[test]
    fn contract_violations_are_errors() {
        // An L3 model used as a tissue model: wrong output shape.
        let m = TissueModel::from_bytes("rows.onnx", &bright_rows_l3_model(0.0, true)).unwrap();
        let e = m.segment(Array2::<i16>::zeros((4, 5)).view()).unwrap_err();
        assert!(matches!(e, ModelError::Shape { .. }), "{e}");
        assert!(TissueModel::from_bytes("junk.onnx", b"not a model").is_err());
        let missing = TissueModel::load(Path::new("/nonexistent/model.onnx")).unwrap_err();
        assert!(matches!(missing, ModelError::Load { .. }));
    }

    #[test]
    fn onnxruntime_loader_rejects_what_is_not_onnxruntime() {
        let e = load_onnxruntime(Path::new("/nonexistent/libonnxruntime.so")).unwrap_err();
        assert!(e.starts_with("cannot load"), "{e}");
        // A real shared library without OrtGetApiBase.
        let libm = [
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/usr/lib/x86_64-linux-gnu/libm.so.6",
            "/lib64/libm.so.6",
        ]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists());
        if let Some(libm) = libm {
            let e = load_onnxruntime(libm).unwrap_err();
            assert!(e.contains("is not ONNX Runtime"), "{e}");
        }
    }

    #[test]
    fn normalisation_is_hu_over_1000_clamped() {
        assert_eq!(normalise(-29), -0.029);
        assert_eq!(normalise(-3000), -1.024);
        assert_eq!(normalise(4000), 3.071);
    }
}
