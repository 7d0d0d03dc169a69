//! The detector's error: everything that stops an image from becoming detections, from loading
//! the model (its family's own error, wrapped) and checking the configuration to letterboxing,
//! running and decoding the network, on the CPU or the GPU.

use std::path::PathBuf;

/// A detector that cannot be built or run, or a detector configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The darknet network (its files, layers or input); boxed, as its largest variants
    /// would double the size of every detector result.
    #[error(transparent)]
    Darknet(Box<crate::darknet::DarknetError>),
    /// The YOLOX network (its ONNX file, structure or input); boxed like `Darknet`.
    #[error(transparent)]
    Yolox(Box<crate::yolox::YoloxError>),
    /// An image the letterbox cannot take.
    #[error(transparent)]
    Preprocess(#[from] crate::preprocess::PreprocessError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A class-names file that cannot be used (`line` is 1-based, 0 for the whole file).
    #[error("{path}:{line}: {message}")]
    ClassNames {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// The model predicts a different number of classes than there are labels.
    #[error("the model predicts {model_classes} classes, but {labels} class labels were given")]
    ClassCount { model_classes: usize, labels: usize },
    /// Network outputs of an unexpected shape.
    #[error("model output of shape {shape:?}: {message}")]
    OutputShape { shape: Vec<usize>, message: String },
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

impl From<crate::darknet::DarknetError> for DetectError {
    fn from(e: crate::darknet::DarknetError) -> Self {
        Self::Darknet(Box::new(e))
    }
}

impl From<crate::yolox::YoloxError> for DetectError {
    fn from(e: crate::yolox::YoloxError) -> Self {
        Self::Yolox(Box::new(e))
    }
}
