//! The detector family seam: the network a [`super::Detector`] runs, with the three things that
//! differ between families: the letterbox variant that makes its input, the forward pass, and
//! how its raw outputs decode into [`Candidate`]s (model pixels, before NMS).
//!
//! * [`DetectorModel::Darknet`]: darknet YOLOv3/v4(-tiny). Centred letterbox on a 0.5 canvas,
//!   RGB in `[0, 1]` ([`Letterbox`]); anchor-based heads ([`YoloHead`]), sigmoid offsets and
//!   `exp` sizes times the anchors, one candidate per class above the threshold
//!   ([`super::decode_heads`]).
//!
//! * [`DetectorModel::Yolox`]: YOLOX from an ONNX export ([`crate::yolox`]). Top-left
//!   letterbox padded with 114, BGR in `0..255`, no normalisation ([`Letterbox::yolox`]);
//!   anchor-free heads ([`YoloxHead`]), grid/stride/`exp` decoding
//!   ([`super::decode::decode_yolox_head`]).
//!
//! The detector's threshold, class policy, class map, NMS and image mapping are shared.

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::{decode_heads, heads_to_host, Candidate, ClassPolicy, DetectError, Precision};
use crate::darknet::weights::NetWeights;
use crate::darknet::{Darknet, DarknetError, Layer, NetConfig, YoloHead};
use crate::preprocess::Letterbox;
use crate::yolox::{Yolox, YoloxHead};

/// The network of a detector, by family.
#[derive(Debug)]
// One value per detector, made once at start-up: the size difference between the variants
// (the darknet model's CUDA state with `--features cuda`) costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum DetectorModel {
    Darknet(DarknetModel),
    /// Boxed: the network holds every module inline.
    Yolox(Box<Yolox>),
}

/// The raw outputs of one forward pass, in the family's own form.
#[derive(Debug, Clone)]
pub enum Heads {
    /// One tensor per `[yolo]` layer of a darknet network, in cfg order.
    Yolo(Vec<YoloHead>),
    /// One tensor per YOLOX stride (8, 16, 32).
    Yolox(Vec<YoloxHead>),
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

impl From<Yolox> for DetectorModel {
    fn from(model: Yolox) -> Self {
        Self::Yolox(Box::new(model))
    }
}

impl DetectorModel {
    /// The device the weights live on (inputs go there).
    pub fn device(&self) -> &Device {
        match self {
            Self::Darknet(m) => m.net.device(),
            Self::Yolox(m) => m.device(),
        }
    }

    /// Number of classes the network predicts (the class labels must match it).
    pub fn class_count(&self) -> usize {
        match self {
            Self::Darknet(m) => m.classes,
            Self::Yolox(m) => m.classes(),
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
            Self::Yolox(m) => {
                // As darknet: f16 only where candle runs the network, on CUDA.
                if dtype != DType::F32 && !m.device().is_cuda() {
                    return Err(DetectError::InvalidConfig {
                        field: "precision",
                        message: format!(
                            "{dtype:?} needs a CUDA device (this yolox network is on {:?})",
                            m.device().location()
                        ),
                    });
                }
                Self::Yolox(Box::new(m.with_dtype(dtype)?))
            }
        })
    }

    /// The letterbox this family's input is made with, for a square input of `size_px`.
    pub fn letterbox(&self, size_px: u32) -> Letterbox {
        match self {
            Self::Darknet(_) => Letterbox::new(size_px),
            Self::Yolox(_) => Letterbox::yolox(size_px),
        }
    }

    /// Runs the network on an `N x 3 x S x S` input (on [`Self::device`]).
    pub fn forward(&self, input: &Tensor) -> Result<Heads, DetectError> {
        match self {
            Self::Darknet(m) => Ok(Heads::Yolo(m.net.forward(input)?)),
            Self::Yolox(m) => Ok(Heads::Yolox(m.forward(input)?)),
        }
    }
}

impl Heads {
    /// The same outputs on the host (waits for the device to finish).
    pub fn to_host(&self) -> Result<Self, DetectError> {
        match self {
            Self::Yolo(heads) => Ok(Self::Yolo(heads_to_host(heads)?)),
            Self::Yolox(heads) => Ok(Self::Yolox(
                heads
                    .iter()
                    .map(|h| {
                        Ok(YoloxHead {
                            output: h.output.to_device(&Device::Cpu).map_err(|source| {
                                DetectError::Candle {
                                    context: "copying a yolox head to the host".into(),
                                    source,
                                }
                            })?,
                            stride_px: h.stride_px,
                        })
                    })
                    .collect::<Result<_, DetectError>>()?,
            )),
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
            Self::Yolox(heads) => decode_yolox_heads(heads, batch_index, confidence_min, policy),
        }
    }
}

/// Decodes the candidates of batch item `batch_index` from YOLOX heads (model pixels).
pub fn decode_yolox_heads(
    heads: &[YoloxHead],
    batch_index: usize,
    confidence_min: f32,
    policy: ClassPolicy,
) -> Result<Vec<Candidate>, DetectError> {
    let mut out = Vec::new();
    for (h, head) in heads.iter().enumerate() {
        let ((_, channels, grid_h, grid_w), data) =
            super::head_batch_data(&head.output, batch_index, &format!("yolox head {h}"))?;
        let classes = channels.saturating_sub(5);
        super::decode::decode_yolox_head(
            &data,
            grid_w,
            grid_h,
            head.stride_px,
            classes,
            confidence_min,
            policy,
            &mut out,
        )
        .map_err(|expected| DetectError::OutputShape {
            shape: head.output.dims().to_vec(),
            message: format!(
                "yolox head {h} holds {} values, expected {expected}",
                data.len()
            ),
        })?;
    }
    Ok(out)
}
