//! Asset cache. (Scaffold.)

/// A missing or corrupt asset.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("{path}: missing")]
    Missing { path: std::path::PathBuf },
}
