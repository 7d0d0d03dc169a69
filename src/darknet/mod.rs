//! Darknet networks in candle: the `.cfg` parser ([`mod@cfg`]), the `.weights` loader ([`weights`])
//! and the network with its forward pass ([`model`]: the network definition, a candle-ops
//! backend for any device and a backend on lookout's CPU kernels, `cpu` and `winograd`).
//!
//! Input `N x 3 x S x S` f32 RGB in `[0, 1]` (S a multiple of 32, letterboxed by
//! [`crate::preprocess::Letterbox`]); output the raw YOLO heads ([`YoloHead`]), decoded by
//! [`crate::detect`]. Semantics follow AlexeyAB's darknet (YOLOv4 paper, Bochkovskiy et al.
//! 2020; YOLOv3, Redmon & Farhadi 2018).

pub mod cfg;
pub(crate) mod cpu;
pub mod model;
pub mod weights;
pub(crate) mod winograd;

use std::path::PathBuf;

pub use cfg::{Activation, Layer, NetConfig};
pub use model::{Darknet, YoloHead};

/// A darknet network that cannot be loaded or run: its files, its layers, its input. The
/// detector wraps it in [`crate::detect::DetectError`].
#[derive(Debug, thiserror::Error)]
pub enum DarknetError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `.cfg` file that cannot be parsed; `line` is 1-based, 0 for the file.
    #[error("{path}:{line}: {message}")]
    Cfg {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: bad darknet weights header: {message}")]
    WeightsHeader { path: PathBuf, message: String },
    #[error(
        "{weights} does not match {cfg}: layer {layer} needs {needed_floats} floats for its \
         {what} but only {left_floats} are left (wrong weights for this cfg, or a truncated file)"
    )]
    WeightsTooShort {
        cfg: PathBuf,
        weights: PathBuf,
        layer: usize,
        what: &'static str,
        needed_floats: usize,
        left_floats: usize,
    },
    #[error(
        "{weights} does not match {cfg}: {extra_bytes} bytes left over after the last layer \
         ({used_floats} floats used; wrong weights for this cfg)"
    )]
    WeightsTrailing {
        cfg: PathBuf,
        weights: PathBuf,
        extra_bytes: usize,
        used_floats: usize,
    },
    #[error("{path}: layer {layer}: {message}")]
    Architecture {
        path: PathBuf,
        layer: usize,
        message: String,
    },
    #[error("model input of shape {shape:?}: {message}")]
    InputShape { shape: Vec<usize>, message: String },
    /// A weight precision this network cannot run in on its device (the detector's
    /// `precision` setting).
    #[error("detector config `precision`: {message}")]
    Precision { message: String },
    #[error("{context}: {source}")]
    Candle {
        context: String,
        source: candle_core::Error,
    },
}
