//! ROS 2 MCAP files: camera topics in, results out.
//! (Scaffold: filled in by the MCAP work.)

/// An MCAP file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum McapError {
    #[error("{path}: {message}")]
    File {
        path: std::path::PathBuf,
        message: String,
    },
}
