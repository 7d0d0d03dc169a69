//! Darknet networks in candle: `.cfg` parser, `.weights` loader, forward pass.
//! (Scaffold: filled in by the detector work.)

/// A model that cannot be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {message}")]
    Cfg {
        path: std::path::PathBuf,
        message: String,
    },
}
