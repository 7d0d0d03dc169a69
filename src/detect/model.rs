//! The detector family seam: the network a [`super::Detector`] runs, with the three things that
//! differ between families: the letterbox variant that makes its input, the forward pass, and
//! how its raw outputs decode into [`Candidate`]s (model pixels, before NMS).
//!
//! * [`DetectorModel::Darknet`]: darknet YOLOv3/v4(-tiny). Centred letterbox on a 0.5 canvas,
//!   RGB in `[0, 1]` ([`Letterbox`]); anchor-based heads ([`YoloHead`]), sigmoid offsets and
//!   `exp` sizes times the anchors, one candidate per class above the threshold
//!   ([`super::decode_heads`]).
//!
//! A second family (YOLOX: top-left letterbox padded with 114, BGR in `0..255`, no
//! normalisation; grid/stride/`exp` decoding, one class per box) is a new variant here with its
//! own [`Heads`] variant; the detector's threshold, class map, NMS and image mapping are shared.

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::{decode_heads, heads_to_host, Candidate, ClassPolicy, DetectError, Precision};
use crate::darknet::weights::NetWeights;
use crate::darknet::{Darknet, DarknetError, Layer, NetConfig, YoloHead};
use crate::preprocess::Letterbox;

/// The network of a detector, by family.
#[derive(Debug)]
pub enum DetectorModel {
    Darknet(DarknetModel),
}

/// The raw outputs of one forward pass, in the family's own form.
#[derive(Debug, Clone)]
pub enum Heads {
    /// One tensor per `[yolo]` layer of a darknet network, in cfg order.
    Yolo(Vec<YoloHead>),
}

/// A darknet network plus what the detector needs to know about its heads.
#[derive(Debug)]
pub struct DarknetModel {
    net: Darknet,
    /// Classes every `[yolo]` head predicts.
    classes: usize,
}

impl DarknetModel {
    /// Builds the network from a parsed cfg and its weights on `device` (`cfg_path` names the
    /// cfg in errors). Every `[yolo]` layer must predict the same classes.
    pub fn new(
        cfg: &NetConfig,
        weights: &NetWeights,
        cfg_path: &Path,
        device: &Device,
    ) -> Result<Self, DetectError> {
        let architecture = |layer: usize, message: String| DarknetError::Architecture {
            path: cfg_path.to_path_buf(),
            layer,
            message,
        };
        let mut classes = None;
        for (index, layer) in cfg.layers.iter().enumerate() {
            if let Layer::Yolo(y) = layer {
                match classes {
                    None => classes = Some(y.classes),
                    Some(c) if c != y.classes => {
                        return Err(architecture(
                            index,
                            format!("{} classes, but an earlier [yolo] layer has {c}", y.classes),
                        )
                        .into())
                    }
                    Some(_) => {}
                }
            }
        }
        let classes = classes.ok_or_else(|| {
            architecture(
                cfg.layers.len(),
                "no [yolo] layer: nothing to detect".into(),
            )
        })?;
        let net = Darknet::from_parts(cfg, weights, cfg_path, device)?;
        Ok(Self { net, classes })
    }

    /// Loads a `.cfg` and its `.weights` onto `device`.
    pub fn load(
        cfg_path: &Path,
        weights_path: &Path,
        device: &Device,
    ) -> Result<Self, DetectError> {
        let cfg = NetConfig::from_file(cfg_path)?;
        let weights = crate::darknet::weights::load_weights(&cfg, cfg_path, weights_path)?;
        Self::new(&cfg, &weights, cfg_path, device)
    }

    /// The darknet network itself.
    pub fn network(&self) -> &Darknet {
        &self.net
    }
}

impl From<DarknetModel> for DetectorModel {
    fn from(model: DarknetModel) -> Self {
        Self::Darknet(model)
    }
}

impl DetectorModel {
    /// The device the weights live on (inputs go there).
    pub fn device(&self) -> &Device {
        match self {
            Self::Darknet(m) => m.net.device(),
        }
    }

    /// Number of classes the network predicts (the class labels must match it).
    pub fn class_count(&self) -> usize {
        match self {
            Self::Darknet(m) => m.classes,
        }
    }

    /// Converts the weights to `precision` (f16 needs a CUDA device).
    pub fn with_precision(self, precision: Precision) -> Result<Self, DetectError> {
        let dtype = match precision {
            Precision::F32 => DType::F32,
            Precision::F16 => DType::F16,
        };
        Ok(match self {
            Self::Darknet(DarknetModel { net, classes }) => Self::Darknet(DarknetModel {
                net: net.with_dtype(dtype)?,
                classes,
            }),
        })
    }

    /// The letterbox this family's input is made with, for a square input of `size_px`.
    pub fn letterbox(&self, size_px: u32) -> Letterbox {
        match self {
            Self::Darknet(_) => Letterbox::new(size_px),
        }
    }

    /// Runs the network on an `N x 3 x S x S` input (on [`Self::device`]).
    pub fn forward(&self, input: &Tensor) -> Result<Heads, DetectError> {
        match self {
            Self::Darknet(m) => Ok(Heads::Yolo(m.net.forward(input)?)),
        }
    }
}

impl Heads {
    /// The same outputs on the host (waits for the device to finish).
    pub fn to_host(&self) -> Result<Self, DetectError> {
        match self {
            Self::Yolo(heads) => Ok(Self::Yolo(heads_to_host(heads)?)),
        }
    }

    /// The candidates of batch item `batch_index` with a score above `confidence_min`, in
    /// model pixels, before NMS (the outputs must be on the host).
    pub fn decode(
        &self,
        batch_index: usize,
        confidence_min: f32,
        policy: ClassPolicy,
    ) -> Result<Vec<Candidate>, DetectError> {
        match self {
            Self::Yolo(heads) => decode_heads(heads, batch_index, confidence_min, policy),
        }
    }
}
