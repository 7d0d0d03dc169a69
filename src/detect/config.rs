//! The detector's configuration: which model, where its files are, input size and thresholds,
//! class mapping. Deserialised from the `detector` part of `configs/lookout.param.yaml` with
//! unknown keys rejected, then checked once by [`DetectorConfig::validate`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::classes::{parse_mapping_entry, DEFAULT_CLASS_MAP};
use super::{DetectError, TOP_K_MAX};

/// The shipped darknet models. `clap::ValueEnum` lets the CLI take the same names as the
/// parameter file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum ModelKind {
    #[serde(rename = "yolov4-tiny")]
    #[value(name = "yolov4-tiny")]
    Yolov4Tiny,
    #[serde(rename = "yolov3-tiny")]
    #[value(name = "yolov3-tiny")]
    Yolov3Tiny,
    /// Any YOLOX (nano, tiny, s, m, l, x) from the ONNX file in `onnx_path`, which the user
    /// supplies (YOLOX's `tools/export_onnx.py`).
    #[serde(rename = "yolox")]
    #[value(name = "yolox")]
    Yolox,
}

impl ModelKind {
    /// The asset name: `<cache>/models/<name>/<name>.{cfg,weights}`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Yolov4Tiny => "yolov4-tiny",
            Self::Yolov3Tiny => "yolov3-tiny",
            Self::Yolox => "yolox",
        }
    }

    /// Whether the model is a darknet network (cfg + weights) rather than an ONNX file.
    pub fn is_darknet(self) -> bool {
        !matches!(self, Self::Yolox)
    }
}

/// Detector settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Which model: a shipped darknet one (`yolov4-tiny`, `yolov3-tiny`) or `yolox` (from
    /// `onnx_path`).
    pub model: ModelKind,
    /// Darknet `.cfg`; empty = `<cache>/models/<model>/<model>.cfg`.
    pub cfg_path: String,
    /// Darknet `.weights`; empty = `<cache>/models/<model>/<model>.weights`.
    pub weights_path: String,
    /// YOLOX ONNX export (`model: yolox` only, where it is required).
    pub onnx_path: String,
    /// Class names, one per line; empty = `<cache>/models/<model>/coco.names` (for `yolox`, the
    /// COCO names of the yolov4-tiny asset: the same 80 classes in the same order).
    pub names_path: String,
    /// Square network input side in pixels, a positive multiple of 32, at most
    /// [`INPUT_SIZE_PX_MAX`].
    pub input_size_px: u32,
    /// Detections need `objectness * class probability > confidence_min` (in [0, 1]).
    pub confidence_min: f32,
    /// One candidate per class above `confidence_min` for each predicted box (darknet's and
    /// OpenCV's multi-label output) instead of only the best class (the default: one object,
    /// one box; see [`super::ClassPolicy`]).
    pub multi_label: bool,
    /// Same-class boxes overlapping a better one with IoU `> nms_iou_max` are dropped ([0, 1]).
    pub nms_iou_max: f32,
    /// `model label=output label` entries; classes not listed are dropped unless
    /// `keep_unmapped_classes`.
    pub class_map: Vec<String>,
    /// Report classes missing from `class_map` under their model label instead of dropping them.
    pub keep_unmapped_classes: bool,
    /// Candidates (after the confidence threshold, best first) that NMS considers per image, in
    /// `[1, TOP_K_MAX]` (8192); the rest are dropped. The same on CPU and GPU.
    pub top_k: usize,
    /// Most detections reported per image (best first), in `[1, TOP_K_MAX]` (NMS never keeps
    /// more than `top_k` candidates, so a larger value could not change the output).
    pub max_detections: usize,
    /// Weights and activations of the network: `f32`, or `f16` (CUDA devices only).
    pub precision: Precision,
}

/// Largest `input_size_px`. The network's activations grow with the square of the input side:
/// 4096 px measured 6.5 GB of memory (and 96000 px aborted the process on one allocation), so
/// 2048 px needs about 1.6 GB, which still runs a 1920x1080 or 2048x1536 camera without
/// down-scaling. A multiple of 32 (darknet's total stride).
pub const INPUT_SIZE_PX_MAX: u32 = 2048;

/// Floating-point precision of the network (the CLI's `--precision` takes the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
#[value(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F16,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            model: ModelKind::Yolov4Tiny,
            cfg_path: String::new(),
            weights_path: String::new(),
            onnx_path: String::new(),
            names_path: String::new(),
            input_size_px: 416,
            confidence_min: 0.25,
            nms_iou_max: 0.45,
            class_map: DEFAULT_CLASS_MAP.iter().map(|s| s.to_string()).collect(),
            keep_unmapped_classes: false,
            top_k: 1000,
            max_detections: 300,
            multi_label: false,
            precision: Precision::F32,
        }
    }
}

/// The files a YOLOX detector loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YoloxPaths {
    pub onnx: PathBuf,
    pub names: PathBuf,
}

impl DetectorConfig {
    /// The ONNX file (which must exist) and the class names (given, or the COCO names of the
    /// asset cache, checked against their pin).
    pub fn yolox_paths(&self) -> Result<YoloxPaths, DetectError> {
        let onnx = PathBuf::from(&self.onnx_path);
        crate::assets::verify_file(&self.onnx_path, &onnx)?;
        let names = if self.names_path.is_empty() {
            crate::assets::verified_path("models/yolov4-tiny/coco.names")?
        } else {
            let path = PathBuf::from(&self.names_path);
            crate::assets::verify_file(&self.names_path, &path)?;
            path
        };
        Ok(YoloxPaths { onnx, names })
    }
}

/// The files a detector loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    pub cfg: PathBuf,
    pub weights: PathBuf,
    pub names: PathBuf,
}

impl DetectorConfig {
    /// Checks ranges and the class map's syntax.
    /// The decoder's class policy from [`Self::multi_label`].
    pub fn class_policy(&self) -> super::ClassPolicy {
        if self.multi_label {
            super::ClassPolicy::MultiLabel
        } else {
            super::ClassPolicy::Argmax
        }
    }

    pub fn validate(&self) -> Result<(), DetectError> {
        let invalid =
            |field: &'static str, message: String| DetectError::InvalidConfig { field, message };
        if self.input_size_px == 0 || self.input_size_px % 32 != 0 {
            return Err(invalid(
                "input_size_px",
                format!("{} is not a positive multiple of 32", self.input_size_px),
            ));
        }
        if self.input_size_px > INPUT_SIZE_PX_MAX {
            return Err(invalid(
                "input_size_px",
                format!(
                    "{} is above {INPUT_SIZE_PX_MAX} (the network's memory grows with the square \
                     of the input side: 4096 px takes 6.5 GB)",
                    self.input_size_px
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.confidence_min) {
            return Err(invalid(
                "confidence_min",
                format!("{} is outside [0, 1]", self.confidence_min),
            ));
        }
        if !(0.0..=1.0).contains(&self.nms_iou_max) {
            return Err(invalid(
                "nms_iou_max",
                format!("{} is outside [0, 1]", self.nms_iou_max),
            ));
        }
        if !(1..=TOP_K_MAX).contains(&self.top_k) {
            return Err(invalid(
                "top_k",
                format!("{} is outside [1, {TOP_K_MAX}]", self.top_k),
            ));
        }
        if !(1..=TOP_K_MAX).contains(&self.max_detections) {
            return Err(invalid(
                "max_detections",
                format!("{} is outside [1, {TOP_K_MAX}]", self.max_detections),
            ));
        }
        match (self.model, self.onnx_path.is_empty()) {
            (ModelKind::Yolox, true) => {
                return Err(invalid(
                    "onnx_path",
                    "model yolox needs the path of its ONNX file".into(),
                ))
            }
            (ModelKind::Yolox, false) => {
                if !self.cfg_path.is_empty() || !self.weights_path.is_empty() {
                    return Err(invalid(
                        "cfg_path",
                        "cfg_path and weights_path are for darknet models, not yolox".into(),
                    ));
                }
            }
            (_, false) => {
                return Err(invalid(
                    "onnx_path",
                    format!("is for model yolox, not {}", self.model.name()),
                ))
            }
            (_, true) => {}
        }
        for entry in &self.class_map {
            parse_mapping_entry(entry).map_err(|m| invalid("class_map", m))?;
        }
        if self.class_map.is_empty() && !self.keep_unmapped_classes {
            return Err(invalid(
                "class_map",
                "empty with keep_unmapped_classes false: nothing would be detected".into(),
            ));
        }
        Ok(())
    }

    /// The cfg, weights and names files. Each path left empty comes from the asset cache
    /// (`<cache>/models/<model>/`), and is checked against its sha256 pin in
    /// `configs/assets.sha256`; a given path only has to exist.
    pub fn model_paths(&self) -> Result<ModelPaths, DetectError> {
        if !self.model.is_darknet() {
            return Err(DetectError::InvalidConfig {
                field: "model",
                message: "yolox has no darknet cfg/weights (see onnx_path)".into(),
            });
        }
        let name = self.model.name();
        let pick = |given: &str, file: String| -> Result<PathBuf, DetectError> {
            if given.is_empty() {
                Ok(crate::assets::verified_path(&format!(
                    "models/{name}/{file}"
                ))?)
            } else {
                let path = PathBuf::from(given);
                crate::assets::verify_file(given, &path)?;
                Ok(path)
            }
        };
        Ok(ModelPaths {
            cfg: pick(&self.cfg_path, format!("{name}.cfg"))?,
            weights: pick(&self.weights_path, format!("{name}.weights"))?,
            names: pick(&self.names_path, "coco.names".to_owned())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_unknown_keys_rejected() {
        DetectorConfig::default().validate().unwrap();
        let largest = DetectorConfig {
            input_size_px: INPUT_SIZE_PX_MAX,
            max_detections: TOP_K_MAX,
            ..DetectorConfig::default()
        };
        largest.validate().unwrap();
        assert_eq!(INPUT_SIZE_PX_MAX % 32, 0);
        let c: DetectorConfig =
            serde_json::from_str(r#"{"model": "yolov3-tiny", "input_size_px": 320}"#).unwrap();
        assert_eq!(c.model, ModelKind::Yolov3Tiny);
        assert_eq!(c.input_size_px, 320);
        assert_eq!(c.nms_iou_max, 0.45);
        assert!(serde_json::from_str::<DetectorConfig>(r#"{"input_size": 320}"#).is_err());
        assert!(serde_json::from_str::<DetectorConfig>(r#"{"model": "yolov5"}"#).is_err());
    }

    #[test]
    fn validate_names_the_field() {
        let bad = |f: fn(&mut DetectorConfig), field: &str| {
            let mut c = DetectorConfig::default();
            f(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        };
        bad(|c| c.input_size_px = 400, "input_size_px");
        bad(|c| c.input_size_px = 0, "input_size_px");
        bad(|c| c.input_size_px = 4096, "input_size_px");
        bad(|c| c.input_size_px = 4294967264, "input_size_px");
        bad(|c| c.max_detections = usize::MAX, "max_detections");
        bad(|c| c.confidence_min = 1.5, "confidence_min");
        bad(|c| c.nms_iou_max = f32::NAN, "nms_iou_max");
        bad(|c| c.class_map = vec!["person".into()], "class_map");
        bad(|c| c.class_map.clear(), "class_map");
        bad(|c| c.model = ModelKind::Yolox, "onnx_path");
        bad(|c| c.onnx_path = "a.onnx".into(), "onnx_path");
        bad(
            |c| {
                c.model = ModelKind::Yolox;
                c.onnx_path = "a.onnx".into();
                c.weights_path = "a.weights".into();
            },
            "cfg_path",
        );
        let yolox: DetectorConfig =
            serde_json::from_str(r#"{"model": "yolox", "onnx_path": "m.onnx"}"#).unwrap();
        yolox.validate().unwrap();
        assert!(yolox.model_paths().is_err());
    }

    #[test]
    fn explicit_paths_win_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("a.cfg");
        let c = DetectorConfig {
            cfg_path: cfg.to_string_lossy().into_owned(),
            ..DetectorConfig::default()
        };
        // A given path that does not exist is named in the error.
        let e = c.model_paths().unwrap_err().to_string();
        assert!(e.contains("a.cfg"), "{e}");
        std::fs::write(&cfg, "[net]\n").unwrap();
        match c.model_paths() {
            // With the cache present, the given cfg wins and the rest comes from the cache.
            Ok(p) => {
                assert_eq!(p.cfg, cfg);
                assert!(p
                    .weights
                    .ends_with("models/yolov4-tiny/yolov4-tiny.weights"));
                assert!(p.names.ends_with("models/yolov4-tiny/coco.names"));
            }
            // Without it, the error names the missing cached asset and how to fetch it.
            Err(e) => assert!(e.to_string().contains("fetch-assets"), "{e}"),
        }
    }
}
