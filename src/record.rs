//! `lookout record`: a ROS 2 MCAP recording from a video or a folder of images.
//! (Scaffold: filled in by the MCAP work.)

/// A recording that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {message}")]
    Input {
        path: std::path::PathBuf,
        message: String,
    },
}
