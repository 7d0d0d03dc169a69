//! Darknet networks in candle: the `.cfg` parser ([`mod@cfg`]), the `.weights` loader ([`weights`])
//! and the network with its forward pass ([`model`]: the network definition, a candle-ops
//! backend for any device and a backend on lookout's CPU kernels, `cpu` and `winograd`).
//!
//! Input `N x 3 x S x S` f32 RGB in `[0, 1]` (S a multiple of 32, letterboxed by
//! [`crate::preprocess::Letterbox`]); output the raw YOLO heads ([`YoloHead`]), decoded by
//! [`crate::detect`]. Semantics follow AlexeyAB's darknet (YOLOv4 paper, Bochkovskiy et al.
//! 2020; YOLOv3, Redmon & Farhadi 2018).

pub mod cfg;
mod cpu;
pub mod model;
pub mod weights;
mod winograd;

use std::path::PathBuf;

pub use cfg::{Activation, Layer, NetConfig};
pub use model::{Darknet, YoloHead};

/// A model that cannot be loaded or run, or a detector configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `.cfg` (or class-names) file that cannot be parsed; `line` is 1-based, 0 for the file.
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
    #[error("image {width}x{height} with {data_len} bytes: {message}")]
    Image {
        width: u32,
        height: u32,
        data_len: usize,
        message: String,
    },
    #[error("{context}: {source}")]
    Candle {
        context: String,
        source: candle_core::Error,
    },
    #[error(transparent)]
    Asset(#[from] crate::assets::AssetError),
    /// A camera image of a batch that cannot be used (`camera` is its index in the batch).
    #[error("camera image {camera} of the batch: {source}")]
    RawImage {
        camera: usize,
        source: crate::image_codec::ImageError,
    },
    /// A CUDA call that failed, named by the stage of the frame it served (`upload`,
    /// `preprocess`, `forward`, `decode+nms`, `download`, or `load` at start).
    #[error("GPU stage `{stage}`: {message}")]
    Gpu {
        stage: &'static str,
        message: String,
    },
    #[error("detector config `{field}`: {message}")]
    InvalidConfig {
        field: &'static str,
        message: String,
    },
}
